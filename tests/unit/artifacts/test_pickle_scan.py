"""The pickle walker: globals found in every protocol, tensors followed, nothing executed."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploygate.artifacts.pickle_scan import (
    PickleScanError,
    scan_pickle,
    starts_like_pickle,
    unsafe_globals,
)


def scan(data: bytes, **kw: Any):
    return scan_pickle(io.BytesIO(data), end=len(data), **kw)


class Reduce:
    """Pickles as ``func(*args)``: how a malicious pickle is made (writing, never loading)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def dotted(g: tuple[str, str]) -> str:
    return f"{g[0]}.{g[1]}"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("func, name", [
    (os.system, f"{os.name}.system" if os.name != "posix" else "posix.system"),
    (eval, "builtins.eval"),
    (exec, "builtins.exec"),
    (subprocess.Popen, "subprocess.Popen"),
])
def test_every_protocol_names_the_global(tmp_path: Path, protocol: int, func: Any,
                                         name: str) -> None:
    canary = tmp_path / "canary"
    arg = f"touch {canary}" if func is not subprocess.Popen else ["touch", str(canary)]
    if func in (eval, exec):
        arg = f"open({str(canary)!r}, 'w')"
    data = pickle.dumps({"w": Reduce(func, arg)}, protocol=protocol)
    result = scan(data)
    assert name in unsafe_globals(result.globals)
    assert not canary.exists()


def test_stack_global_with_memoized_strings() -> None:
    # strings memoized early, fetched back, then STACK_GLOBAL: no literal "posix system" pair
    data = (b"\x80\x04"
            b"\x8c\x05posix\x94" b"\x8c\x06system\x94" b"00"  # push, memoize, pop both
            b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
            b"\x8c\x04true\x85R.")
    assert unsafe_globals(scan(data).globals) == ["posix.system"]


def test_stack_global_from_a_non_string_cannot_be_verified() -> None:
    data = b"\x80\x04K\x01K\x02\x93."
    with pytest.raises(PickleScanError, match="not a string"):
        scan(data)


def test_dotted_names_out_of_allowlisted_modules_are_not_allowed() -> None:
    # protocol 4 resolves dotted names with getattr: one step from a safe function to its globals
    data = b"\x80\x04\x8c\x0ctorch._utils\x8c\x22_rebuild_tensor_v2.__globals__.get\x93."
    assert unsafe_globals(scan(data).globals) == [
        "torch._utils._rebuild_tensor_v2.__globals__.get"]


def test_inst_and_obj_opcodes_are_seen() -> None:
    inst = b"(S'touch x'\nios\nsystem\n."
    assert unsafe_globals(scan(inst).globals) == ["os.system"]


def test_extension_codes_are_unverifiable_globals() -> None:
    data = b"\x80\x02\x82\x01."
    assert unsafe_globals(scan(data).globals) == ["copyreg extension.1"]


def test_allowlisted_globals_pass() -> None:
    data = pickle.dumps({"a": {1, 2}, "b": frozenset({3}), "c": b"raw"}, protocol=2)
    result = scan(data)
    assert unsafe_globals(result.globals) == []
    assert ("_codecs", "encode") in result.globals


def test_torchscript_names_only_pass_in_torchscript_mode() -> None:
    data = b"\x80\x02c__torch__.Model\nModel\n)\x81."
    result = scan(data)
    assert unsafe_globals(result.globals) == ["__torch__.Model.Model"]
    assert unsafe_globals(result.globals, torchscript=True) == []
    evil = pickle.dumps(Reduce(os.system, "x"), protocol=2)
    assert unsafe_globals(scan(evil).globals, torchscript=True) == ["posix.system"]


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated"),
    (b"\x80\x02", "truncated"),
    (b"\x80\x02X\xff\xff\xff\x7f", "truncated"),  # a 2 GiB string in 8 bytes
    (b"\x80\x02\x8e" + struct.pack("<Q", 2**62), "truncated"),
    (b"\x80\x02\xff.", "malformed"),  # unknown opcode
    (b"\x80\x02a.", "malformed"),  # APPEND on an empty stack
    (b"\x80\x02h\x05.", "memo key 5"),  # GET before PUT
    (b"\x80\x02K\x01K\x02.", "left on the stack"),
    (b"\x80\x02t.", "MARK"),
    (b"cos\nsystem", "malformed"),  # no newline after the name
])
def test_malformed_pickles_raise(data: bytes, reason: str) -> None:
    with pytest.raises(PickleScanError, match=reason):
        scan(data)


