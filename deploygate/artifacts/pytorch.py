"""PyTorch checkpoints and TorchScript archives, read without unpickling anything.

Three layouts are recognized:

- zip (torch.save's default since 1.6): ``<archive>/data.pkl`` plus one member
  ``<archive>/data/<key>`` per storage; TorchScript archives add ``code/`` and
  ``constants.pkl``;
- legacy (``_use_new_zipfile_serialization=False``): five pickles back to back (magic number,
  protocol version, system info, the object, the storage keys) and then the raw storages;
- a plain pickle (a ``.bin`` that is just a pickled dict).

Every pickle is walked by :mod:`deploygate.artifacts.pickle_scan`; any global outside its
allowlist makes the file unsafe (DG203). Zip members are read in memory, only the pickles,
after caps on member count, sizes and compression ratio.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from deploygate.artifacts.base import ArtifactInfo
from deploygate.artifacts.checkpoint import Layout, classify, training_state_json
from deploygate.artifacts.pickle_scan import (
    MAX_PICKLE_BYTES,
    PickleScan,
    PickleScanError,
    StorageRef,
    TensorRef,
    scan_pickle,
    starts_like_pickle,
    unsafe_globals,
)
from deploygate.errors import ArtifactError
from deploygate.pickle_policy import refusal
from deploygate.artifacts.base import DG203, DG205, DG211
from deploygate.errors import DG202

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_MEMBERS = 100_000
MAX_CENTRAL_DIRECTORY = 16 << 20
MAX_COMPRESSION_RATIO = 100  # torch writes members stored (ratio 1); deflate rarely beats 10
MAX_NAMES_SHOWN = 100  # unsafe globals named in one message
EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
CONVERT_HINT = ("convert the weights to safetensors (safetensors.torch.save_file) in a trusted "
                "environment, and never torch.load this file")


_ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError,
    RuntimeError, UnicodeDecodeError, struct.error, OverflowError, zlib.error)
try:  # a member may claim LZMA compression; the module is optional in some Pythons
    import lzma
    _ZIP_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover
    pass


class _Unsafe(Exception):
    """The file would run code, or is built to attack its reader."""


class _Corrupt(Exception):
    """The file is truncated or does not add up."""


class _Unsupported(Exception):
    """The file is not a layout this reader knows."""


class _NotAModel(Exception):
    """The file is a valid checkpoint with no model weights in it."""


def refuse_unsafe_pickle(path: Path, display: str, *,
                         allow_globals: frozenset[str] = frozenset()) -> None:
    """Judge ``path`` as the pickle ``torch.load`` would read, whatever else it also is.

    For a file named like a PyTorch checkpoint that another reader inspected (a pickle that
    also parses as TFLite, say): the unpickler calls what it meets as it goes, so a file is
    unsafe (DG203) when walking it as a pickle meets a global outside the allowlist, even if
    the walk then fails. A file that is no pickle at all meets none.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        try:
            globals_ = scan_pickle(f, start=0, end=size).globals
        except PickleScanError as e:
            globals_ = e.globals_seen
    try:
        _refuse_globals(globals_, "read as a pickle (as torch.load would), it", False,
                        frozenset(n for n in allow_globals if refusal(n) is None))
    except _Unsafe as e:
        raise ArtifactError(f"unsafe: {e}; {CONVERT_HINT}", file=display, rule=DG203) from None


def inspect(path: Path, display: str, *, allow_globals: frozenset[str] = frozenset()
            ) -> ArtifactInfo:
    """Read a PyTorch checkpoint or TorchScript archive's structure; never unpickle it.

    ``allow_globals``: names from ``security.allow_globals`` the team has reviewed; a name
    that can run code is never honoured (the manifest refuses it first).
    """
    allowed = frozenset(n for n in allow_globals if refusal(n) is None)
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            head = f.read(4)
            if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
                try:
                    return _inspect_zip(f, size, path, display, allowed)
                except _ZIP_ERRORS as e:
                    # what zipfile raises on hostile or broken archives, wherever it reads
                    raise _Corrupt(f"cannot read the zip archive ({type(e).__name__}: {e})"
                                   ) from None
            if starts_like_pickle(head):
                return _inspect_pickles(f, size, path, display, allowed)
            raise _Unsupported("neither a zip archive nor a pickle")
    except _Unsafe as e:
        raise ArtifactError(f"unsafe: {e}; {CONVERT_HINT}", file=display, rule=DG203) from None
    except _Corrupt as e:
        raise ArtifactError(f"corrupt PyTorch file: {e}", file=display, rule=DG202) from None
    except _NotAModel as e:
        raise ArtifactError(f"not a model: {e}", file=display, rule=DG211) from None
    except _Unsupported as e:
        raise ArtifactError(f"not a PyTorch checkpoint deploygate reads: {e}; save the state "
                            "dict with torch.save, or export to safetensors", file=display,
                            rule=DG205) from None
    except OSError as e:
        raise ArtifactError(f"cannot read the file: {e.strerror or e}", file=display,
                            rule=DG202) from e


