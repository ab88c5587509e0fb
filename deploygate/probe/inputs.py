"""Input synthesis: concrete numpy arrays for an ONNX model's true inputs.

Shapes come from the graph signature. A symbolic dimension is pinned by name with
``latency.dims`` (for every input) or per input with ``latency.inputs.<name>.shape``; an unnamed
one needs the per-input shape (or a ``value``/``file`` whose shape fills it). Values, per input:

* ``file``: a ``.npy`` array, loaded without unpickling, from inside the repository;
* ``value``: a scalar or nested list broadcast to the shape;
* ``range: [lo, hi]``: floats uniform in ``[lo, hi)``, integers uniform in ``lo..hi`` inclusive;
* otherwise floats uniform in ``[0, 1)``, integers uniform in ``0..9`` and booleans fair coin flips.

Random values come from numpy's PCG64 seeded with ``(0, crc32(input name))``, so every probe of a
model feeds the same data, and pinning one input never changes another's.

numpy and onnx are imported inside the functions: importing the probe package stays cheap.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ProbeError
from deploygate.paths import UnusablePath, resolve_inside
from deploygate.manifest.model import InputSpec, LatencySpec

if TYPE_CHECKING:
    import numpy as np
    import onnx

SEED = 0
"""Base seed of every synthesized input."""

DEFAULT_INT_HIGH = 9
"""Default integers are drawn from 0..DEFAULT_INT_HIGH inclusive (small, valid as most indices)."""

MAX_INPUT_BYTES = 4 << 30
"""Largest single input the probe builds; beyond that the shape is almost surely a mistake."""

SUPPORTED_DTYPES = frozenset({
    "float16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
})
"""Element types the probe can synthesize."""

# ONNX TensorProto names that differ from numpy's.
_ONNX_TO_NUMPY = {"float": "float32", "double": "float64"}


def onnx_dtype_name(elem_type: int) -> str:
    """numpy-style name of an ONNX element type (float32, int64, bfloat16, string, ...)."""
    import onnx

    try:
        name = str(onnx.TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"unknown({elem_type})"
    return _ONNX_TO_NUMPY.get(name, name)


def read_signature(model: onnx.ModelProto) -> tuple[TensorSpec, ...]:
    """True graph inputs: initializers that are also listed as inputs are weights, not inputs."""
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    weights.update(t.values.name for t in graph.sparse_initializer)
    out = []
    for value in graph.input:
        if value.name in weights:
            continue
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            out.append(TensorSpec(value.name, kind.removesuffix("_type") if kind else "unknown", None))
            continue
        tensor = value.type.tensor_type
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in tensor.shape.dim
            )
        out.append(TensorSpec(value.name, onnx_dtype_name(tensor.elem_type), shape))
    return tuple(out)


def load_signature(path: Path) -> tuple[TensorSpec, ...]:
    """Read the true inputs of the ONNX model at ``path`` (weights in external files stay unread)."""
    import onnx

    return read_signature(onnx.load(str(path), load_external_data=False))


def synthesize_inputs(signature: Sequence[TensorSpec], spec: LatencySpec, *, root: Path,
                      base_dir: Path) -> dict[str, np.ndarray]:
    """One array per true input, following ``spec`` (dims, per-input settings) and the defaults."""
    names = {t.name for t in signature}
    for name in spec.inputs:
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ProbeError(f"latency.inputs.{name}: the model has no input {name!r} "
                             f"(its inputs: {known})", path=f"latency.inputs.{name}")
    return {t.name: _synthesize_one(t, spec.inputs.get(t.name) or InputSpec(), spec.dims,
                                    root=root, base_dir=base_dir)
            for t in signature}


def _synthesize_one(t: TensorSpec, ispec: InputSpec, dims: Mapping[str, int], *, root: Path,
                    base_dir: Path) -> np.ndarray:
    import numpy as np

    key = f"latency.inputs.{t.name}"
    dtype = _checked_dtype(t, ispec, key)
    if ispec.file is not None:
        array = load_npy(ispec.file, name=t.name, root=root, base_dir=base_dir)
        if array.dtype != dtype:
            raise ProbeError(f"{key}.file holds {array.dtype} but input {t.name!r} is {dtype}; "
                             f"save it with .astype('{dtype}')", path=f"{key}.file")
        _check_against_graph(t, array.shape, f"{key}.file")
        if ispec.shape is not None and tuple(ispec.shape) != array.shape:
            raise ProbeError(f"{key}.file has shape {list(array.shape)} but {key}.shape is "
                             f"{list(ispec.shape)}", path=f"{key}.shape")
        return array

    value = None
    if ispec.value is not None:
        value = _value_array(ispec.value, dtype, key)
    shape = resolve_shape(t, ispec, dims, fallback=None if value is None else value.shape)
    _check_size(t.name, shape, dtype, key)
    if value is not None:
        try:
            # np.array, not ascontiguousarray: the latter turns a 0-d scalar into shape (1,).
            return np.array(np.broadcast_to(value, shape))
        except ValueError:
            raise ProbeError(f"{key}.value of shape {list(value.shape)} cannot be broadcast "
                             f"to the input's shape {list(shape)}", path=f"{key}.value") from None

    rng = np.random.default_rng([SEED, zlib.crc32(t.name.encode())])
    if ispec.range is not None:
        return _in_range(rng, shape, dtype, ispec.range, key)
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(0, DEFAULT_INT_HIGH, shape, dtype=dtype, endpoint=True)


def _checked_dtype(t: TensorSpec, ispec: InputSpec, key: str) -> np.dtype[Any]:
    import numpy as np

    if t.shape is None and t.dtype in {"sequence", "map", "optional", "sparse_tensor", "unknown"}:
        raise ProbeError(f"input {t.name!r} is a {t.dtype}, not a tensor; the probe feeds "
                         "tensors only", path=key)
    if t.dtype == "string":
        raise ProbeError(f"input {t.name!r} is a string tensor; the probe synthesizes numeric "
                         "inputs only (measure this model with a numeric front end)", path=key)
    if t.dtype not in SUPPORTED_DTYPES:
        raise ProbeError(f"input {t.name!r} has element type {t.dtype}, which the probe cannot "
                         "synthesize (supported: float16/32/64, int8-64, uint8-64, bool)",
                         path=key)
    model_dtype = np.dtype(t.dtype)
    if ispec.dtype is not None:
        try:
            wanted = np.dtype(ispec.dtype)
        except TypeError:
            raise ProbeError(f"{key}.dtype {ispec.dtype!r} is not an element type",
                             path=f"{key}.dtype") from None
        if wanted != model_dtype:
            raise ProbeError(f"{key}.dtype is {wanted} but the model's input {t.name!r} is "
                             f"{model_dtype}; set it to {model_dtype} or remove it",
                             path=f"{key}.dtype")
    return model_dtype


def resolve_shape(t: TensorSpec, ispec: InputSpec, dims: Mapping[str, int], *,
                  fallback: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Concrete shape of ``t``: the per-input shape, else the graph's dims pinned by ``dims``.

    ``fallback`` (the shape of a given value) fills what neither pins.
    """
    key = f"latency.inputs.{t.name}"
    if ispec.shape is not None:
        shape = tuple(int(d) for d in ispec.shape)
        _check_against_graph(t, shape, f"{key}.shape")
        return shape
    if t.shape is None:
        if fallback is not None:
            return fallback
        raise ProbeError(f"input {t.name!r} declares no shape; pin it with {key}.shape",
                         path=f"{key}.shape")
    if fallback is not None and len(fallback) != len(t.shape):
        fallback = None  # a scalar value broadcasts; it cannot fill dimensions
    out = []
    for axis, dim in enumerate(t.shape):
        if isinstance(dim, int):
            out.append(dim)
        elif isinstance(dim, str) and dim in dims:
            out.append(int(dims[dim]))
        elif fallback is not None:
            out.append(fallback[axis])
        elif isinstance(dim, str):
            raise ProbeError(f"input {t.name!r} has symbolic dimension {dim!r}; pin it with "
                             f"latency.dims: {{{dim}: <size>}} or {key}.shape",
                             path="latency.dims")
        else:
            raise ProbeError(f"input {t.name!r} has an unnamed dimension at axis {axis}; pin "
                             f"it with {key}.shape", path=f"{key}.shape")
    shape = tuple(out)
    if any(d < 0 for d in shape):
        raise ProbeError(f"input {t.name!r} would get a negative dimension {list(shape)}",
                         path="latency.dims")
    return shape


