"""safetensors reader: header facts against independent counts, and malformed headers."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

from deploygate.artifacts import safetensors as st_reader
from deploygate.errors import ArtifactError


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "embed.weight": rng.standard_normal((10, 4)).astype(np.float16),
        "proj.weight": rng.standard_normal((4, 4)).astype(np.float32),
        "proj.bias": rng.standard_normal(4).astype(np.float32),
        "steps": np.arange(3, dtype=np.int64),
        "mask": np.ones((2, 2), dtype=bool),
        "scalar": np.array(1.5, dtype=np.float64),
    }


def _bytes(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for a in arrays.values():
        totals[str(a.dtype)] = totals.get(str(a.dtype), 0) + a.nbytes
    return totals


def _raw_file(path: Path, header: Any, data: bytes = b"", *, header_bytes: bytes | None = None,
              declared_length: int | None = None) -> Path:
    """Write a safetensors file by hand, for headers the library would never write."""
    raw = header_bytes if header_bytes is not None else json.dumps(header).encode()
    n = len(raw) if declared_length is None else declared_length
    path.write_bytes(struct.pack("<Q", n) + raw + data)
    return path


def _corrupt_message(path: Path) -> str:
    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(path, "m.safetensors")
    assert caught.value.rule == "DG202"
    assert caught.value.file == "m.safetensors"
    assert "\n" not in caught.value.message
    return caught.value.message


def test_single_file(tmp_path: Path) -> None:
    weights = _weights()
    path = tmp_path / "model.safetensors"
    save_file(weights, str(path), metadata={"format": "pt"})

    info = st_reader.inspect(path, "model.safetensors")

    assert info.format == "safetensors"
    assert info.params == sum(a.size for a in weights.values())
    assert info.bytes_by_dtype == _bytes(weights)
    assert info.size_bytes == os.path.getsize(path)
    assert info.files == ("model.safetensors",)
    assert info.details == {"metadata": {"format": "pt"}, "tensor_count": len(weights)}
    assert info.inputs == () and info.outputs == ()
    assert not info.runnable


def test_bfloat16_and_empty_tensors(tmp_path: Path) -> None:
    header = {"a": {"dtype": "BF16", "shape": [3, 2], "data_offsets": [0, 12]},
              "empty": {"dtype": "F32", "shape": [0, 5], "data_offsets": [12, 12]},
              "q": {"dtype": "F4", "shape": [4], "data_offsets": [12, 14]}}
    path = _raw_file(tmp_path / "m.safetensors", header, b"\0" * 14)

    info = st_reader.inspect(path, "m.safetensors")

    assert info.params == 6 + 0 + 4
    assert info.bytes_by_dtype == {"bfloat16": 12, "float32": 0, "float4_e2m1fn": 2}


def test_header_padding_spaces_are_allowed(tmp_path: Path) -> None:
    raw = json.dumps({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}).encode()
    path = _raw_file(tmp_path / "m.safetensors", None, b"\1\2", header_bytes=raw + b"   ")

    assert st_reader.inspect(path, "m.safetensors").params == 2


def test_sharded_with_index(tmp_path: Path) -> None:
    shard_a, shard_b = _weights(1), {"head.weight": np.ones((4, 7), np.float32)}
    save_file(shard_a, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file(shard_b, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {**{k: "model-00001-of-00002.safetensors" for k in shard_a},
                  **{k: "model-00002-of-00002.safetensors" for k in shard_b}}
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    (tmp_path / "config.json").write_text(json.dumps({
        "architectures": ["TinyForCausalLM"], "model_type": "tiny", "hidden_size": 4,
        "num_hidden_layers": 2, "torch_dtype": "float16", "vocab_size": 10,
        "rope_scaling": {"type": "linear"}}))
    # Shards from another checkpoint in the same folder are not this model's.
    save_file({"other": np.ones(100, np.float32)}, str(tmp_path / "unrelated.safetensors"))

    info = st_reader.inspect(tmp_path, "ckpt")

    both = {**shard_a, **shard_b}
    assert info.params == sum(a.size for a in both.values())
    assert info.bytes_by_dtype == _bytes(both)
    assert info.size_bytes == sum(os.path.getsize(tmp_path / f) for f in set(weight_map.values()))
    assert info.files == ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    assert info.details["shard_count"] == 2
    assert info.details["tensor_count"] == len(both)
    assert info.details["architectures"] == ["TinyForCausalLM"]
    assert info.details["num_hidden_layers"] == 2
    assert info.details["torch_dtype"] == "float16"
    assert "vocab_size" not in info.details and "rope_scaling" not in info.details


def test_a_folder_with_two_shard_indexes_is_not_one_model(tmp_path: Path) -> None:
    save_file(_weights(1), str(tmp_path / "model-00001-of-00001.safetensors"))
    for name in ("model.safetensors.index.json", "other.safetensors.index.json"):
        (tmp_path / name).write_text(json.dumps({"weight_map": {}}))
    (tmp_path / "model.safetensors.index.json").unlink()  # the preferred name would win
    (tmp_path / "a.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))

    with pytest.raises(ArtifactError) as e:
        st_reader.inspect(tmp_path, "ckpt")

    assert e.value.rule == "DG213"
    assert "several shard indexes (a.safetensors.index.json, other.safetensors.index.json)" \
        in e.value.message


def test_shards_without_index(tmp_path: Path) -> None:
    shard_a, shard_b = _weights(2), {"x": np.zeros((3, 3), np.int8)}
    save_file(shard_a, str(tmp_path / "a.safetensors"))
    save_file(shard_b, str(tmp_path / "b.safetensors"))

    info = st_reader.inspect(tmp_path, "ckpt")

    both = {**shard_a, **shard_b}
    assert info.params == sum(a.size for a in both.values())
    assert info.bytes_by_dtype == _bytes(both)
    assert info.size_bytes == sum(os.path.getsize(tmp_path / f)
                                  for f in ("a.safetensors", "b.safetensors"))
    assert info.details["index"] is None


def test_unrelated_files_without_index_are_not_one_checkpoint(tmp_path: Path) -> None:
    # three fine-tunes of one model side by side: every tensor name appears three times
    for i, name in enumerate(("base", "ft-a", "ft-b")):
        save_file(_weights(i), str(tmp_path / f"{name}.safetensors"))
    save_file({"extra": np.zeros(2, np.float32)}, str(tmp_path / "z.safetensors"))

    with pytest.raises(ArtifactError) as e:
        st_reader.inspect(tmp_path, "ckpt")

    message = str(e.value)
    assert e.value.rule == "DG213" and "not shards of one checkpoint" in message
    assert "6 tensor names appear in more than one file" in message
    for tensor in _weights():
        assert f"{tensor!r} (in base.safetensors, ft-a.safetensors, ft-b.safetensors)" in message
    assert "'extra'" not in message and "index.json" in message


def test_index_naming_a_tensor_missing_from_its_shard(tmp_path: Path) -> None:
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "s1.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}))

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(tmp_path, "ckpt")

    assert caught.value.rule == "DG202"
    assert "'b'" in caught.value.message and "s1.safetensors" in caught.value.message


def test_index_naming_a_missing_shard(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "gone.safetensors"}}))

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(tmp_path, "ckpt")

    assert caught.value.rule == "DG201"
    assert "gone.safetensors" in caught.value.message


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/tmp/x.safetensors", ""])
def test_index_naming_a_shard_outside_the_folder(tmp_path: Path, shard: str) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "outside.safetensors"))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": shard}}))

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(folder, "ckpt")

    assert caught.value.rule == "DG202"
    assert repr(shard) in caught.value.message


@pytest.mark.parametrize("index", ["[]", "{}", '{"weight_map": {"a": 1}}', "{not json",
                                   '{"weight_map": {}, "weight_map": {}}'])
def test_malformed_index(tmp_path: Path, index: str) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(index)

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(tmp_path, "ckpt")

    assert caught.value.rule == "DG202"
    assert caught.value.file == "ckpt/model.safetensors.index.json"


def test_shard_linking_outside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "outside.safetensors"))
    (folder / "model.safetensors").symlink_to(tmp_path / "outside.safetensors")

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(folder, "ckpt")

    assert caught.value.rule == "DG106"
    assert "'model.safetensors'" in caught.value.message and "leads out" in caught.value.message


def test_corrupt_shard_is_named(tmp_path: Path) -> None:
    save_file({"a": np.ones(2, np.float32)}, str(tmp_path / "good.safetensors"))
    (tmp_path / "bad.safetensors").write_bytes(b"\1\0\0")

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(tmp_path, "ckpt")

    assert caught.value.file == "ckpt/bad.safetensors"


def test_short_file(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\x10\0\0")

    assert "fewer than the 8-byte header length" in _corrupt_message(path)


def test_header_length_past_end_of_file(tmp_path: Path) -> None:
    path = _raw_file(tmp_path / "m.safetensors", {}, declared_length=1000)

    assert "runs past the end" in _corrupt_message(path)


def test_huge_header_length(tmp_path: Path) -> None:
    path = _raw_file(tmp_path / "m.safetensors", {}, declared_length=2**63)

    assert f"exceeds the {16 << 20}-byte limit" in _corrupt_message(path)


@pytest.mark.parametrize("raw", [b"{not json}", b'{"a": NaN}', b"[1, 2]", b"null"])
def test_invalid_json(tmp_path: Path, raw: bytes) -> None:
    path = _raw_file(tmp_path / "m.safetensors", None, header_bytes=raw)

    assert "JSON" in _corrupt_message(path)


def test_invalid_utf8(tmp_path: Path) -> None:
    path = _raw_file(tmp_path / "m.safetensors", None, header_bytes=b'{"\xff\xfe": 1}')

    assert "UTF-8" in _corrupt_message(path)


def test_duplicate_tensor_names(tmp_path: Path) -> None:
    entry = '{"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}'
    raw = f'{{"a": {entry}, "a": {entry}}}'.encode()
    path = _raw_file(tmp_path / "m.safetensors", None, b"\0", header_bytes=raw)

    assert "duplicate key 'a'" in _corrupt_message(path)


def _u8(begin: int, end: int, n: int | None = None) -> dict[str, Any]:
    return {"dtype": "U8", "shape": [end - begin if n is None else n],
            "data_offsets": [begin, end]}


@pytest.mark.parametrize(("header", "data", "expected"), [
    ({"a": _u8(0, 4), "b": _u8(2, 6)}, 6, "'b': data_offsets [2, 6] overlap"),
    ({"a": _u8(0, 4), "b": _u8(6, 8)}, 8, "'b': data_offsets start at 6, leaving a gap"),
    ({"a": _u8(2, 4)}, 4, "'a': data_offsets start at 2, leaving a gap"),
    ({"a": _u8(0, 4), "b": _u8(4, 10)}, 8, "'b': data ends at byte 10"),
    ({"a": _u8(0, 4)}, 7, "3 bytes of trailing data"),
    ({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}, 8,
     "'a': shape [2, 2] of F32 needs 16 bytes but data_offsets [0, 8] span 8"),
    ({"a": _u8(4, 0, 0)}, 4, "'a': data_offsets [4, 0] end before they begin"),
    ({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 1]}}, 1, "'a': unknown dtype 'Q4'"),
    ({"a": {"dtype": "U8", "shape": [-2], "data_offsets": [0, 0]}}, 0,
     "'a': shape [-2] is not a list of non-negative integers"),
    ({"a": {"dtype": "U8", "shape": [1.0], "data_offsets": [0, 1]}}, 1, "'a': shape [1.0]"),
    ({"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}, 1, "'a': shape [True]"),
    ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0]}}, 1, "'a': data_offsets [0] is"),
    ({"a": {"dtype": "U8", "shape": [1]}}, 1, "'a': needs exactly dtype, shape and data_offsets"),
    ({"a": {**_u8(0, 1), "extra": 1}}, 1, "'a': needs exactly dtype, shape and data_offsets"),
    ({"a": [1, 2]}, 0, "'a': needs exactly dtype"),
    ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, 2, "do not fill whole bytes"),
    ({"__metadata__": {"k": 1}}, 0, "__metadata__ must map strings to strings"),
    ({"__metadata__": ["k"]}, 0, "__metadata__ must map strings to strings"),
])
def test_malformed_headers(tmp_path: Path, header: dict[str, Any], data: int,
                           expected: str) -> None:
    path = _raw_file(tmp_path / "m.safetensors", header, b"\0" * data)

    assert expected in _corrupt_message(path)


def test_every_error_names_the_file(tmp_path: Path) -> None:
    path = _raw_file(tmp_path / "m.safetensors", {"a": _u8(0, 1)}, b"\0\0")

    with pytest.raises(ArtifactError) as caught:
        st_reader.inspect(path, "models/m.safetensors")

    assert str(caught.value).startswith("models/m.safetensors: ")


def test_reads_only_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = {"big": np.zeros(1_000_000, np.float32)}
    path = tmp_path / "m.safetensors"
    save_file(weights, str(path))
    real_open = Path.open
    read_sizes: list[int] = []

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, *args, **kwargs)
        real_read = handle.read

        def read(n: int = -1) -> bytes:
            read_sizes.append(n)
            return real_read(n)

        handle.read = read
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    info = st_reader.inspect(path, "m.safetensors")

    assert info.params == 1_000_000
    assert read_sizes and all(0 <= n < 1000 for n in read_sizes)


# The reference parser agrees with ours on every layout hypothesis can build from these.
_REFERENCE_DTYPES = {"U8": 1, "F16": 2, "BF16": 2, "F32": 4, "I64": 8}


@st.composite
def _layouts(draw: Any) -> tuple[dict[str, Any], int]:
    names = draw(st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=1, max_size=4,
                          unique=True))
    header: dict[str, Any] = {}
    offset = 0
    for name in names:
        dtype = draw(st.sampled_from(sorted(_REFERENCE_DTYPES)))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = int(np.prod(shape)) * _REFERENCE_DTYPES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    victim = header[draw(st.sampled_from(names))]
    mutation = draw(st.sampled_from(["none", "begin", "end", "shape", "data"]))
    delta = draw(st.integers(-2, 2))
    if mutation == "begin":
        victim["data_offsets"][0] = max(0, victim["data_offsets"][0] + delta)
    elif mutation == "end":
        victim["data_offsets"][1] = max(0, victim["data_offsets"][1] + delta)
    elif mutation == "shape":
        victim["shape"] = [*victim["shape"], draw(st.integers(0, 3))]
    elif mutation == "data":
        offset = max(0, offset + delta)
    return header, offset


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=_layouts())
def test_agrees_with_the_reference_parser(tmp_path: Path, layout: tuple[dict[str, Any], int]
                                          ) -> None:
    header, data_size = layout
    path = _raw_file(tmp_path / "m.safetensors", header, b"\0" * data_size)
    try:
        with safe_open(str(path), framework="numpy"):
            pass
        reference_ok = True
    except Exception:  # the reference raises SafetensorError (and others) for bad headers
        reference_ok = False
    try:
        st_reader.inspect(path, "m.safetensors")
        ours_ok = True
    except ArtifactError:
        ours_ok = False

    assert ours_ok == reference_ok
