"""`deploygate check` with target estimates, cost and --on-device (inspection stood in)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate.cli import cli
from tests.fixtures import workload_models as onnx_models

MANIFEST = """\
version: 1
models:
  - name: net
    path: net.onnx
    target: {kind: cloud, device: aws-g4dn.xlarge}
    latency: {budget_ms: 1000, dims: {batch: 1}}
    cost: {max_usd_per_1k: 1.0}
"""


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    onnx_models.save(onnx_models.conv(batch="batch", size=64), tmp_path / "net.onnx")
    (tmp_path / "deploy-constraints.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_probe_still_estimates_target_latency_and_cost(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "json"])
    data = json.loads(result.output)
    (model,) = data["models"]
    estimates = model["estimates"]
    assert estimates["target_latency_ms"] > 0
    target = estimates["target_latency"]
    assert (target["runtime"], target["precision"]) == ("tensorrt", "fp16")
    assert "the device's usual runtime" in target["path_chosen"]
    assert target["calibration"].startswith("fitted to") and target["calibrated"] is True
    assert target["low_ms"] < target["ms"] < target["high_ms"]
    assert estimates["usd_per_1k"] > 0
    assert estimates["cost"]["formula"] == "price_per_hour / 3600 * latency_s * 1000 / batch"
    assert estimates["headroom_bytes"] > 0
    rules = [f["rule"] for f in model["findings"]]
    assert "DG404" not in rules and "DG501" not in rules  # the device estimate judged the budget


def test_text_report_shows_estimate_and_cost(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "text"])
    assert "estimated on aws-g4dn.xlarge via tensorrt/fp16:" in result.output
    assert "path: tensorrt (the device's usual runtime)" in result.output
    assert "fitted to" in result.output and "band" in result.output
    assert "cost: $" in result.output and "headroom" in result.output


def test_unknown_on_device_is_a_usage_finding(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "json",
                                      "--on-device", "raspberry-pi5"])
    assert result.exit_code == 2
    assert "--on-device raspberry-pi5" in json.loads(result.output)["findings"][0]["message"]


def test_on_device_from_the_environment(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "json"],
                                env={"DEPLOYGATE_DEVICE": "aws-g4dn.xlarge"})
    (model,) = json.loads(result.output)["models"]
    assert "target_latency_ms" not in model["estimates"]  # measured there: nothing estimated


def test_validate_imports_no_heavy_modules(tmp_path: Path) -> None:
    (tmp_path / "deploy-constraints.yaml").write_text(MANIFEST)
    code = ("import sys; from deploygate.cli import main; sys.argv=['deploygate','validate'];\n"
            "try: main()\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('onnx', 'onnxruntime', 'numpy') if m in sys.modules]\n"
            "print(heavy)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(root), "PATH": ""}, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_manifest_runtime_path_is_reported(repo: Path) -> None:
    text = (repo / "deploy-constraints.yaml").read_text()
    (repo / "deploy-constraints.yaml").write_text(
        text.replace("device: aws-g4dn.xlarge}", "device: aws-g4dn.xlarge, precision: int8}"))
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "json"])
    target = json.loads(result.output)["models"][0]["estimates"]["target_latency"]
    assert (target["runtime"], target["precision"]) == ("tensorrt", "int8")
    assert "int8 (target.precision)" in target["path_chosen"]


def test_a_precision_the_device_lacks_is_refused_with_its_paths(repo: Path) -> None:
    text = (repo / "deploy-constraints.yaml").read_text()
    (repo / "deploy-constraints.yaml").write_text(
        text.replace("device: aws-g4dn.xlarge}", "device: aws-g4dn.xlarge, precision: int4}"))
    result = CliRunner().invoke(cli, ["check", "--no-probe"])
    assert result.exit_code == 2
    assert "no int4 path on tensorrt; tensorrt runs at fp16, int8" in result.output
