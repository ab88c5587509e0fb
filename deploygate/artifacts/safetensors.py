"""safetensors reader: the 8-byte length and the JSON header, never the tensor data.

The header is validated as strictly as the reference implementation (huggingface/safetensors)
does before it maps a file: size cap, UTF-8 JSON object, known dtypes, offsets that tile the
data region exactly. A folder is a sharded checkpoint: its index (or every ``*.safetensors``
file in it) names the shards, and each shard's header is read the same way.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from deploygate.artifacts.base import MAX_RANK, ArtifactInfo
from deploygate.artifacts.detect import contained
from deploygate.artifacts.formats.safetensors import MAX_HEADER_BYTES
from deploygate.artifacts.lfs import MAX_POINTER_BYTES, refuse_pointer
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG201, DG213
from deploygate.errors import DG202

# MAX_HEADER_BYTES lives with the format (a base version from git is read that far).
# Index and config files are small JSON (an index lists tensor names: a few MB at most).
MAX_INDEX_BYTES = 8 << 20
MAX_CONFIG_BYTES = 1024 * 1024
INDEX_NAME = "model.safetensors.index.json"
CONFIG_FIELDS = ("architectures", "model_type", "hidden_size", "num_hidden_layers",
                 "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                 "torch_dtype")
TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})

# safetensors dtype -> (numpy-style name, bits per element); sub-byte types are packed.
DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 8),
    "U8": ("uint8", 8),
    "I8": ("int8", 8),
    "F8_E5M2": ("float8_e5m2", 8),
    "F8_E4M3": ("float8_e4m3fn", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8),
    "I16": ("int16", 16),
    "U16": ("uint16", 16),
    "F16": ("float16", 16),
    "BF16": ("bfloat16", 16),
    "I32": ("int32", 32),
    "U32": ("uint32", 32),
    "F32": ("float32", 32),
    "F64": ("float64", 64),
    "I64": ("int64", 64),
    "U64": ("uint64", 64),
    "C64": ("complex64", 64),
    "F4": ("float4_e2m1fn", 4),
    "F6_E2M3": ("float6_e2m3fn", 6),
    "F6_E3M2": ("float6_e3m2fn", 6),
}


@dataclass(frozen=True)
class Header:
    """What one safetensors file's header says."""

    tensors: dict[str, tuple[str, int, int]]
    """Tensor name -> (numpy-style dtype, elements, bytes)."""
    metadata: dict[str, str]
    """The free-form ``__metadata__`` map (empty when absent)."""
    file_size: int
    """The file's size in bytes."""


def inspect(path: Path, display: str) -> ArtifactInfo:
    """Read a safetensors file's header, or every shard header of a checkpoint folder."""
    if path.is_dir():
        return _inspect_folder(path, display)
    header = read_header(path, display)
    params, by_dtype = _totals([header])
    return ArtifactInfo(
        path=display, format="safetensors", size_bytes=header.file_size, params=params,
        bytes_by_dtype=by_dtype, files=(path.name,),
        details={"metadata": header.metadata, "tensor_count": len(header.tensors)},
        runnable=False)


def read_header(path: Path, display: str) -> Header:
    """Read and validate the header of the safetensors file at ``path``; no tensor data is read."""
    size = path.stat().st_size
    if size < MAX_POINTER_BYTES:
        # A shard left as an LFS pointer would otherwise read as a corrupt header length.
        refuse_pointer(path, display)
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            _corrupt(display, f"the file has {len(prefix)} bytes, fewer than the 8-byte header "
                     "length; re-save it")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES:
            _corrupt(display, f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit; "
                     "the file is corrupt or not safetensors")
        if n > size - 8:
            _corrupt(display, f"header length {n} runs past the end of the {size}-byte file; "
                     "the file is truncated, re-download or re-save it")
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _corrupt(display, f"the header is not valid UTF-8 (byte {e.start}); re-save it", e)
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys,
                              parse_constant=_reject_constant)
    except (ValueError, _DuplicateKey) as e:
        _corrupt(display, f"the header is not valid JSON ({e}); re-save it", e)
    except RecursionError as e:
        # A real header nests three levels; thousands of '[' exhaust the decoder's stack.
        _corrupt(display, "the header's JSON nests too deeply; the file is corrupt or hostile",
                 e)
    if not isinstance(document, dict):
        _corrupt(display, f"the header is a JSON {type(document).__name__}, not an object; "
                 "re-save it")
    return _validate(document, data_size=size - 8 - n, file_size=size, display=display)


