"""Input synthesis: concrete numpy arrays for an ONNX model's true inputs.

Shapes come from the graph signature. A dimension stored as ``dim_value`` -1 or 0, or named
``?``, is unnamed and dynamic. A symbolic dimension is pinned by name with ``latency.dims`` (for
every input) or per input with ``latency.inputs.<name>.shape``; an unnamed one needs the
per-input shape (or a ``value``/``file`` whose shape fills it). A leading batch-like dimension
(axis 0 of an input of rank 2 or more, unnamed or with a name that does not read as a length or
a size) defaults to 1 and is reported as such; no other dimension is guessed. Whatever is still
missing is refused in one message that lists all of it, as manifest keys and as probe flags.
Values, per input:

* ``file``: a ``.npy`` array, loaded without unpickling, from inside the repository;
* ``value``: a scalar or nested list broadcast to the shape;
* ``range: [lo, hi]``: floats uniform in ``[lo, hi)``, integers uniform in ``lo..hi`` inclusive;
* otherwise floats uniform in ``[0, 1)``, booleans fair coin flips, integers uniform in ``0..9``,
  or in ``0..rows-1`` for an input that indexes a table (feeds a ``Gather``'s indices).

Random values come from numpy's PCG64 seeded with ``(0, crc32(input name))``, so every probe of a
model feeds the same data, and pinning one input never changes another's.

numpy and onnx are imported inside the functions: importing the probe package stays cheap.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ProbeError, ProbeNeedsValues
from deploygate.paths import UnusablePath, resolve_inside
from deploygate.manifest.model import INPUT_FILE_SUFFIX, InputSpec, LatencySpec

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

INTEGER_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                            "uint64", "bool"})
"""Element types of inputs that can pick a branch (modes, sample rates, flags)."""

def read_signature(model: onnx.ModelProto) -> tuple[TensorSpec, ...]:
    """True graph inputs: initializers that are also listed as inputs are weights, not inputs."""
    from deploygate.artifacts.onnx import dtype_name, graph_dim

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
            shape = tuple(graph_dim(d) for d in tensor.shape.dim)
        out.append(TensorSpec(value.name, dtype_name(tensor.elem_type), shape))
    return tuple(out)


def load_signature(path: Path) -> tuple[TensorSpec, ...]:
    """Read the true inputs of the ONNX model at ``path`` (weights in external files stay unread)."""
    import onnx

    return read_signature(onnx.load(str(path), load_external_data=False))


# A name that reads as a length, a size or a feature count is not a batch, even at axis 0.
_NOT_BATCH = re.compile(r"seq|len|time|step|frame|sample|token|word|char|height|width|^[hwtl]$|"
                        r"size_[hw]|chan|feat|hidden|pixel", re.IGNORECASE)


@dataclass(frozen=True)
class DefaultedDim:
    """A dimension nothing in the manifest pinned, set by the probe: a batch-like one to 1, or
    one the model's own metadata states (``artifacts.onnx.declared_sizes``)."""

    input: str
    """The input it belongs to."""
    axis: int
    """Its axis."""
    name: str | None
    """Its symbolic name, or None when unnamed."""
    size: int = 1
    """The size used."""
    source: str = "batch"
    """Why this size: ``batch`` (batch-like, 1) or where the model states it."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (``latency.defaulted_dims[]`` in the report)."""
        return {"input": self.input, "axis": self.axis, "dim": self.name, "size": self.size,
                "source": self.source}

    def describe(self) -> str:
        """``images axis 0 ('batch')``, for messages."""
        named = f" ({self.name!r})" if self.name else ""
        return f"{self.input} axis {self.axis}{named}"


Declared = Sequence[Mapping[str, Any]]
"""Sizes a model states for its open input axes: ``{input, axis, size, source}`` entries."""


def is_batch_like(shape: Sequence[int | str | None], axis: int) -> bool:
    """Whether ``shape[axis]`` reads as a batch: the leading, non-fixed axis of a rank >= 2 input."""
    if axis != 0 or len(shape) < 2:
        return False
    dim = shape[0]
    return dim is None or (isinstance(dim, str) and not _NOT_BATCH.search(dim))


