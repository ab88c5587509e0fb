"""Team policy in the manifest: waivers that expire, and coverage of every model file, judged by
the real command on real repositories (git, real model files)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from deploygate.cli import cli
from tests.fixtures.git_repos import commit_all, git, init_repo, matmul_chain

ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text("utf-8"))
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
LATER = (date.today() + timedelta(days=30)).isoformat()
EARLIER = (date.today() - timedelta(days=2)).isoformat()


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def report_of(result: Result) -> dict:
    report = json.loads(result.output)
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert report["exit_code"] == result.exit_code
    return report


def rules(report: dict) -> list[str]:
    return sorted([f["rule"] for f in report["findings"]] +
                  [f["rule"] for m in report["models"] for f in m["findings"]])


@pytest.fixture
def too_big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The failing example (DG301 size, DG302 params, DG304 memory) in a repository of its own."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "classifier-too-big", repo)
    init_repo(repo)
    commit_all(repo, "models")
    monkeypatch.chdir(repo)
    for name in ("GITHUB_ACTIONS", "GITHUB_BASE_REF", "GITHUB_EVENT_PATH",
                 "CI_MERGE_REQUEST_DIFF_BASE_SHA", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
        monkeypatch.delenv(name, raising=False)
    return repo


def waive(repo: Path, *waivers: str) -> None:
    manifest = repo / "deploy-constraints.yaml"
    text = manifest.read_text()
    block = "waivers:\n" + "".join(f"  - {w}\n" for w in waivers)
    manifest.write_text(text.replace("models:\n", block + "models:\n", 1))


def test_waived_findings_are_reported_as_waived_and_do_not_fail(too_big: Path) -> None:
    waive(too_big, f"{{rule: DG301, model: classifier, reason: shrinking in PR 42, until: {LATER}}}",
          f"{{rule: DG302, model: classifier, reason: shrinking in PR 42, until: {LATER}}}",
          f"{{rule: DG304, model: classifier, reason: 'new board, Q1', until: {LATER}}}")
    result = invoke("check", "--no-probe", "--format", "json", "--write", "sarif=dg.sarif",
                    "--write", "junit=dg.xml")
    report = report_of(result)
    assert result.exit_code == 0 and report["passed"] and report["models"][0]["passed"]
    findings = report["models"][0]["findings"]
    assert sorted(f["rule"] for f in findings) == ["DG301", "DG302", "DG304"]
    assert all(f["waived"] == {"reason": f["waived"]["reason"], "until": LATER} for f in findings)
    # SARIF: suppressed results, so code scanning shows them dismissed with the reason.
    log = json.loads((too_big / "dg.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    suppressions = [r["suppressions"][0] for r in log["runs"][0]["results"]]
    assert {s["justification"] for s in suppressions} == {
        f"waived until {LATER}: shrinking in PR 42", f"waived until {LATER}: new board, Q1"}
    assert "<failure" not in (too_big / "dg.xml").read_text()
    text = invoke("check", "--no-probe").output
    assert f"(waived until {LATER}: shrinking in PR 42)" in text and "PASS  classifier" in text


def test_a_waiver_covers_only_its_rule(too_big: Path) -> None:
    waive(too_big, f"{{rule: DG301, model: classifier, reason: x, until: {LATER}}}")
    result = invoke("check", "--no-probe", "--format", "json")
    assert result.exit_code == 1
    waived = {f["rule"]: "waived" in f for f in report_of(result)["models"][0]["findings"]}
    assert waived == {"DG301": True, "DG302": False, "DG304": False}


def test_an_expired_waiver_is_an_error_and_waives_nothing(too_big: Path) -> None:
    waive(too_big, f"{{rule: DG301, model: classifier, reason: shrinking in PR 42, until: {EARLIER}}}")
    result = invoke("check", "--no-probe", "--format", "json")
    report = report_of(result)
    assert result.exit_code == 1
    (expired,) = [f for f in report["findings"] if f["rule"] == "DG109"]
    assert expired["severity"] == "error" and f"ended on {EARLIER}" in expired["message"]
    assert expired["location"]["path"] == "waivers[0].until" and expired["location"]["line"] == 12
    assert not any("waived" in f for f in report["models"][0]["findings"])


def test_a_waiver_that_waives_nothing_is_a_note(too_big: Path) -> None:
    waive(too_big, f"{{rule: DG401, model: classifier, reason: old, until: {LATER}}}")
    report = report_of(invoke("check", "--no-probe", "--format", "json"))
    (unused,) = [f for f in report["findings"] if f["rule"] == "DG110"]
    assert unused["severity"] == "note" and "matches no finding" in unused["message"]


@pytest.mark.parametrize(("waiver", "complaint"), [
    ("{rule: DG301, model: nobody, reason: x, until: 2030-01-01}", "no model named 'nobody'"),
    ("{rule: DG199, model: classifier, reason: x, until: 2030-01-01}", "DG199 is not a deploygate rule"),
    ("{rule: DG9, model: classifier, reason: x, until: 2030-01-01}", "waivers[0].rule"),
    ("{rule: DG301, model: classifier, reason: x, until: 2030-02-30}", "2030-02-30 is not a date"),
    ("{rule: DG301, model: classifier, reason: x, until: soon}", "waivers[0].until"),
    ("{rule: DG301, model: classifier, until: 2030-01-01}", "reason"),
])
def test_bad_waivers_are_schema_errors(too_big: Path, waiver: str, complaint: str) -> None:
    waive(too_big, waiver)
    result = invoke("validate")
    assert result.exit_code == 2 and complaint in result.output, result.output


def _uncovered(repo: Path) -> Path:
    """A second ONNX model nobody declared, and a file that only looks like a model."""
    (repo / "extra").mkdir()
    matmul_chain(repo / "extra" / "new.onnx", width=8, depth=1)
    (repo / "extra" / "notes.bin").write_bytes(b"not a model at all")
    return repo / "extra" / "new.onnx"


def test_a_model_no_manifest_covers_is_a_warning(too_big: Path) -> None:
    waive(too_big, *[f"{{rule: {r}, model: classifier, reason: x, until: {LATER}}}"
                     for r in ("DG301", "DG302", "DG304")])
    _uncovered(too_big)
    result = invoke("check", "--no-probe", "--format", "json")
    report = report_of(result)
    assert result.exit_code == 0
    (finding,) = [f for f in report["findings"] if f["rule"] == "DG108"]
    assert finding["severity"] == "warning"
    assert "extra/new.onnx (onnx) is in no manifest" in finding["message"]
    assert finding["location"]["uri"] == "extra/new.onnx"
    assert invoke("check", "--no-probe", "--strict").exit_code == 1


def test_coverage_required_makes_it_an_error(too_big: Path) -> None:
    waive(too_big, *[f"{{rule: {r}, model: classifier, reason: x, until: {LATER}}}"
                     for r in ("DG301", "DG302", "DG304")])
    manifest = too_big / "deploy-constraints.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1\n", "version: 1\ncoverage: required\n"))
    assert invoke("check", "--no-probe").exit_code == 0
    _uncovered(too_big)
    result = invoke("check", "--no-probe", "--format", "json")
    assert result.exit_code == 1 and rules(report_of(result)).count("DG108") == 1
    # Declared, it is covered; ignored by git, it is not looked at.
    git(too_big, "add", "-A")
    (too_big / ".gitignore").write_text("extra/\n")
    git(too_big, "rm", "-r", "-q", "--cached", "extra")
    assert invoke("check", "--no-probe").exit_code == 0


def test_another_manifest_in_the_repository_covers_its_models(too_big: Path) -> None:
    _uncovered(too_big)
    (too_big / "extra" / "deploy-constraints.yml").write_text(
        "version: 1\nmodels:\n  - {name: new, path: new.onnx, target: {kind: edge}}\n")
    assert "DG108" not in rules(report_of(invoke("check", "--no-probe", "--format", "json")))


def test_with_a_base_only_added_or_modified_models_are_reported(too_big: Path) -> None:
    (too_big / "old").mkdir()
    matmul_chain(too_big / "old" / "legacy.onnx", width=8, depth=1)
    commit_all(too_big, "an ungated model from before")
    git(too_big, "branch", "-q", "base")
    _uncovered(too_big)
    commit_all(too_big, "a new ungated model")
    report = report_of(invoke("check", "--no-probe", "--format", "json", "--base", "base"))
    uncovered = [f["location"]["uri"] for f in report["findings"] if f["rule"] == "DG108"]
    assert uncovered == ["extra/new.onnx"]
    report = report_of(invoke("check", "--no-probe", "--format", "json"))
    uncovered = [f["location"]["uri"] for f in report["findings"] if f["rule"] == "DG108"]
    assert uncovered == ["extra/new.onnx", "old/legacy.onnx"]


def test_coverage_off(too_big: Path) -> None:
    _uncovered(too_big)
    manifest = too_big / "deploy-constraints.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1\n", "version: 1\ncoverage: off\n"))
    assert "DG108" not in rules(report_of(invoke("check", "--no-probe", "--format", "json")))


def test_a_manifest_in_a_subfolder_watches_that_folder_only(too_big: Path) -> None:
    """A service's manifest judges the service: test data and other folders stay out of it."""
    _uncovered(too_big)
    service = too_big / "services" / "chat"
    service.mkdir(parents=True)
    matmul_chain(service / "chat.onnx", width=8, depth=1)
    matmul_chain(service / "draft.onnx", width=8, depth=1)
    (service / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: chat, path: chat.onnx, target: {kind: cloud}}\n")
    report = report_of(invoke("check", "--no-probe", "--format", "json",
                              "-m", str(service / "deploy-constraints.yaml")))
    uncovered = [f["location"]["uri"] for f in report["findings"] if f["rule"] == "DG108"]
    assert uncovered == ["services/chat/draft.onnx"]
    # The root manifest watches the whole repository, the service's folder included.
    report = report_of(invoke("check", "--no-probe", "--format", "json"))
    uncovered = [f["location"]["uri"] for f in report["findings"] if f["rule"] == "DG108"]
    assert uncovered == ["extra/new.onnx", "services/chat/draft.onnx"]
