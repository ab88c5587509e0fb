"""Hostile PyTorch pickles, zip archives, GGUF and TFLite files through the real command.

Pickles are written by ``pickle.dumps`` of objects whose ``__reduce__`` names the payload (which
never runs while writing), or byte by byte where the opcode matters; nothing here unpickles.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import warnings
import zipfile
from typing import Any

from tests.hostile.harness import HostileRepo

MODEL = "models/m.pt"


class _Reduce:
    """An object that pickles as a call of ``func(*args)``."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _state_dict_with(payload: Any, protocol: int) -> bytes:
    return pickle.dumps({"weight": payload}, protocol=protocol)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def _checkpoint(data_pkl: bytes) -> dict[str, bytes]:
    return {"archive/data.pkl": data_pkl, "archive/version": b"3\n",
            "archive/byteorder": b"little"}


# -- pickles: unsafe is a violation (exit 1), and nothing ever runs ---------------------------

def test_pickle_reduce_os_system(repo: HostileRepo) -> None:
    repo.model(MODEL, _state_dict_with(_Reduce(os.system, f"touch {repo.canary}"), 2))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["posix.system"])


def test_pickle_protocol0_global_os_system(repo: HostileRepo) -> None:
    repo.model(MODEL, f"cos\nsystem\n(S'touch {repo.canary}'\ntR.".encode())
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["os.system"])


def test_pickle_stack_global_builtins_eval(repo: HostileRepo) -> None:
    code = f"open({str(repo.canary)!r}, 'w')"
    repo.model(MODEL, _state_dict_with(_Reduce(eval, code), 4))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["builtins.eval"])


def test_pickle_python2_builtin_eval_is_mapped(repo: HostileRepo) -> None:
    # Protocol 2 names Python 2's __builtin__ module, which the unpickler maps to builtins.
    repo.model(MODEL, b"\x80\x02c__builtin__\neval\nX\x04\x00\x00\x00'hi'\x85R.")
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["builtins.eval"])


def test_pickle_subprocess_popen(repo: HostileRepo) -> None:
    repo.model(MODEL, _state_dict_with(_Reduce(subprocess.Popen, ["touch", str(repo.canary)]), 4))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["subprocess.Popen"])


def test_pickle_inst_opcode(repo: HostileRepo) -> None:
    repo.model(MODEL, f"(S'touch {repo.canary}'\nios\nsystem\n.".encode())
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["os.system"])


def test_pickle_truncated_after_unsafe_global(repo: HostileRepo) -> None:
    data = _state_dict_with(_Reduce(os.system, f"touch {repo.canary}"), 2)
    repo.model(MODEL, data[:-6])
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["posix.system"])


def test_pickle_truncated_is_never_clean(repo: HostileRepo) -> None:
    # Documented in docs/formats.md: a pickle that cannot be walked to its end is DG203.
    repo.model(MODEL, pickle.dumps({"a": list(range(100))}, protocol=2)[:60])
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["cannot be verified"])


def test_pickle_in_zip_checkpoint_reduce(repo: HostileRepo) -> None:
    evil = _state_dict_with(_Reduce(os.system, f"touch {repo.canary}"), 2)
    repo.model(MODEL, _zip(_checkpoint(evil)))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["posix.system"])


def test_pickle_hidden_in_second_pkl_member(repo: HostileRepo) -> None:
    members = _checkpoint(pickle.dumps({}, protocol=2))
    members["archive/extra.pkl"] = _state_dict_with(_Reduce(eval, "1"), 4)
    repo.model(MODEL, _zip(members))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["builtins.eval"])


def test_pickle_inspect_reports_unsafe_without_running(repo: HostileRepo) -> None:
    repo.write(MODEL, _state_dict_with(_Reduce(os.system, f"touch {repo.canary}"), 2))
    repo.expect(repo.inspect(MODEL), 1, file=MODEL, says=["unsafe"])


# -- zip archives -------------------------------------------------------------------------------

def test_zip_slip_member_name(repo: HostileRepo) -> None:
    members = _checkpoint(pickle.dumps({}, protocol=2))
    members["archive/../../../outside/evil.pkl"] = b"x"
    repo.model(MODEL, _zip(members))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["zip slip"])
    assert not (repo.outside / "evil.pkl").exists()


def test_zip_absolute_member_name(repo: HostileRepo) -> None:
    members = _checkpoint(pickle.dumps({}, protocol=2))
    members["/tmp/evil.pkl"] = b"x"
    repo.model(MODEL, _zip(members))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["zip slip"])


def test_zip_bomb_member(repo: HostileRepo) -> None:
    members = _checkpoint(b"\0" * (50 << 20))  # 50 MiB of zeros deflate to ~50 KiB
    repo.model(MODEL, _zip(members, zipfile.ZIP_DEFLATED))
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["zip bomb"])


def test_zip_duplicate_member_names(repo: HostileRepo) -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns, and writes the duplicate anyway
        zf.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        zf.writestr("archive/data.pkl", _state_dict_with(_Reduce(eval, "1"), 4))
    repo.model(MODEL, buffer.getvalue())
    repo.expect(repo.check(), 1, rule="DG203", file=MODEL, says=["appears twice"])


