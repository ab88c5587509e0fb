"""`deploygate advise` end to end on a manifest (inspection stood in, --no-probe)."""

from __future__ import annotations

import json
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
    target: {kind: edge}
    latency: {budget_ms: 5, dims: {batch: 1}}
"""


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    onnx_models.save(onnx_models.conv(batch="batch", size=128), tmp_path / "net.onnx")
    (tmp_path / "deploy-constraints.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_advise_json_ranks_devices(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["advise", "--no-probe", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (model,) = data["models"]
    assert "uncalibrated" in model["calibration"]
    devices = model["devices"]
    assert len(devices) >= 14
    meets = [d["meets_all"] for d in devices]
    assert meets == sorted(meets, reverse=True)  # every device meeting all constraints first
    assert devices[0]["kind"] == "edge" and devices[0]["estimate"]["ms"] > 0


def test_advise_text_table(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["advise", "--no-probe"])
    assert result.exit_code == 0, result.output
    assert "net  (edge; budget 5 ms p95; no cost ceiling)" in result.output
    assert "raspberry-pi-5" in result.output and "meets all" in result.output


def test_advise_invalid_manifest_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deploy-constraints.yaml").write_text("version: 2\nmodels: []\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["advise", "--no-probe"])
    assert result.exit_code == 2