def _unpinned(t: TensorSpec, spec: LatencySpec) -> bool:
    """Whether ``spec`` leaves the dimensions of input ``t`` to the model's own defaults."""
    ispec = spec.inputs.get(t.name) or InputSpec()
    if t.shape is None or ispec.shape is not None or ispec.file is not None:
        return False
    # a value's own shape fills every dimension
    return ispec.value is None or _value_rank(ispec.value) != len(t.shape)


def defaulted_dims(signature: Sequence[TensorSpec], spec: LatencySpec,
                   declared: Declared = ()) -> tuple[DefaultedDim, ...]:
    """The dimensions nothing in ``spec`` pins that the probe fills: the sizes the model
    states (``declared``), and batch-like dimensions, each 1."""
    out: list[DefaultedDim] = []
    by_input = {t.name: t for t in signature if _unpinned(t, spec)}
    for d in declared:
        t = by_input.get(str(d.get("input")))
        axis, size = d.get("axis"), d.get("size")
        if t is None or t.shape is None or not isinstance(axis, int) or \
                not isinstance(size, int) or not 0 <= axis < len(t.shape):
            continue
        dim = t.shape[axis]
        if isinstance(dim, int) or (isinstance(dim, str) and dim in spec.dims):
            continue
        out.append(DefaultedDim(t.name, axis, dim, size, str(d.get("source", "the model"))))
    for t in by_input.values():
        assert t.shape is not None
        if is_batch_like(t.shape, 0) and not any(d.input == t.name and d.axis == 0 for d in out):
            dim = t.shape[0]
            if not (isinstance(dim, str) and dim in spec.dims):
                out.append(DefaultedDim(t.name, 0, dim if isinstance(dim, str) else None))
    sizes = {d.name: d for d in out if d.name}
    # A defaulted name has its size everywhere it appears, on other inputs and axes too.
    for t in by_input.values():
        assert t.shape is not None
        for axis, dim in enumerate(t.shape):
            if isinstance(dim, str) and dim in sizes and \
                    not any(d.input == t.name and d.axis == axis for d in out):
                first = sizes[dim]
                out.append(DefaultedDim(t.name, axis, dim, first.size, first.source))
    order = {t.name: i for i, t in enumerate(signature)}
    return tuple(sorted(out, key=lambda d: (order[d.input], d.axis)))


def _filled_sizes(signature: Sequence[TensorSpec], spec: LatencySpec, declared: Declared
                  ) -> tuple[dict[str, int], dict[str, dict[int, int]]]:
    """The sizes known once the defaults are in: named dims (``spec.dims`` winning over the
    defaults), and per input the unnamed axes the probe fills."""
    defaults = defaulted_dims(signature, spec, declared)
    fills: dict[str, dict[int, int]] = {}
    for d in defaults:
        if d.name is None:
            fills.setdefault(d.input, {})[d.axis] = d.size
    return {**{d.name: d.size for d in defaults if d.name}, **spec.dims}, fills


def _value_rank(value: Any) -> int:
    rank = 0
    while isinstance(value, list) and value:
        rank, value = rank + 1, value[0]
    return rank


