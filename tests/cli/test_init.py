"""`deploygate init`: finds models by content and writes a manifest `validate` accepts."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate.artifacts.base import ArtifactInfo
from deploygate.cli import cli
from deploygate.init import default_ceiling, find_models, model_name
from deploygate.manifest.load import load_manifest
from deploygate.targets.catalog import load_catalog
from deploygate.targets.memory import estimate_memory
from onnx import TensorProto

from tests.fixtures import probe_models
from tests.fixtures import workload_models as onnx_models


def _safetensors(path: Path, n: int = 16) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4 * n)


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "models").mkdir()
    onnx_models.save(onnx_models.conv(batch="batch"), tmp_path / "models" / "Det Net.onnx")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_yes_writes_a_manifest_validate_accepts(repo: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--yes"])
    assert result.exit_code == 0, result.output
    text = (repo / "deploy-constraints.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    result = runner.invoke(cli, ["validate", "deploy-constraints.yaml"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(repo / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.name == "det-net" and model.path == "models/Det Net.onnx"
    assert (model.target.kind, model.target.device) == ("edge", "raspberry-pi-5")
    assert model.latency is not None and model.latency.dims == {"batch": 1}
    assert model.cost is None  # edge: no cost question


def test_init_refuses_to_overwrite_without_force(repo: Path) -> None:
    (repo / "deploy-constraints.yaml").write_text("keep me\n")
    result = CliRunner().invoke(cli, ["init", "--yes"])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert (repo / "deploy-constraints.yaml").read_text() == "keep me\n"
    assert CliRunner().invoke(cli, ["init", "--yes", "--force"]).exit_code == 0


def test_init_flags_answer_the_questions(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "--yes", "--target", "cloud", "--device",
                                      "aws-g4dn.xlarge", "--budget-ms", "50",
                                      "--max-usd-per-1k", "0.02"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(repo / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.latency is not None and model.cost is not None
    assert (model.target.kind, model.target.device) == ("cloud", "aws-g4dn.xlarge")
    assert model.latency.budget_ms == 50 and model.cost.max_usd_per_1k == 0.02


def test_init_asks_three_questions(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["init"], input="cloud\naws-g5.xlarge\n200\n0.5\n")
    assert result.exit_code == 0, result.output
    for question in ("target (edge, cloud) [edge]", "device",
                     "latency budget in ms (p95) [1000.0]", "cost ceiling"):
        assert question in result.output
    manifest = load_manifest(repo / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.latency is not None and model.cost is not None
    assert (model.target.device, model.latency.budget_ms, model.cost.max_usd_per_1k) == \
        ("aws-g5.xlarge", 200, 0.5)


def test_init_unknown_device_and_empty_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "--yes"])
    assert result.exit_code == 2 and "no model files found" in result.output
    result = CliRunner().invoke(cli, ["init", "--yes", "--device", "raspberry-pi5"])
    assert result.exit_code == 2 and "(did you mean raspberry-pi-5" in result.output
    result = CliRunner().invoke(cli, ["init", "--yes", "--device", "zzzzzzzz"])
    assert result.exit_code == 2
    assert "not a catalog device (see `deploygate devices`)" in result.output


def test_find_models_by_content_skipping_envs_and_grouping_shards(tmp_path: Path) -> None:
    onnx_models.save(onnx_models.mlp(), tmp_path / "a.onnx")
    (tmp_path / "fake.onnx").write_text("not a model")  # extension alone is not enough
    for skipped in (".git", "node_modules", "env"):
        (tmp_path / skipped).mkdir()
        onnx_models.save(onnx_models.mlp(), tmp_path / skipped / "b.onnx")
    (tmp_path / "env" / "pyvenv.cfg").write_text("")
    (tmp_path / "ckpt").mkdir()
    _safetensors(tmp_path / "ckpt" / "model-00001-of-00002.safetensors")
    _safetensors(tmp_path / "ckpt" / "model-00002-of-00002.safetensors")
    _safetensors(tmp_path / "single.safetensors")
    found = {m.path: m for m in find_models(tmp_path)}
    assert set(found) == {"a.onnx", "ckpt", "single.safetensors"}
    assert found["ckpt"].size_bytes == 2 * (tmp_path / "single.safetensors").stat().st_size
    assert [t.name for t in found["a.onnx"].inputs] == ["x"]


def test_big_models_default_to_a_priced_cloud_device(tmp_path: Path) -> None:
    from deploygate.init import FoundModel, default_device, default_kind

    big = FoundModel("llm", "safetensors", 14 * 10**9)
    assert default_kind(big) == "cloud"
    device_id = default_device(big, "cloud")
    assert device_id is not None
    device = load_catalog()[device_id]
    assert device.memory >= 14 * 10**9 and device.price_per_hour is not None
    # What must fit is the targets stage's serving estimate, not the bare size on disk.
    need = estimate_memory(ArtifactInfo("llm", "safetensors", big.size_bytes, 0,
                                        {"stored": big.size_bytes})).total
    assert need > big.size_bytes and device.memory >= need
    # The ceiling is what a whole-budget inference costs there, rounded up.
    assert default_ceiling(load_catalog()["aws-g5.xlarge"], 1000) == 0.28


def test_model_names_are_unique_and_valid() -> None:
    taken: set[str] = set()
    assert [model_name(p, taken) for p in ("a/Model.onnx", "b/model.onnx", "_x.gguf")] == \
        ["model", "model-2", "x"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-5", "fast"])
def test_init_refuses_impossible_budgets(repo: Path, value: str) -> None:
    result = CliRunner().invoke(cli, ["init", "--yes", "--budget-ms", value])
    assert result.exit_code == 2
    assert "--budget-ms" in result.output and value in result.output
    assert not (repo / "deploy-constraints.yaml").exists()


def test_init_refuses_an_impossible_ceiling(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "--yes", "--max-usd-per-1k", "nan"])
    assert result.exit_code == 2 and "--max-usd-per-1k" in result.output


def test_init_asks_again_after_an_impossible_answer(repo: Path) -> None:
    answers = "cloud\naws-g5.xlarge\nnan\ninf\n200\n-1\n0.5\n"
    result = CliRunner().invoke(cli, ["init"], input=answers)
    assert result.exit_code == 0, result.output
    assert result.output.count("latency budget in ms (p95)") == 3
    assert "'nan' is not a finite number above 0" in result.output
    assert result.output.count("cost ceiling") == 2
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0
    manifest = load_manifest(repo / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.latency is not None and model.cost is not None
    assert (model.latency.budget_ms, model.cost.max_usd_per_1k) == (200, 0.5)


def test_init_never_writes_one_for_a_spatial_dim(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    probe_models.image_model(tmp_path / "det.onnx")  # image [batch, 3, h, w]
    probe_models.typed_model(tmp_path / "paddle.onnx", TensorProto.FLOAT, [-1, 3, "?", 0])
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--yes"])
    assert result.exit_code == 0, result.output
    assert "replace the 4 SIZE placeholders" in result.output
    text = (tmp_path / "deploy-constraints.yaml").read_text()
    assert 'dims: {"batch": 1, "h": SIZE, "w": SIZE}' in text
    assert '"x": {shape: [1, 3, SIZE, SIZE]}' in text
    assert text.count("`deploygate validate` fails until each is a number") == 2
    result = runner.invoke(cli, ["validate", "deploy-constraints.yaml"])
    assert result.exit_code == 2
    for key in ("models[0].latency.dims.h", "models[0].latency.dims.w",
                "models[1].latency.inputs.x.shape[2]", "models[1].latency.inputs.x.shape[3]"):
        assert f"{key}: expected integer, got string 'SIZE'" in result.output


def test_init_writes_the_image_size_the_model_states(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    probe_models.image_model(tmp_path / "det.onnx", {"imgsz": "[320, 256]"})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "--yes"])
    assert result.exit_code == 0, result.output
    assert 'dims: {"batch": 1, "h": 320, "w": 256}' in \
        (tmp_path / "deploy-constraints.yaml").read_text()
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 0


def test_init_asks_for_open_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe_models.image_model(tmp_path / "det.onnx")
    monkeypatch.chdir(tmp_path)
    # target, device, budget, then h (a wrong answer first, asked again) and w
    result = CliRunner().invoke(cli, ["init"], input="\n\n\n0\n64\n48\n")
    assert result.exit_code == 0, result.output
    assert "det: size of dimension 'h' (input 'image' axis 2), or SIZE to fill in later" \
        in result.output
    assert "'0' is not a whole number" in result.output
    manifest = load_manifest(tmp_path / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.latency is not None and model.latency.dims == {"batch": 1, "h": 64, "w": 48}
    assert "SIZE" not in (tmp_path / "deploy-constraints.yaml").read_text()


def test_init_asks_for_the_integer_that_picks_a_branch(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    probe_models.mode_switch_model(tmp_path / "switch.onnx")  # If mode == 42, else it fails
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--yes"]).exit_code == 0
    text = (tmp_path / "deploy-constraints.yaml").read_text()
    assert '"mode": {value: V}' in text and "# V: the value of an integer input" in text
    result = runner.invoke(cli, ["validate", "deploy-constraints.yaml"])
    assert result.exit_code == 2 and "models[0].latency.inputs.mode.value" in result.output
    result = runner.invoke(cli, ["init", "--force"], input="\n\n\nmaybe\n42\n")
    assert result.exit_code == 0, result.output
    assert "switch: value of input 'mode' (an integer that picks a branch" in result.output
    manifest = load_manifest(tmp_path / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.latency is not None and model.latency.inputs["mode"].value == 42


def test_a_dim_name_cannot_write_manifest_keys(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The batch dim's name comes from the model and is quoted in a comment: a line break in it
    # must not end the comment and start a key of its own.
    hostile = "b\n    cost: {max_usd_per_1k: 1000}\n#"
    onnx_models.save(onnx_models.conv(batch=hostile), tmp_path / "x.onnx")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--yes"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["validate"]).exit_code == 0
    manifest = load_manifest(tmp_path / "deploy-constraints.yaml").manifest
    assert manifest is not None
    (model,) = manifest.models
    assert model.cost is None
    assert model.latency is not None and model.latency.dims == {hostile: 1}