class _DuplicateKey(ValueError):
    """A JSON object repeats a key (json.loads keeps the last silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the reference parser) does not.
    raise ValueError(f"{name} is not JSON")


def _validate(document: dict[str, Any], *, data_size: int, file_size: int,
              display: str) -> Header:
    metadata = document.get("__metadata__")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values()):
        _corrupt(display, "__metadata__ must map strings to strings; re-save the file with "
                 "string metadata")
    tensors: dict[str, tuple[str, int, int]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, info in document.items():
        if name == "__metadata__":
            continue
        dtype, elements, nbytes, begin, end = _validate_tensor(name, info, display)
        tensors[name] = (dtype, elements, nbytes)
        spans.append((begin, end, name))
    # Sorted by offset, the tensors must tile the data region: no gap, no overlap, no tail.
    position = 0
    for begin, end, name in sorted(spans):
        if begin > position:
            _corrupt(display, f"tensor {name!r}: data_offsets start at {begin}, leaving a gap "
                     f"after byte {position}; re-save the file")
        if begin < position:
            _corrupt(display, f"tensor {name!r}: data_offsets [{begin}, {end}] overlap the "
                     f"tensor before it (which ends at {position}); re-save the file")
        position = end
    if position > data_size:
        name = max(spans)[2]
        _corrupt(display, f"tensor {name!r}: data ends at byte {position} but the file holds "
                 f"only {data_size} data bytes; the file is truncated, re-download it")
    if position < data_size:
        _corrupt(display, f"{data_size - position} bytes of trailing data after the last "
                 f"tensor (ends at {position}); re-save the file")
    return Header(tensors=tensors, metadata=dict(metadata), file_size=file_size)


def _validate_tensor(name: str, info: Any, display: str) -> tuple[str, int, int, int, int]:
    where = f"tensor {name!r}"
    if not isinstance(info, dict) or set(info) != TENSOR_KEYS:
        keys = sorted(info) if isinstance(info, dict) else type(info).__name__
        _corrupt(display, f"{where}: needs exactly dtype, shape and data_offsets (has {keys}); "
                 "re-save the file")
    dtype = info["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        _corrupt(display, f"{where}: unknown dtype {dtype!r} (known: {', '.join(DTYPES)}); "
                 "re-save it with a standard dtype")
    shape = info["shape"]
    if isinstance(shape, list) and len(shape) > MAX_RANK:
        _corrupt(display, f"{where}: shape has {len(shape)} dimensions (limit {MAX_RANK}); "
                 "re-save the file")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        _corrupt(display, f"{where}: shape {shape!r} is not a list of non-negative integers; "
                 "re-save the file")
    offsets = info["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        _corrupt(display, f"{where}: data_offsets {offsets!r} is not [begin, end] of "
                 "non-negative integers; re-save the file")
    begin, end = offsets
    if end < begin:
        _corrupt(display, f"{where}: data_offsets [{begin}, {end}] end before they begin; "
                 "re-save the file")
    numpy_name, bits = DTYPES[dtype]
    elements = math.prod(shape)
    if elements * bits % 8:
        _corrupt(display, f"{where}: {elements} {dtype} values do not fill whole bytes; "
                 "re-save the file")
    nbytes = elements * bits // 8
    if end - begin != nbytes:
        _corrupt(display, f"{where}: shape {shape} of {dtype} needs {nbytes} bytes but "
                 f"data_offsets [{begin}, {end}] span {end - begin}; re-save the file")
    return numpy_name, elements, nbytes, begin, end


def _is_count(value: Any) -> bool:
    # bool is an int subclass in Python; JSON true is not a dimension.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _inspect_folder(folder: Path, display: str) -> ArtifactInfo:
    index = _find_index(folder, display)
    if index is not None:
        weight_map = _read_weight_map(index, f"{display}/{index.name}")
        shard_names = sorted(set(weight_map.values()))
    else:
        shard_names = sorted(p.name for p in folder.glob("*.safetensors") if p.is_file())
        weight_map = {}
    if not shard_names:
        raise ArtifactError("the folder holds no .safetensors files; fix `path` or commit the "
                            "shards", file=display, rule=DG201)
    headers: dict[str, Header] = {}
    for name in shard_names:
        shard = _shard_path(folder, name, display)
        headers[name] = read_header(shard, f"{display}/{name}")
    if index is None:
        _refuse_repeated_names(headers, display)
    for tensor, name in weight_map.items():
        if tensor not in headers[name].tensors:
            raise ArtifactError(
                f"{index.name if index else 'index'}: weight_map puts tensor {tensor!r} in "
                f"{name!r}, whose header has no such tensor; re-save the checkpoint",
                file=display, rule=DG202)
    params, by_dtype = _totals(list(headers.values()))
    details: dict[str, Any] = {
        "tensor_count": sum(len(h.tensors) for h in headers.values()),
        "shard_count": len(headers),
        "index": index.name if index else None,
        "metadata": headers[shard_names[0]].metadata,
    }
    details.update(_read_config(folder, display))
    return ArtifactInfo(
        path=display, format="safetensors",
        size_bytes=sum(h.file_size for h in headers.values()), params=params,
        bytes_by_dtype=by_dtype, files=tuple(shard_names), details=details, runnable=False)


MAX_NAMES_SHOWN = 10  # repeated tensor names listed in one message


def _refuse_repeated_names(headers: dict[str, Header], display: str) -> None:
    """Shards without an index partition one checkpoint: no tensor name may appear twice.

    A folder of separate checkpoints (three fine-tunes of one model) repeats every name; summing
    them would report one model three times its size.
    """
    first: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for shard, header in headers.items():
        for tensor in header.tensors:
            if tensor in first:
                repeated.setdefault(tensor, [first[tensor]]).append(shard)
            else:
                first[tensor] = shard
    if not repeated:
        return
    names = sorted(repeated)
    shown = ", ".join(f"{n!r} (in {', '.join(repeated[n])})" for n in names[:MAX_NAMES_SHOWN])
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    raise ArtifactError(
        f"the folder's {len(headers)} .safetensors files are not shards of one checkpoint: "
        f"{len(names)} tensor name{'s appear' if len(names) > 1 else ' appears'} in more than "
        "one file: "
        f"{shown}{more}; point `path` at one file, or add the model.safetensors.index.json "
        "that says which shard holds each tensor", file=display, rule=DG213)


def _find_index(folder: Path, display: str) -> Path | None:
    preferred = folder / INDEX_NAME
    if preferred.is_file():
        return contained(folder, preferred, f"{display}/{preferred.name}")
    found = sorted(contained(folder, p, f"{display}/{p.name}")
                   for p in folder.glob("*.safetensors.index.json") if p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ArtifactError(f"the folder has several shard indexes ({names}); keep one, or "
                            "point `path` at a folder holding one checkpoint", file=display,
                            rule=DG213)
    return found[0] if found else None


def _read_weight_map(index: Path, display: str) -> dict[str, str]:
    document = _read_small_json(index, MAX_INDEX_BYTES, display)
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) for v in weight_map.values()):
        raise ArtifactError("weight_map is missing or does not map tensor names to shard "
                            "file names; re-save the checkpoint", file=display, rule=DG202)
    return weight_map


def _shard_path(folder: Path, name: str, display: str) -> Path:
    shard = folder / name
    # Shards live in the checkpoint's folder: an index must not reach outside it.
    escapes = not name or Path(name).is_absolute() or ".." in Path(name).parts
    if escapes:
        raise ArtifactError(f"shard {name!r} lies outside the checkpoint folder (absolute, "
                            "'..' or a link out); refused, keep the shards in the folder",
                            file=display, rule=DG202)
    contained(folder, shard, f"{display}/{name}")
    if not shard.is_file():
        raise ArtifactError(f"the index names shard {name!r}, which does not exist; commit it "
                            "or re-save the checkpoint", file=display, rule=DG201)
    return shard


def _read_config(folder: Path, display: str) -> dict[str, Any]:
    config = folder / "config.json"
    if not config.is_file():
        return {}
    contained(folder, config, f"{display}/config.json")
    try:
        document = _read_small_json(config, MAX_CONFIG_BYTES, "config.json")
    except ArtifactError:
        # config.json only adds context; an odd one must not stop the gate.
        return {}
    if not isinstance(document, dict):
        return {}
    return {k: document[k] for k in CONFIG_FIELDS if _is_simple(document.get(k))}


def _is_simple(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _read_small_json(path: Path, limit: int, display: str) -> Any:
    refuse_pointer(path, display)
    with path.open("rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ArtifactError(f"the file is over {limit} bytes; this JSON should be small",
                            file=display, rule=DG202)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                          parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise ArtifactError(f"not valid JSON ({e}); re-save it", file=display,
                            rule=DG202) from e
    except RecursionError as e:
        raise ArtifactError("not valid JSON (nested too deeply); re-save it", file=display,
                            rule=DG202) from e


def _totals(headers: list[Header]) -> tuple[int, dict[str, int]]:
    params = 0
    by_dtype: dict[str, int] = {}
    for header in headers:
        for dtype, elements, nbytes in header.tensors.values():
            params += elements
            by_dtype[dtype] = by_dtype.get(dtype, 0) + nbytes
    return params, dict(sorted(by_dtype.items()))


def _corrupt(display: str, message: str, cause: Exception | None = None) -> NoReturn:
    raise ArtifactError(message, file=display, rule=DG202) from cause
