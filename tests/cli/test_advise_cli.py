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
    assert "fitted to published measurements" in model["calibration"]
    assert "none calibrated on this host" in model["calibration"]
    devices = model["devices"]
    assert len(devices) >= 14
    meets = [d["meets_all"] for d in devices]
    assert meets == sorted(meets, reverse=True)  # every device meeting all constraints first
    assert devices[0]["kind"] == "edge" and devices[0]["estimate"]["ms"] > 0
    # The CLI words the skipped probe after its own flag; the engine only carries the words.
    assert "the probe was skipped (--no-probe)" in model["notes"]


def test_the_engine_says_why_the_probe_was_skipped_in_the_callers_words(repo: Path) -> None:
    from deploygate.engine import AdviseOptions, CheckOptions, run_advise, run_check

    manifest = repo / "deploy-constraints.yaml"
    advice = run_advise(AdviseOptions(manifest, skip_probe="measured on the device instead"))
    (model,) = advice.models
    assert "measured on the device instead" in model.notes
    assert not any("--no-probe" in note for note in model.notes)
    report = run_check(CheckOptions(manifest, skip_probe="measured on the device instead"))
    (judged,) = report.models
    messages = [f.message for f in judged.findings]
    assert any("measured on the device instead" in m for m in messages), messages
    assert not any("--no-probe" in m for m in messages), messages


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


def test_advise_text_columns_fit_the_longest_device_id(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["advise", "--no-probe"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "jetson-orin-nano-super" in line]
    assert rows and all("jetson-orin-nano-super  edge" in row for row in rows)


def test_the_engine_names_options_as_its_caller_does(repo: Path) -> None:
    from deploygate.engine import AdviseOptions, CheckOptions, run_advise, run_check

    manifest = repo / "deploy-constraints.yaml"
    report = run_check(CheckOptions(manifest, models=("nope",), on_device="nowhere",
                                    skip_probe="not measured"))
    messages = [f.message for f in report.all_findings]
    assert any(m.startswith("models nope: no such model") for m in messages), messages
    assert not any("--" in m for m in messages), messages
    advice = run_advise(AdviseOptions(manifest, models=("nope",), skip_probe="not measured"))
    assert [f.message.split(":")[0] for f in advice.findings] == ["models nope"]
    # The CLI passes its flags.
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--model", "nope",
                                      "--on-device", "nowhere"])
    assert "--model nope: no such model" in result.output, result.output
    assert "--on-device nowhere: not a catalog device" in result.output, result.output
    result = CliRunner().invoke(cli, ["advise", "--no-probe", "--model", "nope"])
    assert "--model nope: no such model" in result.output, result.output
