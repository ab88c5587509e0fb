"""inspect_artifact: dispatch by content, folders, the manifest's `format`, lazy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from safetensors.numpy import save_file

from deploygate.artifacts import inspect_artifact
from deploygate.errors import ArtifactError
from tests.fixtures.onnx_models import (
    conv_net_model,
    conv_net_weights,
    external_data_model,
    save_with_external_data,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def _error(path: Path, display: str, declared: str | None = None) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        inspect_artifact(path, display=display, declared_format=declared)
    assert "\n" not in caught.value.message
    return caught.value


def test_onnx_file(tmp_path: Path) -> None:
    onnx.save(conv_net_model(), str(tmp_path / "net.onnx"))

    info = inspect_artifact(tmp_path / "net.onnx", display="models/net.onnx")

    assert info.format == "onnx"
    assert info.path == "models/net.onnx"
    assert info.params == sum(a.size for a in conv_net_weights().values())


def test_content_wins_over_the_file_name(tmp_path: Path) -> None:
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "weights.onnx"))

    info = inspect_artifact(tmp_path / "weights.onnx", display="weights.onnx")

    assert info.format == "safetensors"
    assert info.params == 3


def test_missing_path(tmp_path: Path) -> None:
    error = _error(tmp_path / "nope.onnx", "models/nope.onnx")

    assert error.rule == "DG201"
    assert error.file == "models/nope.onnx"
    assert "no such file or folder" in error.message


def test_folder_of_safetensors_shards(tmp_path: Path) -> None:
    save_file({"a": np.ones((2, 3), np.float32)}, str(tmp_path / "a.safetensors"))
    save_file({"b": np.ones(4, np.float16)}, str(tmp_path / "b.safetensors"))

    info = inspect_artifact(tmp_path, display="ckpt")

    assert info.format == "safetensors"
    assert info.path == "ckpt"
    assert info.params == 10
    assert info.size_bytes == sum(os.path.getsize(tmp_path / f)
                                  for f in ("a.safetensors", "b.safetensors"))


def test_folder_with_one_onnx_model_and_its_external_data(tmp_path: Path) -> None:
    # weights.bin looks like a PyTorch file by name; the single .onnx file is the model.
    save_with_external_data(external_data_model(), tmp_path / "m.onnx", location="weights.bin")
    (tmp_path / "README.md").write_text("a model")

    info = inspect_artifact(tmp_path, display="models/det")

    assert info.format == "onnx"
    assert info.path == "models/det"
    assert info.files == ("m.onnx", "weights.bin")
    assert info.size_bytes == sum(os.path.getsize(tmp_path / f) for f in info.files)


def test_folder_with_two_models_is_ambiguous(tmp_path: Path) -> None:
    onnx.save(conv_net_model(), str(tmp_path / "a.onnx"))
    onnx.save(conv_net_model(), str(tmp_path / "b.onnx"))

    error = _error(tmp_path, "models")

    assert error.rule == "DG213"
    assert "a.onnx, b.onnx" in error.message


def test_folder_without_models(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")

    error = _error(tmp_path, "models")

    assert error.rule == "DG213"
    assert "found: none" in error.message


def test_error_inside_a_folder_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\xff\xff\xff")

    error = _error(tmp_path, "models")

    assert error.rule == "DG202"
    assert error.file == "models/model.onnx"


def test_declared_format_matches(tmp_path: Path) -> None:
    onnx.save(conv_net_model(), str(tmp_path / "net.onnx"))

    info = inspect_artifact(tmp_path / "net.onnx", display="net.onnx", declared_format="onnx")

    assert info.format == "onnx"


def test_declared_format_mismatch(tmp_path: Path) -> None:
    onnx.save(conv_net_model(), str(tmp_path / "net.onnx"))

    error = _error(tmp_path / "net.onnx", "net.onnx", declared="safetensors")

    assert error.rule == "DG206"
    assert "'safetensors'" in error.message and "onnx" in error.message


def test_declared_format_mismatch_for_a_folder(tmp_path: Path) -> None:
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "a.safetensors"))

    error = _error(tmp_path, "ckpt", declared="onnx")

    assert error.rule == "DG206"


def test_declared_pytorch_accepts_detected_torchscript() -> None:
    from deploygate import artifacts

    artifacts._check_declared("torchscript", "pytorch", "m.pt")  # no error
    with pytest.raises(ArtifactError) as caught:
        artifacts._check_declared("torchscript", "onnx", "m.pt")
    assert caught.value.rule == "DG206"
    assert "`format: pytorch`" in caught.value.message


def test_lfs_pointer_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")

    error = _error(tmp_path, "models")

    assert error.rule == "DG204"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.onnx"
    onnx.save(conv_net_model(), str(path))

    def refuse(*args: object, **kwargs: object) -> None:
        # chmod 0 would not stop a test run as root; fail the read the way the OS would.
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    error = _error(path, "net.onnx")

    assert error.rule == "DG202"
    assert "Permission denied" in error.message


def test_importing_the_stage_does_not_import_onnx_or_numpy() -> None:
    code = ("import sys, deploygate.artifacts; "
            "print(sorted(m for m in ('onnx', 'numpy', 'safetensors') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})

    assert result.stdout.strip() == "[]"
