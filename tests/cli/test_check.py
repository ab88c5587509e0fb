"""`deploygate check` end to end on the shipped examples and on generated repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from deploygate.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "examples" / "edge-detector" / "deploy-constraints.yaml"
TOO_BIG = ROOT / "examples" / "classifier-too-big" / "deploy-constraints.yaml"
REPORT_SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def check_json(*args: str) -> tuple[int, dict]:
    code, output = run("check", "--format", "json", *args)
    report = json.loads(output)
    Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert report["exit_code"] == code
    return code, report


def test_edge_example_passes_without_probe() -> None:
    code, report = check_json("--manifest", str(EDGE), "--no-probe")
    assert code == 0 and report["passed"]
    (model,) = report["models"]
    assert model["artifact"]["format"] == "onnx"
    assert model["artifact"]["params"] == 98_730
    assert model["latency"] is None
    # no measurement, but the device's roofline estimate (uncalibrated, wide band) judges the budget
    assert model["findings"] == []
    target = model["estimates"]["target_latency"]
    # No host run: the Pi's onnxruntime path as fitted to published Raspberry Pi measurements.
    assert (target["runtime"], target["precision"]) == ("onnxruntime", "fp32")
    assert target["calibration"].startswith("fitted to")


def test_too_big_example_fails_with_numbers() -> None:
    code, report = check_json("--manifest", str(TOO_BIG), "--no-probe")
    assert code == 1 and not report["passed"]
    (model,) = report["models"]
    assert model["artifact"]["format"] == "safetensors"
    assert model["artifact"]["params"] == 4 * (384 * 384 + 384) + 1000 * 384
    rules = {f["rule"]: f for f in model["findings"]}
    assert set(rules) == {"DG301", "DG302", "DG304"}
    assert rules["DG301"]["location"]["line"] == 18
    assert rules["DG304"]["location"]["path"] == "models[0].target.device"
    assert "device has 32 MiB" in rules["DG304"]["message"]


def test_text_output_has_one_line_per_finding() -> None:
    code, output = run("check", "--manifest", str(TOO_BIG), "--no-probe", "--format", "text")
    assert code == 1
    lines = [line for line in output.splitlines() if ": error: " in line]
    assert len(lines) == 3
    assert all(line.startswith("deploy") or "classifier-too-big" in line for line in lines)


def test_unknown_model_name_is_exit_2() -> None:
    code, report = check_json("--manifest", str(EDGE), "--no-probe", "--model", "nope")
    assert code == 2 and report["findings"][0]["rule"] == "DG107"


def test_missing_artifact_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: m, path: gone.onnx, target: {kind: edge}}\n")
    code, report = check_json("--manifest", str(tmp_path / "deploy-constraints.yaml"))
    assert code == 2
    (finding,) = report["models"][0]["findings"]
    assert finding["rule"] == "DG201" and "gone.onnx" in finding["message"]
    assert finding["location"]["line"] == 3


def test_invalid_manifest_is_exit_2_with_top_level_findings(tmp_path: Path) -> None:
    (tmp_path / "deploy-constraints.yaml").write_text("version: 1\nmodels: []\n")
    code, report = check_json("--manifest", str(tmp_path / "deploy-constraints.yaml"))
    assert code == 2 and report["models"] == [] and report["findings"][0]["rule"] == "DG102"


@pytest.mark.parametrize("args", [["--output"], []])
def test_output_file(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "report.json"
    extra = [str(out)] if args else []
    code, output = run("check", "--manifest", str(EDGE), "--no-probe", "--format", "json",
                       *args, *extra)
    assert code == 0
    if args:
        assert json.loads(out.read_text())["passed"] is True
        assert "deploygate passed" in output


def test_training_checkpoint_is_judged_on_its_weights(tmp_path: Path) -> None:
    # 50 weights beside Adam's state and an EMA copy: max_params judges the 50, and a note
    # says what shipping the weights alone saves
    import shutil

    shutil.copy(ROOT / "tests" / "data" / "pytorch" / "train_ema.pt", tmp_path / "ckpt.pt")
    (tmp_path / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: m\n    path: ckpt.pt\n    target: {kind: edge}\n"
        "    limits: {max_params: 60}\n")
    code, report = check_json("--manifest", str(tmp_path / "deploy-constraints.yaml"))
    assert code == 0
    (model,) = report["models"]
    assert model["artifact"]["params"] == 50
    assert model["artifact"]["training_state"]["bytes"] == 616
    (note,) = model["findings"]
    assert (note["rule"], note["severity"]) == ("DG212", "note")
    assert "ship the weights alone" in note["message"].lower()
    assert "616 bytes" in note["message"] and note["location"]["line"] == 4


def test_keras_lambda_layer_is_flagged_as_code(tmp_path: Path) -> None:
    import shutil

    pytest.importorskip("h5py")
    shutil.copy(ROOT / "tests" / "data" / "keras" / "lambda.keras", tmp_path / "m.keras")
    (tmp_path / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - {name: m, path: m.keras, format: keras, target: {kind: edge}}\n")
    code, report = check_json("--manifest", str(tmp_path / "deploy-constraints.yaml"))
    assert code == 0
    (model,) = report["models"]
    assert model["artifact"]["format"] == "keras" and model["artifact"]["contains_code"]
    (finding,) = model["findings"]
    assert finding["rule"] == "DG207" and "Lambda layers (double)" in finding["message"]
