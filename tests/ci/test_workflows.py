"""action.yml and the workflows: valid against GitHub's schemas (check-jsonschema's vendored
copies, offline), clean under zizmor's offline audits, actions pinned, credentials dropped."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "examples").glob("github-*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# The examples refer to deploygate's own release by tag, which users replace with its SHA.
PLACEHOLDER = "deploygate/deploygate@v0.1.0"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def steps(document: dict) -> list[dict]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "github-workflow.yml", "github-matrix-workflow.yml"} <= names


@pytest.mark.skipif(importlib.util.find_spec("check_jsonschema") is None,
                    reason="check-jsonschema is not installed (pip install -e '.[test]')")
def test_valid_against_githubs_schemas() -> None:
    result = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                 "vendor.github-actions", str(ACTION))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                 "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


# zizmor ships a binary, not a module: take the one installed beside this interpreter, not PATH's.
ZIZMOR = shutil.which("zizmor", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(ZIZMOR is None, reason="zizmor is not installed (pip install -e '.[test]')")
def test_zizmor_finds_nothing_of_medium_severity_or_worse() -> None:
    assert ZIZMOR is not None
    result = run(ZIZMOR, "--offline", "--min-severity", "medium", str(ACTION),
                 *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_actions_are_pinned_and_checkouts_keep_no_credentials(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for step in steps(document):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert PINNED.match(uses) or uses == PLACEHOLDER, f"{path.name}: {uses} is not pinned"
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, path.name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_least_privilege(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    triggers = document[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request_target" not in triggers and "workflow_run" not in triggers
    assert document["permissions"] in ({}, {"contents": "read"})
    for name, job in document["jobs"].items():
        granted = job.get("permissions", document["permissions"])
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= {"security-events", "pull-requests"}, (path.name, name)
        if writes:  # a job that may write runs no code from the pull request: it checks
            # out nothing it runs, and never runs the gate on the pull request's files
            uses = [s.get("uses", "") for s in job["steps"]]
            assert not any(u.startswith("deploygate/") for u in uses), (path.name, name)
            if any(u.startswith("actions/checkout") for u in uses):
                assert not any("run" in s for s in job["steps"]), (path.name, name)


def test_the_sarif_upload_job_checks_out_the_analysed_commit() -> None:
    # upload-sarif hashes the lines results point at from the checked-out files.
    document = yaml.safe_load((ROOT / "examples" / "github-workflow.yml").read_text("utf-8"))
    uses = [s.get("uses", "") for s in document["jobs"]["upload"]["steps"]]
    assert uses[0].startswith("actions/checkout@")
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses[1:])


def test_fan_out_fan_in_example_uses_what_matrix_and_merge_provide(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from deploygate.cli import cli

    text = (ROOT / "examples" / "github-matrix-workflow.yml").read_text("utf-8")
    document = yaml.safe_load(text)
    jobs = document["jobs"]
    assert jobs["gate"]["needs"] == "plan" and set(jobs["merge"]["needs"]) == {"plan", "gate"}
    merge_script = "\n".join(s.get("run", "") for s in jobs["merge"]["steps"])
    assert "deploygate merge" in merge_script and '--expect "$JOBS"' in merge_script
    # Every matrix key the workflow reads is one `deploygate matrix` writes, sharded or not.
    used = set(re.findall(r"(?<![\w.])matrix\.([\w-]+)", text))
    service = tmp_path / "services" / "a"
    service.mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    models = "".join(f"  - {{name: m{i}, path: m{i}.onnx, target: {{kind: edge}}}}\n" for i in range(3))
    (service / "deploy-constraints.yaml").write_text(f"version: 1\nmodels:\n{models}", "utf-8")
    for max_jobs in ("256", "2"):
        result = CliRunner().invoke(cli, ["matrix", "-m", str(service / "deploy-constraints.yaml"),
                                          "--max-jobs", max_jobs])
        assert result.exit_code == 0, result.output
        for entry in json.loads(result.output)["include"]:
            assert used <= set(entry), (used - set(entry), max_jobs)
