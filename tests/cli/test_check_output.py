"""`deploygate check` output plumbing on a manifest that fails the schema: every format, the
GitHub job summary, and --write for extra reports from the same run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from deploygate.cli import FORMATS, cli

INVALID = "version: 1\nmodels:\n  - name: det\n    path: m.onnx\n    target: {kind: edgy}\n"
SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy-constraints.yaml").write_text(INVALID, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def check(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["check", *args], env=env)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reports_the_schema_error(repo: Path, fmt: str) -> None:
    result = check("--format", fmt)
    assert result.exit_code == 2, result.output
    assert "DG102" in result.output


def test_machine_formats_parse(repo: Path) -> None:
    assert json.loads(check("--format", "json").output)["exit_code"] == 2
    log = json.loads(check("--format", "sarif").output)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))).validate(log)
    region = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 5, "startColumn": 20, "endLine": 5, "endColumn": 21}
    root = ET.fromstring(check("--format", "junit").output.encode("utf-8"))
    assert root.get("errors") == "1"


def test_github_format_is_the_default_under_actions_and_writes_the_summary(repo: Path) -> None:
    summary = repo / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = check(env=env)
    assert result.exit_code == 2
    assert result.output.startswith("::error file=deploy-constraints.yaml,line=5,col=20,"
                                    "title=DG102 manifest-schema::")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n<!-- deploygate -->\n## ❌ deploygate failed (exit 2)")
    assert "`deploy-constraints.yaml:5:20`" in text


def test_summary_is_only_written_for_the_github_format(repo: Path) -> None:
    summary = repo / "summary.md"
    check("--format", "json", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert not summary.exists()


def test_write_saves_more_formats_from_the_same_run(repo: Path) -> None:
    result = check("--format", "text", "--write", "json=report.json",
                   "--write", "sarif=deploygate.sarif")
    assert result.exit_code == 2
    assert json.loads((repo / "report.json").read_text())["findings"][0]["rule"] == "DG102"
    assert json.loads((repo / "deploygate.sarif").read_text())["version"] == "2.1.0"


@pytest.mark.parametrize("value", ["json", "pdf=x.pdf", "json="])
def test_bad_write_is_a_usage_error(repo: Path, value: str) -> None:
    result = check("--write", value)
    assert result.exit_code == 2
    assert "FORMAT=FILE" in result.output
