"""GGUF (llama.cpp) reader: the header only, streamed through a bounded reader.

The header is the magic, a version, two counts, the key-value metadata and the tensor infos;
the weights follow, aligned. Every count and length is checked against the bytes left in the
file and against fixed caps before anything is allocated, so a hostile header costs at most a
few kilobytes of memory and one pass over the header bytes. Metadata values (chat templates
included) are kept as data and never rendered.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from deploygate.artifacts.base import ArtifactInfo
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG205, DG211
from deploygate.errors import DG202

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

MAX_TENSORS = 100_000  # a 400B-parameter MoE model has under 3,000; each costs ~0.5 KB here
MAX_KVS = 1_000_000
MAX_KEY_BYTES = 65_535  # the spec's own limit on key length
MAX_NAME_BYTES = 65_535
MAX_STRING_BYTES = 1 << 20  # longer metadata strings are skipped, not read
MAX_ARRAY_ELEMENTS = 10_000_000
MAX_ARRAY_DEPTH = 8
MAX_DIMS = 4  # GGML_MAX_DIMS: ggml refuses a tensor with more, so a reader must too
MAX_HEADER_BYTES = 1 << 30
KEPT_ARRAY_ELEMENTS = 64  # longer arrays (vocabularies, merges) are walked over, not kept
CHUNK = 1 << 20

# GGUF value types -> struct format of a scalar; STRING (8) and ARRAY (9) are handled apart.
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
                            7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_VALUE_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32",
                     6: "float32", 7: "bool", 8: "string", 9: "array", 10: "uint64",
                     11: "int64", 12: "float64"}


@dataclass(frozen=True)
class GGMLType:
    """A ggml tensor element type: its report name and its block layout."""

    name: str
    """Name in ``bytes_by_dtype``: numpy-style for plain types, ggml's lowercase otherwise."""
    block_size: int
    """Elements per block (1 for plain types)."""
    type_size: int
    """Bytes per block."""


# ggml_type id -> layout, as ggml defines it (ggml.h / ggml.c type traits).
GGML_TYPES: dict[int, GGMLType] = {i: GGMLType(*t) for i, t in {
    0: ("float32", 1, 4), 1: ("float16", 1, 2),
    2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24),
    8: ("q8_0", 32, 34), 9: ("q8_1", 32, 40),
    10: ("q2_k", 256, 84), 11: ("q3_k", 256, 110), 12: ("q4_k", 256, 144),
    13: ("q5_k", 256, 176), 14: ("q6_k", 256, 210), 15: ("q8_k", 256, 292),
    16: ("iq2_xxs", 256, 66), 17: ("iq2_xs", 256, 74), 18: ("iq3_xxs", 256, 98),
    19: ("iq1_s", 256, 50), 20: ("iq4_nl", 32, 18), 21: ("iq3_s", 256, 110),
    22: ("iq2_s", 256, 82), 23: ("iq4_xs", 256, 136),
    24: ("int8", 1, 1), 25: ("int16", 1, 2), 26: ("int32", 1, 4), 27: ("int64", 1, 8),
    28: ("float64", 1, 8), 29: ("iq1_m", 256, 56), 30: ("bfloat16", 1, 2),
    34: ("tq1_0", 256, 54), 35: ("tq2_0", 256, 66), 39: ("mxfp4", 32, 17),
}.items()}

# general.file_type (llama_ftype) -> the quantization name llama.cpp prints.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}


@dataclass(frozen=True)
class SkippedArray:
    """A metadata array too long to keep: only its element type and length are known."""

    element_type: str
    """GGUF value type of the elements (``string``, ``int32``, ``array``...)."""
    length: int
    """Number of elements."""


@dataclass(frozen=True)
class SkippedString:
    """A metadata string longer than the cap: only its length is known."""

    length: int
    """Length in bytes."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it."""

    name: str
    """Tensor name."""
    dims: tuple[int, ...]
    """Dimensions, innermost first (ggml order)."""
    ggml_type: int
    """ggml_type id."""
    offset: int
    """Offset of the data from the start of the data section."""