def _check_against_graph(t: TensorSpec, shape: tuple[int, ...], key: str) -> None:
    if t.shape is None:
        return
    declared = ["?" if d is None else d for d in t.shape]
    if len(shape) != len(t.shape):
        raise ProbeError(f"{key} gives {t.name!r} rank {len(shape)} ({list(shape)}) but the "
                         f"model declares rank {len(t.shape)} ({declared})", path=key)
    for axis, (got, dim) in enumerate(zip(shape, t.shape, strict=True)):
        if isinstance(dim, int) and got != dim:
            raise ProbeError(f"{key} gives {t.name!r} size {got} at axis {axis} but the model "
                             f"fixes it at {dim} ({declared})", path=key)
        if got < 0:
            raise ProbeError(f"{key} gives {t.name!r} a negative size at axis {axis}", path=key)


def _check_size(name: str, shape: tuple[int, ...], dtype: np.dtype[Any], key: str) -> None:
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_INPUT_BYTES:
        raise ProbeError(f"input {name!r} of shape {list(shape)} would take {nbytes / 2**30:.1f} "
                         f"GiB; pin smaller sizes with latency.dims or {key}.shape",
                         path="latency.dims")


def _value_array(value: Any, dtype: np.dtype[Any], key: str) -> np.ndarray:
    import numpy as np

    try:
        given = np.array(value)
    except ValueError:
        raise ProbeError(f"{key}.value is a ragged list; give a scalar or a rectangular "
                         "nested list", path=f"{key}.value") from None
    if given.dtype.kind not in "biuf":
        raise ProbeError(f"{key}.value must be numbers or booleans, not {given.dtype}",
                         path=f"{key}.value")
    with np.errstate(all="ignore"):
        cast = given.astype(dtype)
    # Integer and bool inputs must take the value exactly: 1.5 or 300 into uint8 would be a
    # silently different input.
    if dtype.kind in "biu" and not np.array_equal(cast, given):
        raise ProbeError(f"{key}.value does not fit the input's element type {dtype}",
                         path=f"{key}.value")
    return cast


