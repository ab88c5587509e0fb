"""GGUF header reader: files made by the gguf library's own writer, and hostile headers."""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

gguf = pytest.importorskip("gguf")
from gguf.quants import quantize  # noqa: E402

from deploygate.artifacts import gguf as reader  # noqa: E402
from deploygate.errors import ArtifactError  # noqa: E402

Q8_0 = gguf.GGMLQuantizationType.Q8_0


def write_model(path: Path, *, vocab: int = 1000, chat_template: str | None = "{{ x }}") -> Path:
    """A small llama-like GGUF with F32, F16 and Q8_0 tensors, written by gguf.GGUFWriter."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(2048)
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(7)  # MOSTLY_Q8_0
    w.add_token_list([f"tok{i}" for i in range(vocab)])
    if chat_template is not None:
        w.add_chat_template(chat_template)
    w.add_array("test.nested", [[1, 2], [3]])
    weights = np.arange(32 * 64, dtype=np.float32).reshape(32, 64)
    w.add_tensor("blk.0.attn_q.weight", quantize(weights, Q8_0), raw_dtype=Q8_0)
    w.add_tensor("output_norm.weight", np.ones((3, 5), np.float32))
    w.add_tensor("token_embd.weight", np.ones((7,), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "tiny.gguf")


def raw_header(*, version: int = 3, tensors: int = 0, kvs: int = 0, body: bytes = b"") -> bytes:
    """Hand-made GGUF bytes for headers the writer refuses to make."""
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs) + body


def gguf_str(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "m.gguf"
    p.write_bytes(data)
    return p


def corrupt(path: Path) -> ArtifactError:
    with pytest.raises(ArtifactError) as e:
        reader.inspect(path, "m.gguf")
    assert e.value.rule == "DG202", e.value
    assert e.value.file == "m.gguf"
    return e.value


def test_params_bytes_and_details(model: Path) -> None:
    info = reader.inspect(model, "models/tiny.gguf")
    assert info.format == "gguf"
    assert info.path == "models/tiny.gguf"
    assert info.params == 32 * 64 + 3 * 5 + 7
    # Q8_0 stores 32 elements in 34 bytes
    assert info.bytes_by_dtype == {"q8_0": 32 * 64 // 32 * 34, "float32": 60, "float16": 14}
    assert info.size_bytes == model.stat().st_size
    assert info.runnable and not info.contains_code
    d = info.details
    assert d["architecture"] == "llama"
    assert d["name"] == "tiny"
    assert d["gguf_version"] == 3
    assert d["tensor_count"] == 3
    assert (d["context_length"], d["block_count"], d["embedding_length"]) == (2048, 2, 64)
    assert (d["head_count"], d["head_count_kv"]) == (4, 2)
    assert (d["file_type"], d["quantization"]) == (7, "Q8_0")
    assert d["bits_per_weight"] == round((2176 + 60 + 14) * 8 / 2070, 3)
    assert d["vocab_size"] == 1000
    assert d["has_chat_template"] is True


def test_matches_the_gguf_library_reader(model: Path) -> None:
    ours = reader.inspect(model, "m")
    theirs = gguf.GGUFReader(str(model))
    assert ours.params == sum(int(t.n_elements) for t in theirs.tensors)
    assert ours.weights_bytes == sum(int(t.n_bytes) for t in theirs.tensors)


def test_long_arrays_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write_model(tmp_path / "v.gguf", vocab=5000)
    with path.open("rb") as f:
        header = reader.read_header(f, path.stat().st_size)
    tokens = header.metadata["tokenizer.ggml.tokens"]
    assert tokens == reader.SkippedArray("string", 5000)
    assert header.metadata["test.nested"] == [[1, 2], [3]]
    assert header.metadata["tokenizer.chat_template"] == "{{ x }}"


def test_chat_template_is_data_never_rendered(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    template = "{{ cycler.__init__.__globals__.os.system('touch " + str(canary) + "') }}"
    info = reader.inspect(write_model(tmp_path / "t.gguf", chat_template=template), "t")
    assert info.details["has_chat_template"] is True
    assert template not in repr(info.details)
    assert not canary.exists()


def test_truncated_anywhere_in_the_header_is_corrupt(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    data_offset, data_end = data_span(model)
    for cut in sorted({4, 7, 8, 15, 23, 24, 30, 100, 500, data_offset - 1, data_offset + 10,
                       data_end - 1}):
        corrupt(write(tmp_path, data[:cut]))


def data_span(path: Path) -> tuple[int, int]:
    """Where the tensor data starts, and where the last tensor's bytes end."""
    with path.open("rb") as f:
        header = reader.read_header(f, path.stat().st_size)
    end = max(header.data_offset + t.offset + reader.tensor_nbytes(t) for t in header.tensors)
    return header.data_offset, end


