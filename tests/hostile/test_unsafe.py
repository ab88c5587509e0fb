"""Unsafe or forged files judged as their loader would read them.

A file is judged by every format it could be loaded as; zip members are found the way PyTorch's
reader finds them (ignoring case); a pickle's state cannot re-point a tensor; persistent ids
are only torch's own; a GGUF header ggml would refuse is corrupt, not counted.
"""

from __future__ import annotations

import os
import pickle
import struct

import pytest

from tests.hostile.harness import HostileRepo
from tests.hostile.test_formats import ARCH, GGUF, _checkpoint, _gguf, _kv, _Reduce, _s, _zip
from tests.unit.artifacts.test_pickle_scan import rebuild, storage_pid

MODEL = "models/m.pt"


def _touch(repo: HostileRepo) -> bytes:
    return pickle.dumps(_Reduce(os.system, f"touch {repo.canary}"), protocol=2)


def _i32(x: int) -> bytes:
    return b"J" + struct.pack("<i", x)


# -- every format a file could be loaded as ----------------------------------------------------

@pytest.mark.parametrize("name", ["model.pt", "model.pth", "model.bin", "model.ckpt"])
def test_pickle_that_is_also_a_valid_tflite_is_judged_as_a_pickle(
        repo: HostileRepo, name: str) -> None:
    flatbuffers = pytest.importorskip("flatbuffers")
    assert flatbuffers
    from tests.unit.artifacts.test_tflite import build_model

    tflite = build_model()
    # Bytes 0-3 are both the FlatBuffer's root offset and pickle opcodes (three EMPTY_TUPLEs,
    # then a BININT that swallows the "TFL3" identifier at 4-7); the pickle goes on to call
    # os.system. The model's tables sit at that root offset, about 1.2 GB in: a sparse file.
    head = b")))J" + b"TFL3"
    body = f"0000cos\nsystem\n(S'touch {repo.canary}'\ntR.".encode()
    (root,) = struct.unpack("<I", head[:4])
    (model_root,) = struct.unpack("<I", tflite[:4])
    path = repo.root / "models" / name
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.write(head + body)
        f.seek(root - model_root)
        f.write(tflite)
    repo.model(f"models/{name}")
    repo.expect(repo.check(), 1, rule="DG203", file=f"models/{name}", says=["os.system"])
    repo.expect(repo.inspect(f"models/{name}"), 1, says=["os.system"])


def test_a_tflite_named_pt_that_is_no_pickle_passes(repo: HostileRepo) -> None:
    pytest.importorskip("flatbuffers")
    from tests.unit.artifacts.test_tflite import build_model

    repo.model(MODEL, build_model())
    repo.expect(repo.check(), 0)


# -- zip members as PyTorch's reader finds them ------------------------------------------------

def test_zip_members_differing_only_in_case(repo: HostileRepo) -> None:
    safe = pickle.dumps({"w": 1}, protocol=2)
    members = {**_checkpoint(safe), "archive/DATA.PKL": _touch(repo)}
    repo.model(MODEL, _zip(members))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["ignoring case"])


def test_zip_pickle_with_an_uppercase_suffix_is_scanned(repo: HostileRepo) -> None:
    safe = pickle.dumps({"w": 1}, protocol=2)
    repo.model(MODEL, _zip({**_checkpoint(safe), "archive/extra.PKL": _touch(repo)}))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["posix.system"])


# -- pickles that would load something other than what they declare ---------------------------

def test_build_repoints_a_small_tensor_at_a_big_storage(repo: HostileRepo) -> None:
    small = rebuild(storage_pid("FloatStorage", "0", 1), 0, (1,), (1,))
    # Tensor.__setstate__((storage, offset, size, stride)) calls set_(): 1M elements.
    state = (b"(" + storage_pid("FloatStorage", "1", 1_000_000) + _i32(0)
             + b"(" + _i32(1_000_000) + b"t(" + _i32(1) + b"tt")
    data = b"\x80\x02}(X\x01\x00\x00\x00w" + small + state + b"bu."
    members = {**_checkpoint(data), "archive/data/0": b"\0" * 4,
               "archive/data/1": b"\0" * 4_000_000}
    repo.model(MODEL, _zip(members), extra=", limits: {max_params: 10}")
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["re-point"])


@pytest.mark.parametrize("pid", ["nested", "text", "other"])
def test_persistent_id_that_is_not_a_storage(repo: HostileRepo, pid: str) -> None:
    inner = _touch(repo)
    if pid == "nested":  # a loader's persistent_load that unpickles what the id carries
        ident = b"(X\x06\x00\x00\x00pickleB" + struct.pack("<I", len(inner)) + inner + b"tQ"
    elif pid == "text":  # protocol 0's PERSID: the id is a line of text
        ident = b"P" + inner.hex().encode() + b"\n"
    else:
        ident = b"(X\x05\x00\x00\x00evilsQ"
    data = b"\x80\x02}(X\x01\x00\x00\x00w" + ident + b"u."
    repo.model(MODEL, _zip(_checkpoint(data)))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["persistent id"])


# -- GGUF headers ggml would refuse ------------------------------------------------------------

def _tensor(name: bytes, dims: tuple[int, ...], offset: int) -> bytes:
    return _s(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, 0, offset)


def _with_data(head: bytes, nbytes: int) -> bytes:
    return head + b"\0" * (-len(head) % 32) + b"\0" * nbytes


def test_gguf_tensor_with_five_dims(repo: HostileRepo) -> None:
    repo.model(GGUF, _with_data(_gguf([ARCH], 1, _tensor(b"w", (1, 1, 1, 1, 1), 0)), 4))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["5 dimensions"])


def test_gguf_duplicate_metadata_key(repo: HostileRepo) -> None:
    name = _kv("general.name", 8, _s(b"a"))
    repo.model(GGUF, _with_data(_gguf([ARCH, name, name], 1, _tensor(b"w", (1,), 0)), 4))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["used twice"])


def test_gguf_overlapping_tensors(repo: HostileRepo) -> None:
    # Two 1M-element tensors over the same 4 MB: one model's worth of bytes counted twice.
    tensors = _tensor(b"a", (1 << 20,), 0) + _tensor(b"b", (1 << 20,), 32)
    repo.model(GGUF, _with_data(_gguf([ARCH], 2, tensors), (4 << 20) + 32))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["overlap"])