def test_globals_seen_before_a_failure_are_reported() -> None:
    data = pickle.dumps(Reduce(os.system, "x"), protocol=2)[:-3]
    with pytest.raises(PickleScanError) as e:
        scan(data)
    assert ("posix", "system") in e.value.globals_seen


def test_pickles_longer_than_the_limit_are_refused() -> None:
    data = pickle.dumps(list(range(5000)), protocol=2)
    with pytest.raises(PickleScanError, match="limit"):
        scan(data, limit=1 << 10)


def storage_pid(dtype: str, key: str, numel: int) -> bytes:
    return (b"(X\x07\x00\x00\x00storage" + f"ctorch\n{dtype}\n".encode() +
            b"X" + struct.pack("<I", len(key)) + key.encode() + b"X\x03\x00\x00\x00cpu"
            + b"J" + struct.pack("<i", numel) + b"tQ")


def rebuild(pid: bytes, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    ints = lambda xs: b"(" + b"".join(b"J" + struct.pack("<i", x) for x in xs) + b"t"  # noqa
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"J" + struct.pack("<i", offset)
            + ints(size) + ints(stride) + b"\x89ccollections\nOrderedDict\n)Rt" + b"R")


def test_tensors_and_storages_are_followed() -> None:
    data = (b"\x80\x02}(X\x01\x00\x00\x00a" + rebuild(storage_pid("HalfStorage", "0", 12), 0,
                                                      (3, 4), (4, 1))
            + b"q\x00X\x01\x00\x00\x00bh\x00u.")  # "b" is the memoized "a": one tensor
    result = scan(data)
    assert unsafe_globals(result.globals) == []
    assert [(t.dtype, t.shape, t.numel) for t in result.tensors] == [("float16", (3, 4), 12)]
    assert result.storages["0"].nbytes == 24


def test_a_view_past_its_storage_does_not_add_up() -> None:
    data = rebuild(storage_pid("FloatStorage", "0", 4), 2, (3,), (1,)) + b"."
    with pytest.raises(PickleScanError, match="past the end of storage"):
        scan(b"\x80\x02" + data)


def test_unknown_storage_type_does_not_add_up() -> None:
    data = b"\x80\x02" + storage_pid("EvilStorage", "0", 4) + b"."
    with pytest.raises(PickleScanError, match="unknown storage type"):
        scan(data)


def test_starts_like_pickle() -> None:
    assert starts_like_pickle(b"\x80\x02")
    assert starts_like_pickle(b"cos\nsystem")
    assert not starts_like_pickle(b"\x00\x01")
    assert not starts_like_pickle(b"")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        scan(data)
    except PickleScanError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20) | st.binary(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids)
                    | st.dictionaries(st.text(max_size=5), kids, max_size=4),
                    max_leaves=30),
       st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_data_scans_clean_in_every_protocol(value: Any, protocol: int) -> None:
    result = scan(pickle.dumps(value, protocol=protocol))
    # protocols 0-2 write b"" as a call to builtins.bytes, which is not allowlisted
    # (bytes(n) allocates n bytes): a known, conservative false positive
    allowed = ["builtins.bytes"] if protocol < 3 else []
    assert [g for g in unsafe_globals(result.globals) if g not in allowed] == []