@dataclass(frozen=True)
class GGUFHeader:
    """The parsed header of a GGUF file."""

    version: int
    """GGUF version (2 or 3)."""
    metadata: dict[str, Any]
    """Key-value metadata; long arrays and strings appear as SkippedArray / SkippedString."""
    tensors: tuple[TensorInfo, ...]
    """Tensor infos in file order."""
    alignment: int
    """Data alignment (``general.alignment``, default 32)."""
    data_offset: int
    """Absolute offset of the tensor data section."""


class _Corrupt(Exception):
    """Raised inside the parser; turned into one ArtifactError with the file's name."""


class _BoundedReader:
    """Sequential reads from a file, in chunks, never past its end nor past the header cap."""

    def __init__(self, f: BinaryIO, size: int, cap: int) -> None:
        self._f = f
        self._size = size
        self._limit = min(size, cap)
        self._buf = b""
        self._buf_start = 0  # file offset of self._buf[0]
        self.pos = 0

    @property
    def remaining(self) -> int:
        """Bytes left in the file after the current position."""
        return self._size - self.pos

    def need(self, n: int, what: str) -> None:
        """Fail unless ``n`` more bytes exist within the file and the header cap."""
        if n < 0 or self.pos + n > self._size:
            raise _Corrupt(f"{what} at offset {self.pos} needs {n} bytes but the file has "
                           f"{self.remaining} left (truncated or corrupt)")
        if self.pos + n > self._limit:
            raise _Corrupt(f"{what} at offset {self.pos} runs the header past the "
                           f"{MAX_HEADER_BYTES >> 20} MiB cap")

    def read(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes, checked first."""
        self.need(n, what)
        rel = self.pos - self._buf_start
        if rel + n > len(self._buf):
            self._f.seek(self.pos)
            self._buf = self._f.read(max(n, CHUNK))
            self._buf_start = self.pos
            rel = 0
            if len(self._buf) < n:
                raise _Corrupt(f"{what} at offset {self.pos}: the file ended early")
        self.pos += n
        return self._buf[rel:rel + n]

    def skip(self, n: int, what: str) -> None:
        """Move past ``n`` bytes without reading them, checked first."""
        self.need(n, what)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Any:
        """One little-endian scalar."""
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]


def _read_string(r: _BoundedReader, what: str, cap: int, *, keep: bool = True) -> Any:
    start = r.pos
    n = r.unpack("<Q", f"{what} length")
    if n > r.remaining:
        raise _Corrupt(f"{what} at offset {start} claims {n} bytes but the file has "
                       f"{r.remaining} left")
    if n > cap:
        if cap < MAX_STRING_BYTES:  # keys and names have hard limits
            raise _Corrupt(f"{what} at offset {start} is {n} bytes long (limit {cap})")
        r.skip(n, what)
        return SkippedString(n)
    if not keep:
        r.skip(n, what)
        return None
    raw = r.read(n, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Corrupt(f"{what} at offset {start} is not UTF-8") from e


def _read_value(r: _BoundedReader, vtype: int, what: str, depth: int, keep: bool) -> Any:
    fmt = _SCALARS.get(vtype)
    if fmt is not None:
        if not keep:
            r.skip(struct.calcsize(fmt), what)
            return None
        return r.unpack(fmt, what)
    if vtype == _STRING:
        return _read_string(r, what, MAX_STRING_BYTES, keep=keep)
    if vtype == _ARRAY:
        return _read_array(r, what, depth + 1, keep)
    raise _Corrupt(f"{what} at offset {r.pos} has unknown value type {vtype}")


def _read_array(r: _BoundedReader, what: str, depth: int, keep: bool) -> Any:
    start = r.pos
    if depth > MAX_ARRAY_DEPTH:
        raise _Corrupt(f"{what} at offset {start} nests arrays deeper than {MAX_ARRAY_DEPTH}")
    etype = r.unpack("<I", f"{what} element type")
    n = r.unpack("<Q", f"{what} length")
    fmt = _SCALARS.get(etype)
    if fmt is None and etype not in (_STRING, _ARRAY):
        raise _Corrupt(f"{what} at offset {start} has unknown element type {etype}")
    # the smallest encoding of one element: a scalar's width, a string's or array's length
    min_size = struct.calcsize(fmt) if fmt else (8 if etype == _STRING else 12)
    if n > MAX_ARRAY_ELEMENTS:
        raise _Corrupt(f"{what} at offset {start} claims {n} elements "
                       f"(limit {MAX_ARRAY_ELEMENTS})")
    if n * min_size > r.remaining:
        raise _Corrupt(f"{what} at offset {start} claims {n} elements but the file has "
                       f"{r.remaining} bytes left")
    if keep and n <= KEPT_ARRAY_ELEMENTS:
        return [_read_value(r, etype, f"{what}[{i}]", depth, True) for i in range(n)]
    if fmt is not None:
        r.skip(n * min_size, what)
    else:
        # strings and arrays have their own lengths: walk them, keeping nothing
        for _ in range(n):
            _read_value(r, etype, what, depth, False)
    if not keep:
        return None
    return SkippedArray(_VALUE_TYPE_NAMES[etype], n)


def read_header(f: BinaryIO, size: int) -> GGUFHeader:
    """Parse the GGUF header of an open file of ``size`` bytes (raises _Corrupt)."""
    r = _BoundedReader(f, size, MAX_HEADER_BYTES)
    if r.read(4, "magic") != MAGIC:
        raise _Corrupt("does not start with the GGUF magic")
    version = r.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        raise _UnsupportedVersion(version)
    n_tensors = r.unpack("<Q", "tensor_count")
    n_kv = r.unpack("<Q", "metadata_kv_count")
    # smallest possible entries: a tensor info is 8 (name length) + 4 + 4 + 8 bytes, a
    # key-value 8 (key length) + 4 (type) + 1 (uint8 value)
    if n_tensors > MAX_TENSORS or n_tensors * 24 > r.remaining:
        raise _Corrupt(f"tensor_count at offset 8 is {n_tensors}: impossible for a file with "
                       f"{r.remaining} bytes left (limit {MAX_TENSORS})")
    if n_kv > MAX_KVS or n_kv * 13 > r.remaining:
        raise _Corrupt(f"metadata_kv_count at offset 16 is {n_kv}: impossible for a file with "
                       f"{r.remaining} bytes left (limit {MAX_KVS})")

    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = _read_string(r, f"metadata key #{i}", MAX_KEY_BYTES)
        vtype = r.unpack("<I", f"type of metadata {key!r}")
        if key in metadata:
            # ggml refuses duplicate keys; readers that keep the first or the last disagree
            raise _Corrupt(f"metadata key {key!r} is used twice")
        metadata[key] = _read_value(r, vtype, f"metadata {key!r}", 0, True)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if (not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0
            or alignment & (alignment - 1)):
        raise _Corrupt(f"general.alignment is {alignment!r}, not a power of two")

    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for i in range(n_tensors):
        at = r.pos
        name = _read_string(r, f"tensor #{i} name", MAX_NAME_BYTES)
        n_dims = r.unpack("<I", f"tensor {name!r} n_dims")
        if n_dims > MAX_DIMS:
            raise _Corrupt(f"tensor {name!r} at offset {at} has {n_dims} dimensions "
                           f"(limit {MAX_DIMS})")
        dims = struct.unpack(f"<{n_dims}Q", r.read(8 * n_dims, f"tensor {name!r} dims"))
        ggml_type = r.unpack("<I", f"tensor {name!r} type")
        offset = r.unpack("<Q", f"tensor {name!r} offset")
        if name in seen:
            raise _Corrupt(f"tensor name {name!r} at offset {at} is used twice")
        seen.add(name)
        tensors.append(TensorInfo(name, dims, ggml_type, offset))

    data_offset = -(-r.pos // alignment) * alignment
    return GGUFHeader(version, metadata, tuple(tensors), alignment, data_offset)


class _UnsupportedVersion(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def tensor_nbytes(t: TensorInfo) -> int:
    """Bytes of a tensor's data as stored (raises _Corrupt for unknown types or ragged rows)."""
    gt = GGML_TYPES.get(t.ggml_type)
    if gt is None:
        raise _Corrupt(f"tensor {t.name!r} has unknown ggml type {t.ggml_type}")
    n = 1
    for d in t.dims:
        n *= d
    first = t.dims[0] if t.dims else 1
    if first % gt.block_size:
        raise _Corrupt(f"tensor {t.name!r}: row length {first} is not a multiple of the "
                       f"{gt.name} block size {gt.block_size}")
    return n // gt.block_size * gt.type_size


def _refuse_overlaps(spans: list[tuple[int, int, str]]) -> None:
    """Tensors that share bytes are a forged header, not weights to count twice."""
    spans.sort()
    for (_, end, name), (start, _, other) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise _Corrupt(f"tensors {name!r} and {other!r} overlap (the data of one starts at "
                           f"{start}, before the other's ends at {end})")


def _scalar(metadata: dict[str, Any], key: str) -> Any:
    value = metadata.get(key)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities have no JSON form: the report would not parse
    return value if isinstance(value, (int, float, str)) else None


def inspect(path: Path, display: str) -> ArtifactInfo:
    """Read the GGUF header at ``path``: tensors, params, bytes by ggml type, architecture."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            header = read_header(f, size)
        params = 0
        by_dtype: dict[str, int] = {}
        spans: list[tuple[int, int, str]] = []
        for t in header.tensors:
            nbytes = tensor_nbytes(t)
            if t.offset % header.alignment:
                raise _Corrupt(f"tensor {t.name!r} data offset {t.offset} is not a multiple "
                               f"of the alignment {header.alignment}")
            end = header.data_offset + t.offset + nbytes
            if end > size:
                raise _Corrupt(f"tensor {t.name!r} data ends at byte {end}, past the end of "
                               f"the file ({size} bytes): the file is truncated")
            spans.append((t.offset, t.offset + nbytes, t.name))
            n = 1
            for d in t.dims:
                n *= d
            params += n
            name = GGML_TYPES[t.ggml_type].name
            by_dtype[name] = by_dtype.get(name, 0) + nbytes
        _refuse_overlaps(spans)
    except _UnsupportedVersion as e:
        raise ArtifactError(
            f"GGUF version {e.version} is not supported (2 and 3 are); re-convert the model "
            "with a current llama.cpp", file=display, rule=DG205) from None
    except _Corrupt as e:
        raise ArtifactError(f"corrupt GGUF header: {e}", file=display, rule=DG202) from None
    except OSError as e:
        raise ArtifactError(f"cannot read the file: {e.strerror or e}", file=display,
                            rule=DG202) from e

    if not header.tensors:
        vocab = header.metadata.get("tokenizer.ggml.tokens")
        what = "a tokenizer vocabulary" if vocab is not None else "metadata"
        raise ArtifactError(
            f"not a model: the GGUF holds {what} and no tensors (llama.cpp ships such "
            "vocab-only files for its tokenizer tests); point `path` at the model's GGUF",
            file=display, rule=DG211)
    return ArtifactInfo(
        path=display, format="gguf", size_bytes=size, params=params,
        bytes_by_dtype=by_dtype, files=(path.name,),
        # llama.cpp runs it (a GGUF without tensors was refused above: DG211)
        details=_details(header, params, sum(by_dtype.values())), runnable=True)


def _details(header: GGUFHeader, params: int, nbytes: int) -> dict[str, Any]:
    md = header.metadata
    arch = _scalar(md, "general.architecture")
    file_type = _scalar(md, "general.file_type")
    details: dict[str, Any] = {
        "gguf_version": header.version,
        "tensor_count": len(header.tensors),
        "architecture": arch,
        "name": _scalar(md, "general.name"),
        "file_type": file_type,
        "quantization": FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        "bits_per_weight": round(nbytes * 8 / params, 3) if params else None,
        "alignment": header.alignment,
        # presence only: a chat template is a Jinja program, and it is never rendered here
        "has_chat_template": "tokenizer.chat_template" in md,
    }
    if isinstance(arch, str):
        for field, key in (("context_length", "context_length"),
                           ("block_count", "block_count"),
                           ("embedding_length", "embedding_length"),
                           ("feed_forward_length", "feed_forward_length"),
                           ("head_count", "attention.head_count"),
                           ("head_count_kv", "attention.head_count_kv")):
            details[field] = _scalar(md, f"{arch}.{key}")
    vocab = md.get("tokenizer.ggml.tokens")
    if isinstance(vocab, (SkippedArray, list)):
        details["vocab_size"] = vocab.length if isinstance(vocab, SkippedArray) else len(vocab)
    return details
