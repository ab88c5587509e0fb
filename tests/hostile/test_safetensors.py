"""Hostile and broken safetensors files through the real command, written byte by byte."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from tests.hostile.harness import HostileRepo

MODEL = "models/m.safetensors"


def _file(header: dict[str, Any] | bytes | str, data: bytes = b"",
          length: int | None = None) -> bytes:
    """8-byte little-endian header length, the header, then ``data``."""
    if isinstance(header, dict):
        header = json.dumps(header)
    raw = header.encode("utf-8", "surrogatepass") if isinstance(header, str) else header
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def _tensor(begin: int, end: int, shape: list[int] | None = None,
            dtype: str = "F32") -> dict[str, Any]:
    return {"dtype": dtype, "shape": [(end - begin) // 4] if shape is None else shape,
            "data_offsets": [begin, end]}


def test_safetensors_shorter_than_8_bytes(repo: HostileRepo) -> None:
    repo.model(MODEL, b"\x10\x00\x00")
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["fewer than the 8-byte"])


def test_safetensors_header_length_past_the_file(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4)}, b"\0" * 4, length=4096))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["past the end"])


def test_safetensors_header_length_astronomical(repo: HostileRepo) -> None:
    repo.model(MODEL, _file("{}", length=2**64 - 1))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=[f"exceeds the {16 << 20}-byte"])


def test_safetensors_header_length_zero(repo: HostileRepo) -> None:
    repo.model(MODEL, _file(b""))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["not valid JSON"])


def test_safetensors_invalid_json(repo: HostileRepo) -> None:
    repo.model(MODEL, _file(b'{"a": {"dtype": "F32",'))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["not valid JSON"])


def test_safetensors_json_nan(repo: HostileRepo) -> None:
    repo.model(MODEL, _file(b'{"__metadata__": NaN}'))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["not valid JSON"])


def test_safetensors_invalid_utf8(repo: HostileRepo) -> None:
    repo.model(MODEL, _file(b'{"\xff\xfe": {}}'))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["UTF-8"])


def test_safetensors_deeply_nested_json(repo: HostileRepo) -> None:
    # json.loads raised RecursionError, which became an internal error (exit 3).
    repo.model(MODEL, _file(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["nests too deeply"])


def test_safetensors_header_is_a_list(repo: HostileRepo) -> None:
    repo.model(MODEL, _file(b"[]"))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["not an object"])


def test_safetensors_duplicate_tensor_names(repo: HostileRepo) -> None:
    one = json.dumps(_tensor(0, 4))
    repo.model(MODEL, _file(f'{{"a": {one}, "a": {one}}}', b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["duplicate key 'a'"])


def test_safetensors_overlapping_offsets(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 8), "b": _tensor(4, 12)}, b"\0" * 12))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["overlap"])


def test_safetensors_gap_between_tensors(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4), "b": _tensor(8, 12)}, b"\0" * 12))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["gap"])


def test_safetensors_offsets_past_the_file(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 2**40)}, b"\0" * 16))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["truncated"])


def test_safetensors_offsets_end_before_begin(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(8, 4, shape=[1])}, b"\0" * 8))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["end before they begin"])


def test_safetensors_unknown_dtype(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4, shape=[1], dtype="F128")}, b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["unknown dtype 'F128'"])


def test_safetensors_huge_dtype_string_is_elided(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4, shape=[1], dtype="X" * 1_000_000)}, b"\0" * 4))
    message = repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["unknown dtype"])
    assert len(message) < 2000


def test_safetensors_negative_dimension(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4, shape=[-1])}, b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["non-negative integers"])


def test_safetensors_shape_times_dtype_is_not_the_span(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4, shape=[2**20, 2**20])}, b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["needs 4398046511104 bytes"])


def test_safetensors_trailing_garbage(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"a": _tensor(0, 4)}, b"\0" * 4 + b"#!/bin/sh\n"))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["trailing data"])


def test_safetensors_metadata_not_strings(repo: HostileRepo) -> None:
    repo.model(MODEL, _file({"__metadata__": {"n": 1}}))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["__metadata__"])


def test_safetensors_tensor_name_with_workflow_command(repo: HostileRepo) -> None:
    name = "a\n::error file=x::injected"
    repo.model(MODEL, _file({name: _tensor(0, 4, dtype="F99")}, b"\0" * 4))
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["injected"])


def test_safetensors_metadata_lone_surrogate_in_text_inspect(repo: HostileRepo) -> None:
    # Valid JSON, but not encodable: printing it must not crash the text output.
    repo.write(MODEL, _file('{"__metadata__": {"k": "\\ud800\\u001b[2J"}}'))
    outcome = repo.run("inspect", MODEL)
    repo.expect(outcome, 0)
    assert "\x1b" not in outcome.stdout


def test_safetensors_shard_index_escapes_folder(repo: HostileRepo) -> None:
    repo.write("models/ckpt/a.safetensors", _file({}))
    repo.write("models/ckpt/model.safetensors.index.json",
               json.dumps({"weight_map": {"w": "../../../outside/secret.txt"}}))
    repo.model("models/ckpt")
    repo.expect(repo.check(), 2, rule="DG202", file="models/ckpt", says=["outside the checkpoint"])


def test_safetensors_shard_index_absolute(repo: HostileRepo) -> None:
    repo.write("models/ckpt/a.safetensors", _file({}))
    repo.write("models/ckpt/model.safetensors.index.json",
               json.dumps({"weight_map": {"w": str(repo.secret)}}))
    repo.model("models/ckpt")
    repo.expect(repo.check(), 2, rule="DG202", file="models/ckpt", says=["outside the checkpoint"])


def test_safetensors_shard_symlink_out(repo: HostileRepo) -> None:
    repo.write("models/ckpt/a.safetensors", _file({}))
    os.symlink(repo.secret, repo.root / "models/ckpt/b.safetensors")
    repo.write("models/ckpt/model.safetensors.index.json",
               json.dumps({"weight_map": {"w": "b.safetensors"}}))
    repo.model("models/ckpt")
    repo.expect(repo.check(), 2, rule="DG106", file="models/ckpt", says=["leads out of the model's folder"])


def test_safetensors_index_deeply_nested(repo: HostileRepo) -> None:
    repo.write("models/ckpt/a.safetensors", _file({}))
    repo.write("models/ckpt/model.safetensors.index.json", "[" * 100_000 + "]" * 100_000)
    repo.model("models/ckpt")
    repo.expect(repo.check(), 2, rule="DG202", file="models/ckpt", says=["not valid JSON"])


def test_safetensors_git_lfs_pointer(repo: HostileRepo) -> None:
    repo.model(MODEL, b"version https://git-lfs.github.com/spec/v1\noid sha256:"
                      + b"1" * 64 + b"\nsize 999\n")
    repo.expect(repo.check(), 2, rule="DG204", file=MODEL, says=["Git LFS pointer"])