def synthesize_inputs(signature: Sequence[TensorSpec], spec: LatencySpec, *, root: Path,
                      base_dir: Path, index_rows: Mapping[str, int] | None = None,
                      branch_inputs: Collection[str] = (),
                      declared: Declared = ()) -> dict[str, np.ndarray]:
    """One array per true input, following ``spec`` (dims, per-input settings) and the defaults.

    ``index_rows`` gives, for an integer input that indexes a table, the table's rows: its
    random values stay below that. Every dimension still missing is refused at once, in one
    ``ProbeNeedsValues`` that lists them all, together with the unpinned integer inputs among
    ``branch_inputs`` (they pick an ``If`` branch: once the sizes are given, a random value
    would be the next refusal). ``declared`` are the sizes the model states for open axes.
    """
    names = {t.name for t in signature}
    for name in spec.inputs:
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ProbeError(f"latency.inputs.{name}: the model has no input {name!r} "
                             f"(its inputs: {known})", path=f"latency.inputs.{name}")
    # Inputs the probe cannot feed at all come first: no key or flag would help them.
    dtypes = {t.name: _checked_dtype(t, spec.inputs.get(t.name) or InputSpec(),
                                     f"latency.inputs.{t.name}") for t in signature}
    dims, fills = _filled_sizes(signature, spec, declared)

    planned: dict[str, tuple[tuple[int, ...], np.ndarray | None]] = {}
    files: dict[str, np.ndarray] = {}
    gaps: list[tuple[TensorSpec, list[int]]] = []
    for t in signature:
        ispec = spec.inputs.get(t.name) or InputSpec()
        key = f"latency.inputs.{t.name}"
        if ispec.file is not None:
            files[t.name] = _file_input(t, ispec, dtypes[t.name], root=root, base_dir=base_dir)
            continue
        value = None if ispec.value is None else _value_array(ispec.value, dtypes[t.name], key)
        shape, missing = _shape_and_gaps(t, ispec, dims, fills=fills.get(t.name, {}),
                                         fallback=None if value is None else value.shape)
        if missing:
            gaps.append((t, missing))
            continue
        assert shape is not None
        planned[t.name] = (shape, value)
    if gaps:
        raise needs_values_error(gaps, dims, branch_values(signature, spec, branch_inputs))

    out: dict[str, np.ndarray] = {}
    for t in signature:
        if t.name in files:
            out[t.name] = files[t.name]
            continue
        shape, value = planned[t.name]
        out[t.name] = _synthesize_one(t, spec.inputs.get(t.name) or InputSpec(), dtypes[t.name],
                                      shape, value, (index_rows or {}).get(t.name))
    return out


def branch_values(signature: Sequence[TensorSpec], spec: LatencySpec,
                   branch_inputs: Collection[str]) -> list[str]:
    """Unpinned integer scalars among ``branch_inputs``: their value picks a branch, so the
    probe asks for it together with the sizes (and init asks for it)."""
    out = []
    for t in signature:
        ispec = spec.inputs.get(t.name) or InputSpec()
        pinned = ispec.value is not None or ispec.file is not None or ispec.range is not None
        scalar = t.shape is not None and all(d == 1 for d in t.shape)
        if t.name in branch_inputs and not pinned and scalar and t.dtype in INTEGER_DTYPES:
            out.append(t.name)
    return out


def _file_input(t: TensorSpec, ispec: InputSpec, dtype: np.dtype[Any], *, root: Path,
                base_dir: Path) -> np.ndarray:
    key = f"latency.inputs.{t.name}"
    assert ispec.file is not None
    array = load_npy(ispec.file, name=t.name, root=root, base_dir=base_dir)
    if array.dtype != dtype:
        raise ProbeError(f"{key}.file holds {array.dtype} but input {t.name!r} is {dtype}; "
                         f"save it with .astype('{dtype}')", path=f"{key}.file")
    _check_against_graph(t, array.shape, f"{key}.file")
    if ispec.shape is not None and tuple(ispec.shape) != array.shape:
        raise ProbeError(f"{key}.file has shape {list(array.shape)} but {key}.shape is "
                         f"{list(ispec.shape)}", path=f"{key}.shape")
    return array


def _synthesize_one(t: TensorSpec, ispec: InputSpec, dtype: np.dtype[Any],
                    shape: tuple[int, ...], value: np.ndarray | None,
                    rows: int | None) -> np.ndarray:
    import numpy as np

    key = f"latency.inputs.{t.name}"
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
    high = DEFAULT_INT_HIGH if rows is None else min(rows - 1, int(np.iinfo(dtype).max))
    return rng.integers(0, max(0, high), shape, dtype=dtype, endpoint=True)


