"""Git LFS pointers: parsed per the spec and refused wherever an artifact's bytes are read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from deploygate.artifacts import inspect_artifact
from deploygate.artifacts.lfs import LfsPointer, parse_pointer
from deploygate.errors import ArtifactError
from tests.fixtures.lfs import pointer_for
from tests.fixtures.onnx_models import external_data_model, save_with_external_data


def _pointer_error(path: Path, display: str) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        inspect_artifact(path, display=display)
    assert caught.value.rule == "DG204"
    assert "git lfs pull" in caught.value.message and "lfs: true" in caught.value.message
    return caught.value


def test_parse_pointer() -> None:
    data = pointer_for(b"x" * 300)
    pointer = parse_pointer(data)
    assert pointer == LfsPointer("sha256:" + hashlib.sha256(b"x" * 300).hexdigest(), 300)


@pytest.mark.parametrize("data", [
    b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n",  # short oid
    b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize -1\n",
    b"version https://git-lfs.github.com/spec/v1\n" + b"x" * 1024,  # too long for a pointer
    b"\x08\x07" + b"\0" * 40,
])
def test_not_a_pointer(data: bytes) -> None:
    assert parse_pointer(data) is None


def test_pointer_file_names_the_real_size(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(pointer_for(b"y" * 4096))

    error = _pointer_error(tmp_path / "m.onnx", "models/m.onnx")

    assert "4096-byte file" in error.message and error.file == "models/m.onnx"


def test_safetensors_shard_that_is_a_pointer(tmp_path: Path) -> None:
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "model-00001-of-00002.safetensors"))
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(pointer_for(b"z" * 2000))

    error = _pointer_error(tmp_path, "ckpt")

    assert error.file == "ckpt/model-00002-of-00002.safetensors"


def test_shard_index_that_is_a_pointer(tmp_path: Path) -> None:
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "model.safetensors"))
    index = json.dumps({"weight_map": {"a": "model.safetensors"}}).encode()
    (tmp_path / "model.safetensors.index.json").write_bytes(pointer_for(index))

    _pointer_error(tmp_path, "ckpt")


def test_onnx_external_data_that_is_a_pointer(tmp_path: Path) -> None:
    save_with_external_data(external_data_model(), tmp_path / "m.onnx", location="weights.bin")
    real = (tmp_path / "weights.bin").read_bytes()
    (tmp_path / "weights.bin").write_bytes(pointer_for(real))

    error = _pointer_error(tmp_path / "m.onnx", "models/m.onnx")

    assert error.file == "models/weights.bin"
    assert f"{len(real)}-byte file" in error.message