# -- pickles ----------------------------------------------------------------------------------

def _scan(f: BinaryIO, start: int, end: int, what: str, allowed: frozenset[str], *,
          torchscript: bool = False) -> PickleScan:
    """Scan one pickle; unsafe globals win over every other problem."""
    try:
        scan = scan_pickle(f, start=start, end=end)
    except PickleScanError as e:
        _refuse_globals(e.globals_seen, what, torchscript, allowed)
        raise _Unsafe(f"{what} cannot be verified ({e}), so it is treated as unsafe") from None
    _refuse_globals(scan.globals, what, torchscript, allowed)
    return scan


def _refuse_globals(globals_: tuple[tuple[str, str], ...], what: str, torchscript: bool,
                    allowed: frozenset[str]) -> None:
    bad = [g for g in unsafe_globals(globals_, torchscript=torchscript) if g not in allowed]
    if bad:
        # every name, so that a reviewed checkpoint's allowlist can be written from the message
        shown = ", ".join(f"`{g}`" for g in bad[:MAX_NAMES_SHOWN]) + (
            f" and {len(bad) - MAX_NAMES_SHOWN} more" if len(bad) > MAX_NAMES_SHOWN else "")
        never = [g for g in bad if refusal(g) is not None]
        allowable = [g for g in bad if refusal(g) is None]
        advice = ("; if you have reviewed the file and trust these classes, list them under "
                  "`security.allow_globals`" if allowable and not never else
                  f"; {len(never)} of them can run code and can never be allowed"
                  if never else "")
        raise _Unsafe(f"{what} imports {len(bad)} global{'s' * (len(bad) > 1)} not allowed: "
                      f"{shown}, which loading would call{advice}")


def _inspect_pickles(f: BinaryIO, size: int, path: Path, display: str,
                     allowed: frozenset[str]) -> ArtifactInfo:
    first = _scan(f, 0, size, "the pickle", allowed)
    if not (first.result_kind == "int" and first.result == LEGACY_MAGIC):
        # a plain pickle: whatever it holds, it held no unsafe global
        return _info(path, display, size, "pytorch", [first], {}, "pickle")
    pos = first.end
    proto = _scan(f, pos, size, "the legacy protocol pickle", allowed)
    if proto.result != LEGACY_PROTOCOL:
        raise _Corrupt(f"legacy protocol version {proto.result!r} (expected {LEGACY_PROTOCOL})")
    pos += proto.end
    sys_info = _scan(f, pos, size, "the legacy system-info pickle", allowed)
    pos += sys_info.end
    main = _scan(f, pos, size, "the checkpoint pickle", allowed)
    pos += main.end
    keys_scan = _scan(f, pos, size, "the legacy storage-key pickle", allowed)
    pos += keys_scan.end
    keys = keys_scan.result
    if not isinstance(keys, list) or set(keys) != set(main.storages) or len(keys) != len(
            set(keys)):
        raise _Corrupt("the legacy storage-key list does not match the storages the "
                       "checkpoint names")
    # each storage: its element count (int64, little-endian) then its bytes
    for key in keys:
        ref = main.storages[key]
        if pos + 8 > size:
            raise _Corrupt(f"storage {key!r} at offset {pos}: the file ends early (truncated)")
        f.seek(pos)
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != ref.numel:
            raise _Corrupt(f"storage {key!r} at offset {pos} holds {numel} elements; the "
                           f"checkpoint says {ref.numel}")
        pos += 8 + ref.nbytes
        if pos > size:
            raise _Corrupt(f"storage {key!r} ends at byte {pos}, past the end of the file "
                           f"({size} bytes): the file is truncated")
    return _info(path, display, size, "pytorch", [main], {}, "legacy")


# -- zip --------------------------------------------------------------------------------------

