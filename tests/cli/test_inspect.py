"""`deploygate inspect` on real files made by the formats' own libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from safetensors.numpy import save_file

from deploygate.cli import cli
from tests.fixtures.onnx_models import conv_net_model, conv_net_weights


def test_inspect_onnx_json(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    onnx.save_model(conv_net_model(), str(path))
    result = CliRunner().invoke(cli, ["inspect", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format"] == "onnx"
    assert info["params"] == sum(a.size for a in conv_net_weights().values())
    assert info["size_bytes"] == path.stat().st_size


def test_inspect_safetensors_text(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"  # the name does not matter: the content does
    save_file({"a": np.zeros((3, 4), np.float16), "b": np.zeros(5, np.float32)}, str(path))
    result = CliRunner().invoke(cli, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "safetensors" in result.output and "params:  17 (17)" in result.output


def test_inspect_corrupt_file_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08" + b"\xff" * 64)
    done = subprocess.run([sys.executable, "-m", "deploygate", "inspect", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("deploygate: error: DG202 artifact-corrupt: ")
    assert str(path) in line and "not a valid ONNX model" in line


def test_inspect_missing_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "nope.onnx")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_check_jsonschema_accepts_both_schemas() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in ("deploy-constraints.schema.json", "report.schema.json"):
        done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--check-metaschema",
                               str(root / "schemas" / name)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


PYTORCH_DATA = Path(__file__).resolve().parents[1] / "data" / "pytorch"


def test_inspect_says_what_a_training_file_is() -> None:
    runner = CliRunner()
    optimizer = runner.invoke(cli, ["inspect", str(PYTORCH_DATA / "optimizer_only.pt")])
    assert optimizer.exit_code == 2
    assert "DG211" in optimizer.output and "optimizer's state" in optimizer.output
    ema = runner.invoke(cli, ["inspect", str(PYTORCH_DATA / "ema_only.pt")])
    assert ema.exit_code == 0 and "EMA weights only" in ema.output
    training = runner.invoke(cli, ["inspect", str(PYTORCH_DATA / "lightning.ckpt")])
    assert training.exit_code == 0
    assert "training state (not counted in params): optimizer under optimizer_states" \
        in training.output
    as_json = json.loads(runner.invoke(cli, ["inspect", "--format", "json",
                                             str(PYTORCH_DATA / "lightning.ckpt")]).output)
    assert as_json["params"] == 50 and as_json["training_state"]["kind"] == "training"