def _checked_dtype(t: TensorSpec, ispec: InputSpec, key: str) -> np.dtype[Any]:
    import numpy as np

    # No key or flag feeds these, so the message suggests none (path "latency", not the input's).
    if t.shape is None and t.dtype in {"sequence", "map", "optional", "sparse_tensor", "unknown"}:
        raise ProbeError(f"input {t.name!r} is a {t.dtype}, not a tensor; the probe feeds "
                         "tensors only, so it cannot measure this model (measure it with its "
                         "own harness)", path="latency")
    if t.dtype == "string":
        raise ProbeError(f"input {t.name!r} is a string tensor; the probe synthesizes numeric "
                         "inputs only (measure this model with a numeric front end)",
                         path="latency")
    if t.dtype not in SUPPORTED_DTYPES:
        raise ProbeError(f"input {t.name!r} has element type {t.dtype}, which the probe cannot "
                         "synthesize (supported: float16/32/64, int8-64, uint8-64, bool)",
                         path="latency")
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


def _shape_and_gaps(t: TensorSpec, ispec: InputSpec, dims: Mapping[str, int], *,
                    fills: Mapping[int, int], fallback: tuple[int, ...] | None
                    ) -> tuple[tuple[int, ...] | None, list[int]]:
    """The shape, or the axes nothing pins (every axis, -1 for an unknown rank)."""
    key = f"latency.inputs.{t.name}"
    if ispec.shape is not None:
        shape = tuple(int(d) for d in ispec.shape)
        _check_against_graph(t, shape, f"{key}.shape")
        return shape, []
    if t.shape is None:
        return (fallback, []) if fallback is not None else (None, [-1])
    if fallback is not None and len(fallback) != len(t.shape):
        fallback = None  # a scalar value broadcasts; it cannot fill dimensions
    out: list[int] = []
    missing = []
    for axis, dim in enumerate(t.shape):
        if isinstance(dim, int):
            out.append(dim)
        elif isinstance(dim, str) and dim in dims:
            out.append(int(dims[dim]))
        elif fallback is not None:
            out.append(fallback[axis])
        elif dim is None and axis in fills:
            out.append(fills[axis])
        else:
            missing.append(axis)
    if missing:
        return None, missing
    shape = tuple(out)
    if any(d < 0 for d in shape):
        raise ProbeError(f"input {t.name!r} would get a negative dimension {list(shape)}",
                         path="latency.dims")
    return shape, []


PLACEHOLDER = "SIZE"
"""Stands for a size the user must choose, in suggested keys and flags (valid YAML and shell)."""

VALUE_PLACEHOLDER = "V"
"""Stands for a value the user must choose (a sample rate, a mode)."""

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def yaml_key(name: str) -> str:
    """``name`` as a YAML flow-mapping key (quoted unless plain)."""
    return name if _PLAIN.fullmatch(name) else json.dumps(name)


def flag_word(text: str) -> str:
    """``text`` as one shell word (quoted only when it needs it)."""
    import shlex

    return shlex.quote(text)


@dataclass(frozen=True)
class OpenSizes:
    """What the probe cannot choose by itself: symbolic names, inputs whose own shape must be
    given, and inputs whose value picks a branch."""

    dims: dict[str, str]
    """Symbolic name -> where it first appears (``input 'x' axis 2``)."""
    shapes: dict[str, tuple[int | None, ...] | None]
    """Input -> its shape with None where a size is open (None: its rank is unknown too)."""
    parts: tuple[str, ...]
    """One description per open size or value, for messages."""
    values: tuple[str, ...] = ()
    """Inputs that need a value (an integer that picks an ``If`` branch)."""

    def __bool__(self) -> bool:
        return bool(self.dims or self.shapes or self.values)

    def snippet(self) -> str:
        """The ``latency:`` keys that pin them, with ``SIZE``/``V`` placeholders (YAML flow)."""
        parts = []
        if self.dims:
            parts.append("dims: {" + ", ".join(f"{yaml_key(d)}: {PLACEHOLDER}"
                                               for d in self.dims) + "}")
        inputs = [f"{yaml_key(n)}: {{shape: [{', '.join(_sizes(s))}]}}"
                  for n, s in self.shapes.items()]
        inputs += [f"{yaml_key(n)}: {{value: {VALUE_PLACEHOLDER}}}" for n in self.values]
        if inputs:
            parts.append("inputs: {" + ", ".join(inputs) + "}")
        return f"latency: {{{', '.join(parts)}}}"

    def flags(self) -> str:
        """The same as ``deploygate probe`` flags."""
        flags = [f"--dim {flag_word(f'{d}={PLACEHOLDER}')}" for d in self.dims]
        flags += [f"--input {flag_word(f'{n}=shape:' + 'x'.join(_sizes(s)))}"
                  for n, s in self.shapes.items()]
        flags += [f"--input {flag_word(f'{n}=value:{VALUE_PLACEHOLDER}')}" for n in self.values]
        return " ".join(flags)