def _check_central_directory(f: BinaryIO, size: int) -> None:
    """Refuse archives whose central directory is too large before zipfile reads it whole."""
    tail_len = min(size, 22 + 65_535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(EOCD)
    if at < 0 or at + 22 > len(tail):
        raise _Corrupt("no zip end-of-central-directory record (truncated archive)")
    # EOCD: signature, disk numbers (2 x 2), entries on this disk, entries, size, offset
    entries, cd_size, cd_offset = struct.unpack("<HII", tail[at + 10:at + 20])
    cd_end = size - tail_len + at  # the directory ends where its end record starts
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        loc = tail.rfind(EOCD64_LOCATOR, 0, at)
        if loc < 0 or loc + 20 > len(tail):
            raise _Corrupt("a zip64 archive without its zip64 locator")
        (eocd64,) = struct.unpack("<Q", tail[loc + 8:loc + 16])
        if eocd64 + 56 > size:
            raise _Corrupt("the zip64 end record lies past the end of the file")
        f.seek(eocd64)
        rec = f.read(56)
        if rec[:4] != b"PK\x06\x06":
            raise _Corrupt("bad zip64 end record")
        entries, cd_size, cd_offset = struct.unpack("<QQQ", rec[32:56])
        cd_end = eocd64
    if entries > MAX_MEMBERS:
        raise _Corrupt(f"the archive lists {entries} members (limit {MAX_MEMBERS})")
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise _Corrupt(f"the zip central directory claims {cd_size} bytes "
                       f"(limit {MAX_CENTRAL_DIRECTORY >> 20} MiB)")
    if cd_offset + cd_size > size:
        raise _Corrupt(f"the zip central directory ({cd_size} bytes at offset {cd_offset}) "
                       f"lies past the end of the file ({size} bytes): the archive is truncated")
    # Where zipfile will read the directory: just before the end record, wherever cd_offset
    # says (it allows for data prepended to the archive).
    _count_members(f, max(cd_end - cd_size, 0), cd_size)


def _count_members(f: BinaryIO, cd_start: int, cd_size: int) -> None:
    """Count the central directory's records before zipfile builds an object for each.

    The end record's member count is only a claim: zipfile reads records until the directory's
    bytes run out, so a directory of small records under its size cap could still list over a
    million members (a ZipInfo each, hundreds of megabytes).
    """
    f.seek(cd_start)
    cd = f.read(cd_size)
    count = pos = 0
    while pos + 46 <= len(cd) and cd[pos:pos + 4] == b"PK\x01\x02":
        name, extra, comment = struct.unpack_from("<HHH", cd, pos + 28)
        pos += 46 + name + extra + comment
        count += 1
        if count > MAX_MEMBERS:
            raise _Corrupt(f"the zip central directory holds more than {MAX_MEMBERS} members "
                           "(whatever its end record claims)")


def _check_name(name: str) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in parts
            or (len(name) > 1 and name[1] == ":")):
        raise _Unsafe(f"archive member {name!r} is an absolute path or climbs out of the "
                      "archive (zip slip)")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_PICKLE_BYTES:
        raise _Corrupt(f"member {info.filename!r} is {info.file_size} bytes "
                       f"(limit {MAX_PICKLE_BYTES >> 20} MiB)")
    with zf.open(info) as member:
        return member.read(info.file_size)


def _inspect_zip(f: BinaryIO, size: int, path: Path, display: str,
                 allowed: frozenset[str]) -> ArtifactInfo:
    _check_central_directory(f, size)
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if not infos:
            raise _Unsupported("an empty zip archive")
        names: set[str] = set()
        folded: set[str] = set()
        for info in infos:
            _check_name(info.filename)
            # PyTorch's reader (miniz) finds members ignoring case: two names that differ only
            # in case are one member to it, and it and a scanner could read different copies.
            if info.filename.lower() in folded:
                raise _Unsafe(f"archive member {info.filename!r} appears twice (names are "
                              "compared ignoring case, as PyTorch's reader does)")
            names.add(info.filename)
            folded.add(info.filename.lower())
            if info.header_offset + info.compress_size > size:
                raise _Corrupt(f"member {info.filename!r} lies past the end of the file "
                               "(truncated archive)")
            if (info.compress_type != zipfile.ZIP_STORED
                    and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)):
                raise _Unsafe(f"member {info.filename!r} expands {info.file_size} bytes from "
                              f"{info.compress_size} (a zip bomb)")
        # like torch's reader: the archive's folder is the first member's top folder
        prefix = infos[0].filename.split("/", 1)[0] + "/"
        stray = [n for n in names if not n.startswith(prefix)]
        if stray:
            raise _Unsafe(f"member {stray[0]!r} lies outside the archive folder {prefix!r}, "
                          "where PyTorch would not look but another reader might")
        by_name = {i.filename: i for i in infos}
        torchscript = any(n.startswith(prefix + "code/") for n in names) or (
            prefix + "constants.pkl") in names
        if prefix + "data.pkl" not in names:
            raise _Unsupported(f"a zip archive without {prefix}data.pkl")
        scans: dict[str, PickleScan] = {}
        # every pickle in the archive, debug info included, is something a loader reads
        for name in sorted(names):
            if name.lower().endswith((".pkl", ".debug_pkl")):
                data = _read_member(zf, by_name[name])
                scans[name] = _scan(io.BytesIO(data), 0, len(data), name.removeprefix(prefix),
                                    allowed,
                                    torchscript=torchscript)
        main = scans[prefix + "data.pkl"]
        for key, ref in main.storages.items():
            member = by_name.get(f"{prefix}data/{key}")
            if member is None:
                raise _Corrupt(f"storage {key!r} has no member {prefix}data/{key}")
            if member.file_size < ref.nbytes:
                raise _Corrupt(f"member {prefix}data/{key} holds {member.file_size} bytes; its "
                               f"storage needs {ref.nbytes}")
        details: dict[str, object] = {}
        if prefix + "byteorder" in names:
            details["byteorder"] = _read_member(zf, by_name[prefix + "byteorder"]).decode(
                "ascii", "replace").strip()[:16]
        if torchscript:
            details["code_files"] = sum(1 for n in names if n.startswith(prefix + "code/")
                                        and n.endswith(".py"))
            constants = scans.get(prefix + "constants.pkl")
            details["constant_tensors"] = len(constants.tensors) if constants else 0
            details["note"] = ("TorchScript: loading runs the code in code/; "
                               "params are the module's tensors in data.pkl")
        fmt = "torchscript" if torchscript else "pytorch"
        return _info(path, display, size, fmt, [main], details, "zip")


