"""Latency edge cases from the command line: a budget of 0, bad on_inconclusive values, a
measurement cut off by its timeout. Each is a clear DG line or usage error, never a pass."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate.cli import cli
from deploygate.manifest.model import LatencySpec
from deploygate.probe.process import run_child

from tests.fixtures import probe_models as models

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "edge-detector" / "models" / "detector.onnx"


def _manifest(tmp_path: Path, latency: str) -> Path:
    (tmp_path / ".git").mkdir()
    file = tmp_path / "deploy-constraints.yaml"
    file.write_text("version: 1\nmodels:\n  - name: m\n    path: m.onnx\n"
                    f"    target: {{kind: edge}}\n    latency: {{{latency}}}\n")
    return file


@pytest.mark.parametrize(("latency", "key"), [
    ("budget_ms: 0", "budget_ms"), ("budget_ms: -5", "budget_ms"),
    ("budget_ms: .nan", "budget_ms"), ("budget_ms: 10, on_inconclusive: maybe", "on_inconclusive"),
])
def test_impossible_latency_settings_are_schema_errors(tmp_path: Path, latency: str,
                                                       key: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(_manifest(tmp_path, latency))])
    assert result.exit_code == 2, result.output
    assert "DG102" in result.output and f"models[0].latency.{key}" in result.output


def test_probe_refuses_a_budget_of_zero() -> None:
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--dim", "batch=1", "--budget-ms", "0"])
    assert result.exit_code == 2 and "--budget-ms" in result.output


@pytest.mark.slow
def test_a_measurement_cut_off_halfway_is_a_timeout_in_the_measure_phase(tmp_path: Path) -> None:
    from deploygate.probe import _timeout_message
    from deploygate.probe.measure import spec_to_json

    model = models.image_model(tmp_path / "m.onnx")
    # Four 1024x1024 images a run: tens of milliseconds, so MAX_RUNS (100,000) runs outlast the
    # 25 s limit on any machine by far (at 128x128 a fast, idle machine finished them in 18 s).
    spec = LatencySpec(dims={"batch": 4, "h": 1024, "w": 1024}, max_time_s=600, timeout_s=25,
                       warmup=1)
    request = {"model": str(model), "threads": 1, "spec": spec_to_json(spec),
               "root": str(tmp_path), "base_dir": str(tmp_path), "memory_cap": None}
    outcome = run_child(request, timeout_s=spec.timeout_s)
    assert outcome.timed_out and outcome.phase == "measure" and outcome.result is None
    assert outcome.returncode == -signal.SIGKILL
    assert "did not finish measuring" in _timeout_message(outcome.phase, spec)


@pytest.mark.parametrize("strict", [False, True])
def test_a_warning_only_check_has_one_verdict_end_to_end(tmp_path: Path, strict: bool) -> None:
    import json
    import shutil

    manifest = _manifest(tmp_path, "budget_ms: 10")
    shutil.copy(MODEL, tmp_path / "m.onnx")
    args = ["check", "--manifest", str(manifest), "--no-probe", "--format", "json"]
    result = CliRunner().invoke(cli, args + (["--strict"] if strict else []))
    data = json.loads(result.output)
    (model,) = data["models"]
    assert [f["rule"] for f in model["findings"]] == ["DG404"]
    assert result.exit_code == data["exit_code"] == model["exit_code"] == (1 if strict else 0)
    assert data["passed"] is model["passed"] is (not strict)