def _sizes(shape: tuple[int | None, ...] | None) -> list[str]:
    if shape is None:
        return [PLACEHOLDER, "..."]
    return [PLACEHOLDER if d is None else str(d) for d in shape]


def open_sizes(signature: Sequence[TensorSpec], spec: LatencySpec,
               declared: Declared = ()) -> OpenSizes:
    """What ``spec`` leaves open for the model's inputs once batch-like dims default to 1 and
    the model's ``declared`` sizes are in."""
    dims, fills = _filled_sizes(signature, spec, declared)
    gaps = []
    for t in signature:
        ispec = spec.inputs.get(t.name) or InputSpec()
        if ispec.file is not None or ispec.value is not None:
            continue
        _, missing = _shape_and_gaps(t, ispec, dims, fills=fills.get(t.name, {}), fallback=None)
        if missing:
            gaps.append((t, missing))
    return _open_from_gaps(gaps, dims)


def _open_from_gaps(gaps: Sequence[tuple[TensorSpec, Sequence[int]]],
                    dims: Mapping[str, int], values: Sequence[str] = ()) -> OpenSizes:
    named: dict[str, str] = {}
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    parts: list[str] = []
    for t, axes in gaps:
        if t.shape is None or list(axes) == [-1]:
            parts.append(f"the shape of input {t.name!r} (it declares none)")
            shapes[t.name] = None
            continue
        unnamed = [a for a in axes if not isinstance(t.shape[a], str)]
        for axis in axes:
            dim = t.shape[axis]
            if isinstance(dim, str) and dim not in named:
                named[dim] = f"input {t.name!r} axis {axis}"
        if unnamed:
            sizes: list[int | None] = []
            for axis, dim in enumerate(t.shape):
                if isinstance(dim, int):
                    sizes.append(dim)
                elif isinstance(dim, str) and dim in dims:
                    sizes.append(int(dims[dim]))
                elif axis == 0 and dim is None and 0 not in axes:
                    sizes.append(1)
                else:
                    sizes.append(None)
            listed = ", ".join(str(a) for a in unnamed)
            parts.append(f"input {t.name!r} ax{'e' if len(unnamed) > 1 else 'i'}s {listed} "
                         "(unnamed)")
            shapes[t.name] = tuple(sizes)
    parts = [f"dimension {d!r} ({where})" for d, where in named.items()] + parts
    parts += [f"the value of input {v!r} (an integer that picks an If branch: random values "
              "rarely fit)" for v in values]
    return OpenSizes(named, shapes, tuple(parts), tuple(values))


def needs_values_error(gaps: Sequence[tuple[TensorSpec, Sequence[int]]],
                       dims: Mapping[str, int], values: Sequence[str] = ()) -> ProbeNeedsValues:
    """One refusal naming every missing dimension, with a ``latency:`` snippet and probe flags.

    ``gaps`` pairs each input with its unpinned axes (``[-1]`` when its rank is unknown);
    ``values`` are inputs that need a value too (named in the same message).
    """
    sizes = _open_from_gaps(gaps, dims, values)
    count = len(sizes.parts)
    what = "a value" if count == 1 else f"{count} values"
    message = (f"the probe needs {what} it cannot guess: {'; '.join(sizes.parts)}. Set "
               f"{'it' if count == 1 else 'them'} (replace {PLACEHOLDER}) under the model's "
               f"{sizes.snippet()} or with deploygate probe {sizes.flags()}")
    path = "latency.dims" if sizes.dims else f"latency.inputs.{gaps[0][0].name}.shape"
    return ProbeNeedsValues(message, path=path)


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
    if resolved.suffix.lower() != INPUT_FILE_SUFFIX or not resolved.is_file():
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
