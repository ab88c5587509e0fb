"""`deploygate probe` and `check` with latency, on the shipped example model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate.cli import cli

from tests.fixtures import probe_models

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "edge-detector" / "models" / "detector.onnx"


def test_probe_json_with_pinned_dim() -> None:
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--dim", "batch=1", "--threads", "1",
                                      "--max-time-s", "0.3", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["input_shapes"] == {"image": [1, 3, 224, 224]}
    assert data["runs"] >= 10 and 0 < data["min_ms"] <= data["p50_ms"] <= data["p99_ms"]
    assert data["verdict"] is None and data["on_inconclusive"] == "warn"


def test_probe_defaults_the_batch_and_says_so() -> None:
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--threads", "1",
                                      "--max-time-s", "0.2"])
    assert result.exit_code == 0, result.output
    assert "inputs: image [1, 3, 224, 224]" in result.output
    assert "assumed: image axis 0 ('batch') = 1" in result.output


def test_probe_unpinned_dims_are_exit_2_naming_all_with_flags(tmp_path: Path) -> None:
    model = probe_models.image_model(tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["probe", str(model), "--max-time-s", "0.2"])
    assert result.exit_code == 2
    assert "DG403" in result.output and "'h'" in result.output and "'w'" in result.output
    assert "--dim h=SIZE --dim w=SIZE" in result.output  # the fix, as flags of this command
    assert "latency: {dims: {h: SIZE, w: SIZE}}" in result.output
    assert "(with `deploygate probe`" not in result.output  # named once, not twice


def test_probe_impossible_budget_is_exit_1() -> None:
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--dim", "batch=1", "--threads", "1",
                                      "--max-time-s", "0.3", "--budget-ms", "0.0001"])
    assert result.exit_code == 1, result.output
    assert "fail" in result.output


def test_check_over_budget_points_at_budget_line(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    shutil.copy(MODEL, tmp_path / "m.onnx")
    manifest = tmp_path / "deploy-constraints.yaml"
    manifest.write_text("version: 1\nmodels:\n  - name: m\n    path: m.onnx\n"
                        "    target: {kind: edge}\n    latency:\n      budget_ms: 0.0001\n"
                        "      threads: 1\n      dims: {batch: 1}\n      max_time_s: 0.3\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.output)["models"][0]["findings"]
    assert finding["rule"] == "DG401"
    assert (finding["location"]["line"], finding["location"]["column"]) == (7, 7)
    assert finding["location"]["path"] == "models[0].latency.budget_ms"


def test_check_with_a_provider_this_onnxruntime_lacks_is_exit_2(tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: nothing to refuse")
    (tmp_path / ".git").mkdir()
    shutil.copy(MODEL, tmp_path / "m.onnx")
    manifest = tmp_path / "deploy-constraints.yaml"
    manifest.write_text("version: 1\nmodels:\n  - name: m\n    path: m.onnx\n"
                        "    target: {kind: edge}\n    latency:\n      budget_ms: 100\n"
                        "      providers: [CUDAExecutionProvider]\n      dims: {batch: 1}\n")
    result = CliRunner().invoke(cli, ["check", "--manifest", str(manifest), "--format", "json"])
    assert result.exit_code == 2, result.output
    findings = json.loads(result.output)["models"][0]["findings"]
    (finding,) = [f for f in findings if f["rule"] == "DG403"]
    assert finding["location"]["path"] == "models[0].latency.providers"
    assert "CUDAExecutionProvider is not available" in finding["message"]
    assert "CPUExecutionProvider" in finding["message"]


def test_probe_backend_refusals_name_the_flag_that_fixes_them() -> None:
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--provider", "NoSuchExecutionProvider"])
    assert result.exit_code == 2
    assert "NoSuchExecutionProvider" in result.output
    assert "(with `deploygate probe`: --provider NAME)" in result.output
    result = CliRunner().invoke(cli, ["probe", str(MODEL), "--runtime", "litert"])
    assert result.exit_code == 2 and "(with `deploygate probe`: --runtime)" in result.output


def test_ttft_on_a_model_no_llm_runtime_measures_is_refused_before_measuring(
        tmp_path: Path) -> None:
    # An endless Loop: measuring it would run into the 60 s timeout, and name the timeout.
    model = probe_models.endless_loop_model(tmp_path / "loop.onnx")
    result = CliRunner().invoke(cli, ["probe", str(model), "--ttft-ms", "50", "--timeout-s", "60",
                                      "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "--ttft-ms and --tokens-per-s judge LLMs measured with llama.cpp; onnxruntime " \
        "measures" in result.output
    assert "timeout" not in result.output


def test_a_model_newer_than_this_onnxruntime_says_so(tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(MODEL))
    model.ir_version = 99  # what no onnxruntime reads yet: onnxruntime itself refuses it
    onnx.save(model, str(tmp_path / "future.onnx"))
    result = CliRunner().invoke(cli, ["probe", str(tmp_path / "future.onnx"), "--dim",
                                      "batch=1", "--max-time-s", "0.2"])
    assert result.exit_code == 2, result.output
    assert "the model is ONNX IR version 99, and this onnxruntime" in result.output
    assert "upgrade onnxruntime" in result.output and "onnxruntime::" not in result.output
