"""How `deploygate check` delivers its verdict in CI: output folders, failed writes, the .yml
spelling of the manifest, --quiet, colour only on a terminal, and SARIF that points from the
repository root whatever folder the gate ran in."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from deploygate.cli import cli
from tests.fixtures.git_repos import init_repo

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "examples" / "edge-detector"
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
# A valid manifest whose one model is missing: the gate judges fast, with a located finding.
MISSING = ("version: 1\nmodels:\n  - name: det\n    path: models/det.onnx\n"
           "    target: {kind: edge}\n    limits:\n      max_size: 1MB\n")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(EDGE, repo)
    init_repo(repo)
    monkeypatch.chdir(repo)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return repo


def test_outputs_go_into_folders_that_do_not_exist_yet(edge: Path) -> None:
    result = invoke("check", "--no-probe", "--format", "json", "-o", "reports/json/dg.json",
                    "--write", "sarif=reports/sarif/dg.sarif", "--write", "junit=out/x/y.xml")
    assert result.exit_code == 0, result.output
    assert json.loads((edge / "reports/json/dg.json").read_text())["passed"] is True
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(
        json.loads((edge / "reports/sarif/dg.sarif").read_text()))
    assert (edge / "out/x/y.xml").read_text().startswith("<?xml")


def test_a_write_that_fails_is_exit_2_after_every_other_output(edge: Path) -> None:
    (edge / "blocker").write_text("a file where a folder should be\n")
    summary = edge / "summary.md"
    result = CliRunner().invoke(
        cli, ["check", "--no-probe", "--format", "github", "--write", "sarif=blocker/dg.sarif",
              "--write", "json=reports/dg.json"],
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("deploygate: error: cannot write blocker/dg.sarif")
    # Everything else was delivered: the other file, the log, the job summary.
    assert json.loads((edge / "reports/dg.json").read_text())["exit_code"] == 0
    assert "deploygate passed" in result.stdout
    assert "deploygate passed" in summary.read_text()


def test_only_a_yml_manifest_is_found_by_every_command(edge: Path) -> None:
    (edge / "deploy-constraints.yaml").rename(edge / "deploy-constraints.yml")
    assert invoke("check", "--no-probe").exit_code == 0
    result = invoke("validate")
    assert result.exit_code == 0 and "valid" in result.output
    result = invoke("matrix")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["include"][0]["manifest"] == "deploy-constraints.yml"
    assert invoke("advise", "--no-probe").exit_code == 0


def test_quiet_prints_nothing_but_still_writes_and_fails(edge: Path) -> None:
    result = invoke("check", "--no-probe", "--quiet", "--write", "json=r.json")
    assert result.exit_code == 0 and result.output == ""
    assert (edge / "r.json").exists()
    (edge / "deploy-constraints.yaml").write_text(MISSING)
    result = invoke("check", "-q")
    assert result.exit_code == 2 and result.output == ""
    assert invoke("validate", "-q").output == ""


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run the real command with stdout on a pseudo-terminal; what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "deploygate", *args], cwd=cwd, env=env,
                            stdout=follower, stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_colour_on_a_terminal_only_and_never_with_no_color(edge: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "NO_COLOR"))}
    coloured = _on_a_terminal(["check", "--no-probe"], env, edge)
    assert "\x1b[" in coloured and "PASS" in coloured
    plain = _on_a_terminal(["check", "--no-probe"], {**env, "NO_COLOR": "1"}, edge)
    assert "\x1b[" not in plain and "PASS" in plain
    piped = subprocess.run([sys.executable, "-m", "deploygate", "check", "--no-probe"], cwd=edge,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "\x1b[" not in piped.stdout and "PASS" in piped.stdout


def test_sarif_points_from_the_repository_root_with_end_positions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init_repo(tmp_path / "repo")
    service = repo / "services" / "chat"
    service.mkdir(parents=True)
    (service / "deploy-constraints.yaml").write_text(MISSING)
    monkeypatch.chdir(service)
    result = invoke("check", "--format", "sarif")
    assert result.exit_code == 2, result.output
    log = json.loads(result.output)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    (finding,) = log["runs"][0]["results"]
    physical = finding["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "services/chat/deploy-constraints.yaml",
                                            "uriBaseId": "%SRCROOT%"}
    # models[0].path: the key `path` on line 4, columns 5 to 9 (end exclusive).
    assert physical["region"] == {"startLine": 4, "startColumn": 5, "endLine": 4, "endColumn": 9}
    # The same report from the root names the same file: one alert, not two.
    monkeypatch.chdir(repo)
    again = json.loads(invoke("check", "--format", "sarif", "-m",
                              "services/chat/deploy-constraints.yaml").output)
    assert again["runs"][0]["results"][0]["partialFingerprints"] == finding["partialFingerprints"]
