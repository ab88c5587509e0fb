"""Monorepos on the CI's own engine: `check -m A -m B` (and globs) in one report, and
`deploygate merge` fanning matrix shards back into one report and one exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from deploygate.cli import cli
from deploygate.merge import report_from_json
from tests.fixtures.git_repos import init_repo
from tests.unit.reporters.sample import sample_report
from tests.unit.reporters.test_junit import valid_for_jenkins

ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text("utf-8"))
SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
VISION = "services/vision/deploy-constraints.yaml"
TOO_BIG = "services/tiny/deploy-constraints.yaml"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def monorepo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = init_repo(tmp_path / "repo")
    shutil.copytree(ROOT / "examples" / "edge-detector", repo / "services" / "vision")
    shutil.copytree(ROOT / "examples" / "classifier-too-big", repo / "services" / "tiny")
    monkeypatch.chdir(repo)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return repo


def json_report(result: Result) -> dict:
    report = json.loads(result.output)
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert report["exit_code"] == result.exit_code
    return report


def test_several_manifests_are_judged_in_one_report(monorepo: Path) -> None:
    result = invoke("check", "--no-probe", "--format", "json", "-m", VISION, "-m", TOO_BIG)
    report = json_report(result)
    assert result.exit_code == 1
    assert report["manifests"] == [VISION, TOO_BIG]
    assert [(m["name"], m["manifest"], m["passed"]) for m in report["models"]] == [
        ("detector", VISION, True), ("classifier", TOO_BIG, False)]


def test_a_glob_and_a_repeated_manifest_judge_each_model_once(monorepo: Path) -> None:
    result = invoke("check", "--no-probe", "--format", "json", "-m", "services/*/deploy-constraints.yaml",
                    "-m", VISION)
    report = json_report(result)
    assert sorted(m["name"] for m in report["models"]) == ["classifier", "detector"]


def test_model_names_are_looked_up_across_manifests(monorepo: Path) -> None:
    result = invoke("check", "--no-probe", "--format", "json", "-m", VISION, "-m", TOO_BIG,
                    "--model", "detector")
    assert result.exit_code == 0 and [m["name"] for m in json_report(result)["models"]] == ["detector"]
    result = invoke("check", "--no-probe", "--format", "json", "-m", VISION, "-m", TOO_BIG,
                    "--model", "nope")
    report = json_report(result)
    assert result.exit_code == 2 and report["findings"][0]["rule"] == "DG107"
    assert "classifier, detector" in report["findings"][0]["message"]


def _shards(monorepo: Path) -> list[str]:
    """Two matrix shards, each written as `check --write json=` writes it in a job."""
    files = []
    for i, manifest in enumerate((VISION, TOO_BIG)):
        file = f"shards/{i}/report.json"
        result = invoke("check", "--no-probe", "-q", "-m", manifest, "--write", f"json={file}")
        assert result.exit_code == (0, 1)[i], result.output
        files.append(file)
    return files


def test_merge_fans_shards_in_to_one_report_and_one_exit_code(monorepo: Path) -> None:
    files = _shards(monorepo)
    whole = invoke("check", "--no-probe", "--format", "json", "-m", VISION, "-m", TOO_BIG)
    merged = invoke("merge", *files, "--format", "json", "--expect", "2",
                    "--write", "sarif=out/dg.sarif", "--write", "junit=out/dg.xml",
                    "--write", "markdown=out/comment.md")
    assert merged.exit_code == whole.exit_code == 1
    one, other = json_report(merged), json_report(whole)
    # The same report as one job judging every manifest (the host aside: shards ran apart).
    assert {**one, "host": None} == {**other, "host": None}
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(json.loads((monorepo / "out/dg.sarif").read_text()))
    valid_for_jenkins((monorepo / "out/dg.xml").read_text())
    assert "❌ deploygate failed" in (monorepo / "out/comment.md").read_text()


def test_merge_in_github_format_writes_one_job_summary(monorepo: Path) -> None:
    files = _shards(monorepo)
    summary = monorepo / "summary.md"
    result = CliRunner().invoke(cli, ["merge", *files],
                                env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 1
    assert result.output.count("::group::") == 2
    assert summary.read_text().count("## ❌ deploygate failed") == 1


def test_merge_refuses_missing_or_broken_shards(monorepo: Path) -> None:
    files = _shards(monorepo)
    result = invoke("merge", files[0], "--expect", "2")
    assert result.exit_code == 2 and "1 report given" in result.output
    (monorepo / "broken.json").write_text('{"tool": ')
    result = invoke("merge", files[0], "broken.json")
    assert result.exit_code == 2
    assert result.output.startswith("deploygate: error: DG100 usage-error: broken.json: not JSON")
    (monorepo / "other.json").write_text('{"passed": true}')
    result = invoke("merge", "other.json")
    assert result.exit_code == 2 and "not a deploygate JSON report" in result.output
    # A failing shard edited to say it passed is refused, not believed.
    data = json.loads((monorepo / files[1]).read_text())
    data.update(exit_code=0, passed=True)
    (monorepo / "edited.json").write_text(json.dumps(data))
    result = invoke("merge", files[0], "edited.json")
    assert result.exit_code == 2 and "its findings make exit 1, but it says 0" in result.output
    result = invoke("merge", "missing.json")
    assert result.exit_code == 2 and "cannot read the report" in result.output


def test_a_report_survives_the_round_trip_through_json() -> None:
    data = json.loads(json.dumps(sample_report().to_json()))
    assert report_from_json(data).to_json() == data


def test_baselines_and_waivers_survive_the_round_trip() -> None:
    from dataclasses import replace

    from deploygate.baseline import BaselineComparison, Change
    from deploygate.findings import Waived
    from deploygate.probe.ab import ABLatency

    base = sample_report()
    compared = BaselineComparison("origin/main", "GITHUB_BASE_REF", "compared", commit="a" * 40,
                                  base_path="models/classifier.onnx", size=Change(1e9, 1.6e9),
                                  params=Change(4e8, 4.005e8),
                                  latency=ABLatency(5, 4, (200.0, 201.0, 199.0, 200.5, 200.2),
                                                    (280.0, 281.0, 279.5, 280.4, 280.9)),
                                  skipped={"latency": "not asked"}, notes=("a note",))
    failing = base.models[1]
    waived = tuple(replace(f, waived=Waived("new board in Q1", "2030-01-31")) for f in failing.findings)
    report = replace(base, models=(base.models[0], replace(failing, baseline=compared, findings=waived)))
    data = json.loads(json.dumps(report.to_json()))
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(data)
    again = report_from_json(data)
    assert again.to_json() == data
    assert again.models[1].findings[0].waived == Waived("new board in Q1", "2030-01-31")


def test_every_latency_fact_survives_the_round_trip() -> None:
    """What measured (runtime, version, providers, defaulted dims) and an LLM's time to first
    token and decode rates come back from a shard's JSON as they went, not as defaults."""
    from dataclasses import replace

    from tests.unit.reporters.sample import latency

    base = sample_report()
    ttft = replace(latency(40.0, 45.0, 47.0, 52.0), runs=6, runtime="llama.cpp",
                   runtime_version="0.3.36", interval_ms={"p95": (44.0, 52.0)})
    llm = replace(latency(2.0, 2.2, 2.4, 2.9), runtime="llama.cpp", runtime_version="0.3.36",
                  ttft=ttft, tokens_per_s_runs=(410.0, 433.5, 398.2), prompt_tokens=128,
                  new_tokens=64, interval_ms={"p95": (2.3, 2.5)})
    assert base.models[0].latency is not None
    tflite = replace(base.models[0].latency, runtime="litert", runtime_version="2.3.0",
                     providers=("XNNPACK",),
                     defaulted_dims=({"input": "x", "axis": 0, "dim": "batch", "size": 1},))
    report = replace(base, models=(replace(base.models[0], latency=tflite),
                                   replace(base.models[1], latency=llm)))
    data = json.loads(json.dumps(report.to_json()))
    again = report_from_json(data)
    assert again.to_json() == data
    assert again.models[0].latency == tflite
    assert again.models[1].latency is not None and again.models[1].latency.ttft is not None
    assert again.models[1].latency.tokens_per_s_runs == (410.0, 433.5, 398.2)
    assert again.models[1].latency.ttft.p95_ms == 47.0
