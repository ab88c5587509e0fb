"""TFLite reader: tiny models built with the flatbuffers Builder following schema.fbs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

flatbuffers = pytest.importorskip("flatbuffers")

from deploygate.artifacts import inspect_artifact  # noqa: E402
from deploygate.artifacts import tflite as reader  # noqa: E402
from deploygate.artifacts.base import TensorSpec  # noqa: E402
from deploygate.errors import ArtifactError  # noqa: E402
from tests.fixtures.mutations import mutations  # noqa: E402
from tests.fixtures.tflite_models import (  # noqa: E402
    BATCH_MATMUL, CUSTOM, FLOAT16, FLOAT32, FULLY_CONNECTED, INT8, finish_model, ivec, tables,
)


def build_model(*, weights: bytes = bytes(48), bias: bytes = bytes(6)) -> bytes:
    """input[?,4] -> FULLY_CONNECTED(weights[3,4] f32, bias[3] f16) -> BATCH_MATMUL -> out."""
    b = flatbuffers.Builder(1024)
    # Tensor: shape 0, type 1, buffer 2, name 3, shape_signature 7
    def tensor(name: str, shape: list[int], ttype: int, buffer: int,
               signature: list[int] | None = None) -> int:
        name_off = b.CreateString(name)
        shape_off = ivec(b, shape)
        sig_off = ivec(b, signature) if signature else None
        b.StartObject(8)
        b.PrependUOffsetTRelativeSlot(0, shape_off, 0)
        b.PrependInt8Slot(1, ttype, 0)
        b.PrependUint32Slot(2, buffer, 0)
        b.PrependUOffsetTRelativeSlot(3, name_off, 0)
        if sig_off is not None:
            b.PrependUOffsetTRelativeSlot(7, sig_off, 0)
        return b.EndObject()

    tensors = [tensor("input", [1, 4], FLOAT32, 1, [-1, 4]),
               tensor("weights", [3, 4], FLOAT32, 2),
               tensor("bias", [3], FLOAT16, 3),
               tensor("hidden", [1, 3], FLOAT32, 0),
               tensor("output", [1, 3], INT8, 0),
               tensor("weights_alias", [3, 4], FLOAT32, 2)]  # shares buffer 2: counted once

    def operator(opcode_index: int, ins: list[int], outs: list[int]) -> int:
        i, o = ivec(b, ins), ivec(b, outs)
        b.StartObject(3)
        b.PrependUint32Slot(0, opcode_index, 0)
        b.PrependUOffsetTRelativeSlot(1, i, 0)
        b.PrependUOffsetTRelativeSlot(2, o, 0)
        return b.EndObject()

    ops = [operator(0, [0, 1, 2], [3]), operator(1, [3, 5], [4]), operator(2, [4], [4])]
    tensors_vec, ops_vec = tables(b, tensors), tables(b, ops)
    inputs, outputs = ivec(b, [0]), ivec(b, [4])
    sg_name = b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensors_vec, 0)
    b.PrependUOffsetTRelativeSlot(1, inputs, 0)
    b.PrependUOffsetTRelativeSlot(2, outputs, 0)
    b.PrependUOffsetTRelativeSlot(3, ops_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()

    def opcode(code: int, custom: str | None = None) -> int:
        custom_off = b.CreateString(custom) if custom else None
        b.StartObject(4)
        b.PrependInt8Slot(0, min(code, 127), 0)
        if custom_off is not None:
            b.PrependUOffsetTRelativeSlot(1, custom_off, 0)
        b.PrependInt32Slot(2, 1, 1)
        b.PrependInt32Slot(3, code, 0)
        return b.EndObject()

    codes = [opcode(FULLY_CONNECTED), opcode(BATCH_MATMUL), opcode(CUSTOM, "MyOp")]

    def buffer(data: bytes | None) -> int:
        data_off = b.CreateByteVector(data) if data else None
        b.StartObject(3)
        if data_off is not None:
            b.PrependUOffsetTRelativeSlot(0, data_off, 0)
        return b.EndObject()

    buffers = [buffer(None), buffer(None), buffer(weights), buffer(bias)]
    return finish_model(b, codes, [subgraph], buffers, "tiny test model")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.tflite"
    path.write_bytes(build_model())
    return path


def corrupt(path: Path) -> ArtifactError:
    with pytest.raises(ArtifactError) as e:
        reader.inspect(path, path.name)
    assert e.value.rule == "DG202", e.value
    return e.value


def test_params_inputs_outputs(model: Path) -> None:
    info = reader.inspect(model, "models/tiny.tflite")
    assert info.format == "tflite" and info.path == "models/tiny.tflite"
    assert info.params == 3 * 4 + 3  # weights and bias; the aliasing tensor shares a buffer
    assert info.bytes_by_dtype == {"float32": 48, "float16": 6}
    assert info.inputs == (TensorSpec("input", "float32", (None, 4)),)
    assert info.outputs == (TensorSpec("output", "int8", (1, 3)),)
    assert info.runnable and not info.contains_code
    d = info.details
    assert d["schema_version"] == 3
    assert d["description"] == "tiny test model"
    assert d["operator_count"] == 3 and d["subgraph_count"] == 1
    assert d["operators"] == ["BATCH_MATMUL", "CUSTOM:MyOp", "FULLY_CONNECTED"]
    assert d["custom_operators"] == ["MyOp"]


def test_detected_and_registered(model: Path) -> None:
    assert inspect_artifact(model, display="m").format == "tflite"


def test_every_truncation_is_corrupt(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    # up to the last string's NUL terminator; the builder's zero padding after it is not data
    for cut in range(len(data.rstrip(b"\0")) + 1):
        path = tmp_path / "cut.tflite"
        path.write_bytes(data[:cut] if cut else b"\0")
        corrupt(path)


def test_wrong_identifier(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(model.read_bytes()[:4] + b"XXXX" + model.read_bytes()[8:])
    assert "TFL3" in corrupt(path).message


def test_huge_vector_length_is_refused_before_reading(model: Path, tmp_path: Path) -> None:
    weights = bytes(range(48))
    data = bytearray(build_model(weights=weights))
    at = data.find(weights) - 4  # the byte vector's length prefix
    assert struct.unpack_from("<I", data, at)[0] == 48
    struct.pack_into("<I", data, at, 0xFFFFFFF0)
    path = tmp_path / "m.tflite"
    path.write_bytes(bytes(data))
    err = corrupt(path)
    assert "buffers[2].data" in err.message and "claims" in err.message


def test_root_offset_out_of_bounds(model: Path, tmp_path: Path) -> None:
    data = bytearray(model.read_bytes())
    struct.pack_into("<I", data, 0, 10**9)
    path = tmp_path / "m.tflite"
    path.write_bytes(bytes(data))
    assert "outside the file" in corrupt(path).message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutations_only_ever_raise_artifact_errors(model: Path, tmp_path: Path,
                                                   data: st.DataObject) -> None:
    path = tmp_path / "mutated.tflite"
    path.write_bytes(data.draw(mutations(model.read_bytes())))
    try:
        reader.inspect(path, "m")
    except ArtifactError as e:
        assert e.rule == "DG202"