def test_truncated_tensor_data_names_the_tensor(model: Path, tmp_path: Path) -> None:
    _, end = data_span(model)
    err = corrupt(write(tmp_path, model.read_bytes()[:end - 1]))
    assert "token_embd.weight" in err.message and "truncated" in err.message
    # the writer's trailing padding is not data: cutting it away is fine
    assert reader.inspect(write(tmp_path, model.read_bytes()[:end]), "m").params == 2070


@pytest.mark.parametrize("header, field", [
    (raw_header(tensors=2**63), "tensor_count"),
    (raw_header(tensors=1_000_001), "tensor_count"),
    (raw_header(kvs=2**64 - 1), "metadata_kv_count"),
    (raw_header(kvs=1, body=struct.pack("<Q", 2**62)), "metadata key #0"),
    (raw_header(kvs=1, body=struct.pack("<Q", 70_000) + b"k" * 70_000), "metadata key #0"),
    # a uint8 array claiming 2**40 elements
    (raw_header(kvs=1, body=gguf_str(b"a") + struct.pack("<IIQ", 9, 0, 2**40)), "'a'"),
    # a string array claiming 10M strings in a few bytes
    (raw_header(kvs=1, body=gguf_str(b"a") + struct.pack("<IIQ", 9, 8, 10_000_000)), "'a'"),
    (raw_header(kvs=1, body=gguf_str(b"a") + struct.pack("<IIQ", 9, 0, 10_000_001)), "'a'"),
    (raw_header(kvs=1, body=gguf_str(b"s") + struct.pack("<IQ", 8, 2**50)), "'s'"),
    (raw_header(kvs=1, body=gguf_str(b"t") + struct.pack("<I", 99) + b"\0" * 8), "type 99"),
    (raw_header(kvs=1, body=gguf_str(b"\xff\xfe") + struct.pack("<IB", 0, 1)), "UTF-8"),
    (raw_header(tensors=1, body=gguf_str(b"w") + struct.pack("<I", 4096) + b"\0" * 40),
     "dimensions"),
])
def test_hostile_headers_fail_fast_without_allocating(tmp_path: Path, header: bytes,
                                                      field: str) -> None:
    path = write(tmp_path, header + b"\0" * 64)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = corrupt(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 4 << 20, f"peak {peak} bytes"
    assert field in err.message
    assert "offset" in err.message


def test_deep_array_nesting_is_refused(tmp_path: Path) -> None:
    nested = struct.pack("<IQ", 9, 1) * 20 + struct.pack("<IQ", 0, 0)
    err = corrupt(write(tmp_path, raw_header(kvs=1, body=gguf_str(b"a") +
                                             struct.pack("<I", 9) + nested)))
    assert "deeper" in err.message


def test_bad_alignment_is_corrupt(tmp_path: Path) -> None:
    body = gguf_str(b"general.alignment") + struct.pack("<II", 4, 24)
    assert "alignment" in corrupt(write(tmp_path, raw_header(kvs=1, body=body))).message


def tensor_info(name: bytes, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return (gguf_str(name) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims)
            + struct.pack("<IQ", ggml_type, offset))


def test_unknown_ggml_type_is_corrupt(tmp_path: Path) -> None:
    body = tensor_info(b"w", (4,), 250, 0)
    path = write(tmp_path, raw_header(tensors=1, body=body) + b"\0" * 64)
    assert "ggml type 250" in corrupt(path).message


def test_ragged_quantized_rows_are_corrupt(tmp_path: Path) -> None:
    body = tensor_info(b"w", (33,), 8, 0)  # Q8_0 rows must be multiples of 32
    path = write(tmp_path, raw_header(tensors=1, body=body) + b"\0" * 256)
    assert "block size" in corrupt(path).message


def test_misaligned_and_duplicate_tensors_are_corrupt(tmp_path: Path) -> None:
    body = tensor_info(b"w", (4,), 0, 3)
    assert "alignment" in corrupt(write(tmp_path, raw_header(tensors=1, body=body)
                                        + b"\0" * 128)).message
    body = tensor_info(b"w", (4,), 0, 0) * 2
    assert "twice" in corrupt(write(tmp_path, raw_header(tensors=2, body=body)
                                    + b"\0" * 128)).message


def test_huge_dims_past_the_file_end_are_corrupt(tmp_path: Path) -> None:
    body = tensor_info(b"w", (2**40, 2**20), 0, 0)
    err = corrupt(write(tmp_path, raw_header(tensors=1, body=body) + b"\0" * 128))
    assert "past the end" in err.message


def test_hand_made_header_counts_exactly(tmp_path: Path) -> None:
    body = tensor_info(b"a", (64, 2), 12, 0) + tensor_info(b"b", (256,), 12, 0) \
        + tensor_info(b"c", (10,), 30, 0)
    head = raw_header(tensors=3, body=body)
    pad = -len(head) % 32
    # three tensors may share offset 0: only the bytes they need must exist
    path = write(tmp_path, head + b"\0" * (pad + 256))
    with pytest.raises(ArtifactError, match="block size"):
        reader.inspect(path, "m.gguf")  # 64 is not a multiple of Q4_K's 256
    body = tensor_info(b"b", (256, 2), 12, 0) + tensor_info(b"c", (10,), 30, 288)
    head = raw_header(tensors=2, body=body)
    path = write(tmp_path, head + b"\0" * (-len(head) % 32 + 288 + 20))
    info = reader.inspect(path, "m.gguf")
    assert info.params == 512 + 10
    assert info.bytes_by_dtype == {"q4_k": 288, "bfloat16": 20}


@pytest.mark.parametrize("version, rule", [(1, "DG205"), (4, "DG205"), (0x03000000, "DG205")])
def test_unsupported_versions(tmp_path: Path, version: int, rule: str) -> None:
    with pytest.raises(ArtifactError) as e:
        reader.inspect(write(tmp_path, raw_header(version=version)), "m.gguf")
    assert e.value.rule == rule and str(version) in e.value.message


def test_no_tensors_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as e:
        reader.inspect(write(tmp_path, raw_header()), "m.gguf")
    assert e.value.rule == "DG211" and "no tensors" in str(e.value)


def test_vocab_only_gguf_is_not_a_model(tmp_path: Path) -> None:
    # what llama.cpp's convert script writes with --vocab-only: a tokenizer, no weights
    path = tmp_path / "ggml-vocab-tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_token_list([f"tok{i}" for i in range(5000)])
    w.add_context_length(4096)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert len(gguf.GGUFReader(path).tensors) == 0
    with pytest.raises(ArtifactError) as e:
        reader.inspect(path, "ggml-vocab-tiny.gguf")
    assert e.value.rule == "DG211"
    assert "tokenizer vocabulary and no tensors" in str(e.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_files_only_ever_raise_artifact_errors(model: Path, tmp_path: Path,
                                                       data: st.DataObject) -> None:
    raw = bytearray(model.read_bytes())
    with model.open("rb") as f:
        end = reader.read_header(f, len(raw)).data_offset
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(4, end - 1))
        raw[at] = data.draw(st.integers(0, 255))
    path = tmp_path / "mutated.gguf"
    path.write_bytes(bytes(raw))
    try:
        reader.inspect(path, "m.gguf")
    except ArtifactError as e:
        assert e.rule in ("DG202", "DG205", "DG211")