def test_zip_truncated(repo: HostileRepo) -> None:
    data = _zip(_checkpoint(pickle.dumps({"w": list(range(1000))}, protocol=2)))
    repo.model(MODEL, data[: len(data) - 30])
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["truncated"])


def test_zip_central_directory_claims_huge_member_count(repo: HostileRepo) -> None:
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFE, 0xFFFE, 2**31, 0, 0)
    repo.model(MODEL, b"PK\x03\x04" + b"\0" * 100 + eocd)
    repo.expect(repo.check(), 2, rule="DG202", file=MODEL, says=["central directory"])


# -- GGUF ---------------------------------------------------------------------------------------

def _s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _s(key.encode()) + struct.pack("<I", vtype) + payload


def _gguf(kvs: list[bytes], n_tensors: int = 0, tensors: bytes = b"", *, n_kv: int | None = None,
          version: int = 3) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kvs) if n_kv is None else n_kv)
    return head + b"".join(kvs) + tensors


GGUF = "models/m.gguf"
ARCH = _kv("general.architecture", 8, _s(b"llama"))


def _gguf_with_a_weight(kvs: list[bytes]) -> bytes:
    """A GGUF whose metadata is ``kvs`` and which holds one float32 weight (a model)."""
    info = _s(b"w") + struct.pack("<IQIQ", 1, 1, 0, 0)  # 1 dim of 1, F32, offset 0
    head = _gguf(kvs, 1, info)
    return head + b"\0" * (-len(head) % 32) + struct.pack("<f", 1.0)


def test_gguf_truncated_header(repo: HostileRepo) -> None:
    repo.model(GGUF, b"GGUF\x03\x00\x00\x00\x01")
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["truncated"])


def test_gguf_huge_tensor_count(repo: HostileRepo) -> None:
    repo.model(GGUF, _gguf([ARCH], n_tensors=2**63))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["tensor_count"])


def test_gguf_huge_metadata_count(repo: HostileRepo) -> None:
    repo.model(GGUF, _gguf([ARCH], n_kv=2**64 - 1))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["metadata_kv_count"])


def test_gguf_string_length_past_the_file(repo: HostileRepo) -> None:
    repo.model(GGUF, _gguf([_kv("general.name", 8, struct.pack("<Q", 2**62) + b"x")]))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["claims"])


def test_gguf_array_with_huge_count(repo: HostileRepo) -> None:
    payload = struct.pack("<IQ", 0, 2**60)
    repo.model(GGUF, _gguf([_kv("tokenizer.ggml.tokens", 9, payload)]))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["elements"])


def test_gguf_arrays_nested_too_deep(repo: HostileRepo) -> None:
    payload = struct.pack("<IQ", 9, 1) * 40 + struct.pack("<IQ", 0, 0)
    repo.model(GGUF, _gguf([_kv("x", 9, payload)]))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["nests arrays deeper"])


def test_gguf_tensor_with_too_many_dims(repo: HostileRepo) -> None:
    tensor = _s(b"w") + struct.pack("<I", 2**31) + b"\0" * 64
    repo.model(GGUF, _gguf([ARCH], 1, tensor))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["dimensions"])


def test_gguf_tensor_data_past_the_end(repo: HostileRepo) -> None:
    tensor = _s(b"w") + struct.pack("<I2QIQ", 2, 2**32, 2**32, 0, 0)
    repo.model(GGUF, _gguf([ARCH], 1, tensor))
    repo.expect(repo.check(), 2, rule="DG202", file=GGUF, says=["past the end"])


def test_gguf_unsupported_version(repo: HostileRepo) -> None:
    repo.model(GGUF, _gguf([ARCH], version=99))
    repo.expect(repo.check(), 2, rule="DG205", file=GGUF, says=["version 99"])


def test_gguf_nan_metadata_keeps_the_report_json(repo: HostileRepo) -> None:
    # A NaN context length reached the JSON report as a bare NaN, which JSON does not allow.
    nan = _kv("llama.context_length", 6, struct.pack("<f", float("nan")))
    repo.model(GGUF, _gguf_with_a_weight([ARCH, nan]))
    outcome = repo.check()
    repo.expect(outcome, 0)
    assert outcome.report is not None
    assert outcome.report["models"][0]["artifact"]["details"]["context_length"] is None


def test_gguf_chat_template_is_never_rendered(repo: HostileRepo) -> None:
    template = ("{{ cycler.__init__.__globals__.os.popen('touch " + str(repo.canary)
                + "').read() }}").encode()
    repo.model(GGUF, _gguf_with_a_weight([ARCH, _kv("tokenizer.chat_template", 8,
                                                    _s(template))]))
    repo.expect(repo.check(), 0)


# -- TFLite -------------------------------------------------------------------------------------

def test_tflite_truncated_flatbuffer(repo: HostileRepo) -> None:
    repo.model("models/m.tflite", b"\x1c\x00\x00\x00TFL3" + b"\xff" * 24)
    repo.expect(repo.check(), 2, rule="DG202", file="models/m.tflite")


def test_tflite_root_offset_past_the_end(repo: HostileRepo) -> None:
    repo.model("models/m.tflite", struct.pack("<I", 2**31) + b"TFL3" + b"\0" * 16)
    repo.expect(repo.check(), 2, rule="DG202", file="models/m.tflite")