def _in_range(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype[Any],
              bounds: tuple[float, float], key: str) -> np.ndarray:
    import numpy as np

    lo, hi = (float(b) for b in bounds)
    if not lo <= hi:
        raise ProbeError(f"{key}.range [{bounds[0]}, {bounds[1]}] is empty (low > high)",
                         path=f"{key}.range")
    if dtype.kind == "f":
        return rng.uniform(lo, hi, shape).astype(dtype)
    if dtype.kind == "b":
        raise ProbeError(f"{key}.range does not apply to a bool input; use {key}.value",
                         path=f"{key}.range")
    low, high = math.ceil(lo), math.floor(hi)
    info = np.iinfo(dtype)
    if low > high or low < info.min or high > info.max:
        raise ProbeError(f"{key}.range [{bounds[0]}, {bounds[1]}] holds no {dtype} values "
                         f"(the type spans {info.min}..{info.max})", path=f"{key}.range")
    return rng.integers(low, high, shape, dtype=dtype, endpoint=True)


def resolve_input_file(file: str, *, name: str, root: Path, base_dir: Path) -> Path:
    """The ``.npy`` path of ``latency.inputs.<name>.file``, refused unless inside ``root``."""
    key = f"latency.inputs.{name}.file"
    given = Path(file)
    if given.is_absolute():
        raise ProbeError(f"{key} must be relative to the manifest's folder, not absolute "
                         f"({file})", path=key)
    try:
        resolved = resolve_inside(root, base_dir, file)
    except UnusablePath:
        raise ProbeError(f"{key}: {file} does not exist", path=key) from None
    if resolved is None:
        raise ProbeError(f"{key}: {file} resolves outside the repository; keep input files "
                         "inside it", path=key)
    if not resolved.exists():
        raise ProbeError(f"{key}: {file} does not exist", path=key)
    if resolved.suffix.lower() != ".npy" or not resolved.is_file():
        raise ProbeError(f"{key}: {file} is not a .npy file (save one with numpy.save)",
                         path=key)
    return resolved


def load_npy(file: str, *, name: str, root: Path, base_dir: Path) -> np.ndarray:
    """Load ``latency.inputs.<name>.file`` as a plain array; object (pickled) arrays are refused."""
    import numpy as np

    key = f"latency.inputs.{name}.file"
    path = resolve_input_file(file, name=name, root=root, base_dir=base_dir)
    try:
        # Memory-mapped first, so that the header (dtype, shape) is checked before any data
        # is read; pickled object arrays fail here without being unpickled.
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        if not isinstance(mapped, np.ndarray):
            raise ProbeError(f"{key}: {file} is not a single .npy array", path=key)
        if mapped.size and mapped.nbytes > MAX_INPUT_BYTES:
            raise ProbeError(f"{key}: {file} holds {mapped.nbytes / 2**30:.1f} GiB; use a "
                             "smaller sample", path=key)
        loaded = np.array(mapped, order="C")
    except ValueError as e:
        if "pickle" in str(e) or "Python objects" in str(e):
            raise ProbeError(f"{key}: {file} holds Python objects, which would need "
                             "unpickling; deploygate never unpickles. Save a numeric array",
                             path=key) from None
        raise ProbeError(f"{key}: {file} is not a readable .npy file ({e})", path=key) from None
    except OSError as e:
        raise ProbeError(f"{key}: {file} cannot be read ({e.strerror or e})", path=key) from None
    if loaded.dtype.kind not in "biuf" or loaded.dtype.fields is not None:
        raise ProbeError(f"{key}: {file} holds {loaded.dtype} values; the probe feeds numeric "
                         "arrays only", path=key)
    return loaded