# -- the result -------------------------------------------------------------------------------

def _info(path: Path, display: str, size: int, fmt: str, scans: list[PickleScan],
          details: dict[str, object], serialization: str) -> ArtifactInfo:
    tensors: dict[TensorRef, None] = {}
    storages: dict[str, StorageRef] = {}
    for scan in scans:
        tensors.update(dict.fromkeys(scan.tensors))
        storages.update(scan.storages)
    layout = classify(scans[0].sections) if fmt == "pytorch" else None
    training_state = None
    if layout is not None:
        if layout.kind == "optimizer":
            raise _NotAModel(
                "it holds an optimizer's state (torch.optim state_dict: "
                f"{len(layout.parts['optimizer'])} tensors of moments and steps) and no "
                "model weights; save model.state_dict() and point `path` at that file")
        tensors = dict.fromkeys(layout.model)
        model_storages = {t.storage_key for t in tensors}
        training_state = training_state_json(layout, storages, model_storages)
        storages = {k: v for k, v in storages.items() if k in model_storages}
        details["checkpoint"] = _describe(layout)
    if not tensors:
        raise _NotAModel("it holds no tensors at all, so no model weights; point `path` at "
                         "the file torch.save(model.state_dict(), ...) wrote")
    # an untyped storage (torch >= 2.x, dtype in the rebuild call) takes its tensors' dtype
    dtype_of: dict[str, str] = {}
    views: dict[str, int] = {}
    for t in tensors:
        dtype_of.setdefault(t.storage_key, t.dtype)
        views[t.storage_key] = views.get(t.storage_key, 0) + 1
    by_dtype: dict[str, int] = {}
    for key, ref in storages.items():
        name = dtype_of.get(key, ref.dtype)
        by_dtype[name] = by_dtype.get(name, 0) + ref.nbytes
    globals_ = sorted({f"{m}.{n}" for s in scans for m, n in s.globals})
    # past the scan, every global outside the built-in allowlist is one the manifest allowed
    allowed_used = sorted(set(unsafe_globals(tuple(g for s in scans for g in s.globals),
                                             torchscript=fmt == "torchscript")))
    if allowed_used:
        details["allowed_globals"] = allowed_used
    return ArtifactInfo(
        path=display, format=fmt, size_bytes=size,
        params=sum(t.numel for t in tensors), bytes_by_dtype=by_dtype, files=(path.name,),
        details={"serialization": serialization, "tensor_count": len(tensors),
                 "storage_count": len(storages),
                 "shared_storages": sum(1 for n in views.values() if n > 1),
                 "globals": globals_, **details},
        runnable=False, contains_code=fmt == "torchscript", training_state=training_state)


def _describe(layout: Layout) -> str:
    """One line for `inspect`: what the checkpoint holds."""
    if layout.kind == "ema":
        return (f"EMA weights only (an exponential-moving-average copy under "
                f"{', '.join(layout.model_keys)}): params count them")
    return (f"a training checkpoint: params count the model's weights under "
            f"{', '.join(layout.model_keys)}")
