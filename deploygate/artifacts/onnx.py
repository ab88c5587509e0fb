"""ONNX reader: counts weights from tensor headers (dims), never from their data.

The protobuf is parsed once without external data. Every tensor's element count comes from its
``dims``, so a model whose weights live in external files is inspected without reading them:
those files are only checked (location, links, bounds) and stat'ed for their size.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import onnx
from onnx import AttributeProto, TensorProto

from deploygate.artifacts.base import MAX_RANK, ArtifactInfo, Dim, GraphFacts, TensorSpec, as_text
from deploygate.artifacts.lfs import MAX_POINTER_BYTES, refuse_pointer
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG201, DG208
from deploygate.errors import DG202

# protobuf refuses messages over 2 GiB; say so before reading such a file whole.
PROTOBUF_LIMIT = 2**31 - 1
# Subgraphs nest (If inside Loop inside If...); a cap keeps a hostile file from exhausting the
# stack. Real exporters stay far below it.
MAX_GRAPH_DEPTH = 64
# No real tensor holds 2^50 elements (4 PiB of float32); a larger count is a corrupt or hostile
# header, refused before any arithmetic on it.
MAX_TENSOR_ELEMENTS = 2**50
MAX_NODES = 200_000
"""Nodes in a graph, subgraphs and functions included (large exported LLMs have tens of
thousands): the parent process walks each, and later stages infer shapes over all of them."""
# Domains onnxruntime implements itself; anything else needs a custom-op library.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})

# ai.onnx.ml operators hold their learned numbers in attributes, not initializers: these
# attributes are counted as weights (the structure — node and feature ids, modes, labels — is
# not). Each name is a FLOATS attribute or, for the *_as_tensor forms, a TENSOR one.
ML_WEIGHTS: dict[str, tuple[str, ...]] = {
    "LinearClassifier": ("coefficients", "intercepts"),
    "LinearRegressor": ("coefficients", "intercepts"),
    "SVMClassifier": ("coefficients", "support_vectors", "rho", "prob_a", "prob_b",
                      "kernel_params"),
    "SVMRegressor": ("coefficients", "support_vectors", "rho", "kernel_params"),
    "TreeEnsembleClassifier": ("nodes_values", "nodes_values_as_tensor", "nodes_hitrates",
                               "nodes_hitrates_as_tensor", "class_weights",
                               "class_weights_as_tensor", "base_values",
                               "base_values_as_tensor"),
    "TreeEnsembleRegressor": ("nodes_values", "nodes_values_as_tensor", "nodes_hitrates",
                              "nodes_hitrates_as_tensor", "target_weights",
                              "target_weights_as_tensor", "base_values",
                              "base_values_as_tensor"),
    "TreeEnsemble": ("nodes_splits", "nodes_hitrates", "leaf_weights"),
    "Scaler": ("offset", "scale"),
    "Imputer": ("imputed_value_floats",),
}

# TensorProto.DataType name -> (numpy-style name, bits per element). Looked up by name so that
# an onnx release without a newer type still imports this table.
_DTYPES_BY_PROTO_NAME: dict[str, tuple[str, int]] = {
    "FLOAT": ("float32", 32),
    "UINT8": ("uint8", 8),
    "INT8": ("int8", 8),
    "UINT16": ("uint16", 16),
    "INT16": ("int16", 16),
    "INT32": ("int32", 32),
    "INT64": ("int64", 64),
    "STRING": ("string", 0),
    "BOOL": ("bool", 8),
    "FLOAT16": ("float16", 16),
    "DOUBLE": ("float64", 64),
    "UINT32": ("uint32", 32),
    "UINT64": ("uint64", 64),
    "COMPLEX64": ("complex64", 64),
    "COMPLEX128": ("complex128", 128),
    "BFLOAT16": ("bfloat16", 16),
    "FLOAT8E4M3FN": ("float8_e4m3fn", 8),
    "FLOAT8E4M3FNUZ": ("float8_e4m3fnuz", 8),
    "FLOAT8E5M2": ("float8_e5m2", 8),
    "FLOAT8E5M2FNUZ": ("float8_e5m2fnuz", 8),
    "FLOAT8E8M0": ("float8_e8m0fnu", 8),
    # Sub-byte types are stored packed (two 4-bit values per byte, and so on).
    "UINT4": ("uint4", 4),
    "INT4": ("int4", 4),
    "FLOAT4E2M1": ("float4_e2m1fn", 4),
    "UINT2": ("uint2", 2),
    "INT2": ("int2", 2),
    "FLOAT6E2M3": ("float6_e2m3fn", 6),
    "FLOAT6E3M2": ("float6_e3m2fn", 6),
}
DTYPES: dict[int, tuple[str, int]] = {
    int(getattr(TensorProto, name)): entry
    for name, entry in _DTYPES_BY_PROTO_NAME.items() if hasattr(TensorProto, name)
}


def dtype_name(elem_type: int) -> str:
    """The numpy-style name of an ONNX element type (``undefined`` for 0, ``type<N>`` unknown)."""
    if elem_type == TensorProto.UNDEFINED:
        return "undefined"
    entry = DTYPES.get(elem_type)
    return entry[0] if entry else f"type<{elem_type}>"


def packed_nbytes(elem_type: int, elements: int) -> int | None:
    """Bytes that ``elements`` values of ``elem_type`` take as stored; None when not fixed-size."""
    entry = DTYPES.get(elem_type)
    if entry is None or entry[1] == 0:
        return None
    return (elements * entry[1] + 7) // 8  # integers: no float rounding or overflow


@dataclass(frozen=True)
class ExternalRef:
    """Where one tensor's data lives outside the model file."""

    tensor: str
    """Name of the tensor whose data is external."""
    location: str
    """The location as written in the model (relative to the model's folder)."""
    offset: int
    """Byte offset of the data in the file."""
    length: int | None
    """Byte length of the data, when the model gives one."""
    expected: int | None
    """Bytes the tensor's dims and type call for, when fixed-size."""


@dataclass
class _Tally:
    """What the walk over graphs, subgraphs and functions accumulates."""

    display: str
    params: int = 0
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    nodes: int = 0
    subgraphs: int = 0
    external: list[ExternalRef] = field(default_factory=list)
    node_domains: set[tuple[str, str]] = field(default_factory=set)

    def add(self, dtype: str, elements: int, nbytes: int) -> None:
        self.params += elements
        self.bytes_by_dtype[dtype] = self.bytes_by_dtype.get(dtype, 0) + nbytes


def inspect(path: Path, display: str) -> ArtifactInfo:
    """Read an ONNX model's graph headers; external data is checked and stat'ed, never read."""
    model = _load(path, display)
    if not model.HasField("graph"):
        raise ArtifactError("the ONNX model has no graph; re-export it", file=display,
                            rule=DG202)
    tally = _Tally(display)
    _walk_graph(model.graph, tally, display, depth=0)
    for function in model.functions:
        _walk_nodes(function.node, tally, display, depth=0)

    external_files = _check_external_data(path, display, tally.external)
    size = path.stat().st_size + sum(st.st_size for st in external_files.values())
    graph = model.graph
    weights = {t.name for t in graph.initializer} | {
        s.values.name for s in graph.sparse_initializer}
    details = _details(model, tally, bool(external_files))
    inputs = tuple(_spec(v, display) for v in graph.input if v.name not in weights)
    outputs = tuple(_spec(v, display) for v in graph.output)
    facts = GraphFacts(skeleton(model),
                       tuple(dict.fromkeys(PurePosixPath(r.location).as_posix()
                                           for r in tally.external)))
    return ArtifactInfo(
        path=display,
        format="onnx",
        size_bytes=size,
        params=tally.params,
        bytes_by_dtype=dict(sorted(tally.bytes_by_dtype.items())),
        inputs=inputs,
        outputs=outputs,
        files=(path.name, *external_files),
        details=details,
        runnable=True,
        graph=facts,
    )


SKELETON_KEEP_BYTES = 4096
"""A tensor whose inline data is at most this keeps it in the graph skeleton: shape tensors,
axes and trip counts, which shape inference and the workload read. Larger ones keep dims and
type only."""
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "string_data", "int64_data",
                "double_data", "uint64_data")


def skeleton(model: onnx.ModelProto) -> bytes:
    """``model`` serialized without the data of its large tensors (see ``GraphFacts``).

    Strips ``model`` in place: the caller is done with the weights' values.
    """
    for graph in _graphs(model.graph, depth=0):
        for tensor in graph.initializer:
            _strip(tensor)
        for sparse in graph.sparse_initializer:
            _strip(sparse.values)
        _strip_attributes(graph.node)
    for function in model.functions:
        _strip_attributes(function.node)
    data: bytes = model.SerializeToString()
    return data


def read_skeleton(path: Path, display: str) -> bytes:
    """The skeleton of the ONNX model at ``path``, its external data neither read nor checked."""
    return skeleton(_load(path, display))


def _graphs(graph: onnx.GraphProto, depth: int) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph under it (depth already bounded by the walk)."""
    yield graph
    if depth >= MAX_GRAPH_DEPTH:
        return
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _graphs(attr.g, depth + 1)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _graphs(sub, depth + 1)


def _strip_attributes(nodes: Iterable[onnx.NodeProto]) -> None:
    for node in nodes:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                _strip(attr.t)
            elif attr.type == AttributeProto.TENSORS:
                for tensor in attr.tensors:
                    _strip(tensor)


def _strip(tensor: onnx.TensorProto) -> None:
    if tensor.data_location != TensorProto.EXTERNAL and tensor.ByteSize() > SKELETON_KEEP_BYTES:
        for name in _DATA_FIELDS:
            tensor.ClearField(name)


def external_locations(path: Path, display: str) -> tuple[str, ...]:
    """The distinct external-data locations the model at ``path`` names, each checked as safe."""
    model = _load(path, display)
    tally = _Tally(display)
    _walk_graph(model.graph, tally, display, depth=0)
    for function in model.functions:
        _walk_nodes(function.node, tally, display, depth=0)
    for ref in tally.external:
        _check_location_text(ref, display)
    return tuple(dict.fromkeys(PurePosixPath(r.location).as_posix() for r in tally.external))


# Protobuf field numbers on the way from a model to its nodes (onnx.proto): what the scan
# below descends into. Everything else is skipped by its length, never decoded.
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _FUNCTION_NODE, _NODE_ATTRIBUTE = 1, 7, 5
_ATTRIBUTE_GRAPH, _ATTRIBUTE_GRAPHS = 6, 11


def _too_many_nodes(display: str) -> ArtifactError:
    return ArtifactError(f"the graph has more than {MAX_NODES:,} nodes (subgraphs and functions "
                         "included); deploygate does not analyse graphs this large",
                         file=display, rule=DG202)


def _count_nodes_before_parsing(data: bytes, display: str) -> None:
    """Refuse a graph of more than MAX_NODES nodes from its wire format, before protobuf parses
    it: parsed, every node costs hundreds of bytes (a million take ~400 MB)."""
    count = [0]
    try:
        _scan_message(data, 0, len(data), {_MODEL_GRAPH: "graph", _MODEL_FUNCTIONS: "function"},
                      count, 0)
    except _TooMany:
        raise _too_many_nodes(display) from None
    except (IndexError, ValueError):
        return  # not well-formed: the parser will say so


class _TooMany(Exception):
    pass


_DESCEND: dict[str, dict[int, str]] = {
    "graph": {_GRAPH_NODE: "node"},
    "function": {_FUNCTION_NODE: "node"},
    "node": {_NODE_ATTRIBUTE: "attribute"},
    "attribute": {_ATTRIBUTE_GRAPH: "graph", _ATTRIBUTE_GRAPHS: "graph"},
}


def _scan_message(buf: bytes, pos: int, end: int, fields: dict[int, str], count: list[int],
                  depth: int) -> None:
    if depth > 4 * MAX_GRAPH_DEPTH:
        raise ValueError("nested too deeply")
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            kind = fields.get(number)
            if kind == "node":
                count[0] += 1
                if count[0] > MAX_NODES:
                    raise _TooMany
            if kind is not None:
                _scan_message(buf, pos, min(pos + length, end), _DESCEND[kind], count, depth + 1)
            pos += length
        else:
            raise ValueError(f"wire type {wire}")
        if pos > end:
            raise ValueError("truncated")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _load(path: Path, display: str) -> onnx.ModelProto:
    size = path.stat().st_size
    if size > PROTOBUF_LIMIT:
        raise ArtifactError(
            f"the ONNX file is {size} bytes, over protobuf's 2 GiB limit; re-save it with "
            "external data (onnx.save_model(..., save_as_external_data=True))",
            file=display, rule=DG202)
    data = path.read_bytes()  # once: scanned for its node count, then parsed
    _count_nodes_before_parsing(data, display)
    try:
        return onnx.load_from_string(data)
    except Exception as e:  # protobuf raises DecodeError, RuntimeError, ValueError, ...
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ArtifactError(f"not a valid ONNX model ({cause}); re-export it", file=display,
                            rule=DG202) from e


def _walk_graph(graph: onnx.GraphProto, tally: _Tally, display: str, depth: int) -> None:
    if depth > MAX_GRAPH_DEPTH:
        raise ArtifactError(
            f"subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels (at graph {graph.name!r}); "
            "the file is corrupt or hostile, re-export it", file=display, rule=DG202)
    for tensor in graph.initializer:
        _count_tensor(tensor, tally)
    for sparse in graph.sparse_initializer:
        _count_sparse(sparse, tally)
    _walk_nodes(graph.node, tally, display, depth)


def _walk_nodes(nodes: Iterable[onnx.NodeProto], tally: _Tally, display: str, depth: int) -> None:
    for node in nodes:
        tally.nodes += 1
        if tally.nodes > MAX_NODES:
            # Refused here too (a file the wire scan could not follow but protobuf parsed),
            # before any later stage does work proportional to the graph in this process.
            raise _too_many_nodes(display)
        tally.node_domains.add((node.domain, node.op_type))
        is_constant = node.op_type == "Constant" and node.domain in ("", "ai.onnx")
        ml_weights = ML_WEIGHTS.get(node.op_type, ()) if node.domain == "ai.onnx.ml" else ()
        for attr in node.attribute:
            if is_constant:
                _count_constant_attribute(attr, tally)
            elif attr.name in ml_weights:
                _count_ml_attribute(attr, tally)
            else:
                _note_attribute_tensors(attr, tally)
            for sub in _subgraphs(attr):
                tally.subgraphs += 1
                _walk_graph(sub, tally, display, depth + 1)


def _subgraphs(attr: onnx.AttributeProto) -> Iterator[onnx.GraphProto]:
    if attr.type == AttributeProto.GRAPH:
        yield attr.g
    elif attr.type == AttributeProto.GRAPHS:
        yield from attr.graphs


def _count_constant_attribute(attr: onnx.AttributeProto, tally: _Tally) -> None:
    # Constant carries exactly one of these; each is a weight held in the graph.
    if attr.name == "value" and attr.type == AttributeProto.TENSOR:
        _count_tensor(attr.t, tally)
    elif attr.name == "sparse_value" and attr.type == AttributeProto.SPARSE_TENSOR:
        _count_sparse(attr.sparse_tensor, tally)
    elif attr.name == "value_float":
        tally.add("float32", 1, 4)
    elif attr.name == "value_floats":
        tally.add("float32", len(attr.floats), 4 * len(attr.floats))
    elif attr.name == "value_int":
        tally.add("int64", 1, 8)
    elif attr.name == "value_ints":
        tally.add("int64", len(attr.ints), 8 * len(attr.ints))
    elif attr.name == "value_string":
        tally.add("string", 1, len(attr.s))
    elif attr.name == "value_strings":
        tally.add("string", len(attr.strings), sum(len(s) for s in attr.strings))


def _count_ml_attribute(attr: onnx.AttributeProto, tally: _Tally) -> None:
    # classic ML (ai.onnx.ml) keeps its learned numbers in attributes: floats, or tensors
    if attr.type == AttributeProto.FLOATS:
        tally.add("float32", len(attr.floats), 4 * len(attr.floats))
    elif attr.type == AttributeProto.TENSOR:
        _count_tensor(attr.t, tally)


def _note_attribute_tensors(attr: onnx.AttributeProto, tally: _Tally) -> None:
    # Tensors in other ops' attributes are not weights, but their data may still be external
    # (onnx's save helpers move any large attribute tensor out), so their locations are checked.
    tensors: list[onnx.TensorProto] = []
    if attr.type == AttributeProto.TENSOR:
        tensors.append(attr.t)
    elif attr.type == AttributeProto.TENSORS:
        tensors.extend(attr.tensors)
    elif attr.type == AttributeProto.SPARSE_TENSOR:
        tensors.extend((attr.sparse_tensor.values, attr.sparse_tensor.indices))
    elif attr.type == AttributeProto.SPARSE_TENSORS:
        for sparse in attr.sparse_tensors:
            tensors.extend((sparse.values, sparse.indices))
    for tensor in tensors:
        _note_external(tensor, tally)


def _elements(dims: Iterable[int], what: str, display: str) -> int:
    """The element count of ``dims``, refusing negative and absurd dimensions."""
    dims = list(dims)
    if len(dims) > MAX_RANK:
        raise ArtifactError(f"{what} has {len(dims)} dimensions (limit {MAX_RANK}); the file is "
                            "corrupt or hostile, re-export it", file=display, rule=DG202)
    elements = 1
    for d in dims:
        if d < 0:
            raise ArtifactError(f"{what} has a negative dimension ({d}); the file is corrupt, "
                                "re-export it", file=display, rule=DG202)
        elements *= d
        if elements > MAX_TENSOR_ELEMENTS:
            raise ArtifactError(f"{what} declares more than 2^50 elements; the file is corrupt "
                                "or hostile, re-export it", file=display, rule=DG202)
    return elements


# Where an inline tensor keeps its values when not in raw_data, and how many per element.
_TYPED_FIELDS: dict[str, tuple[str, int]] = {
    "FLOAT": ("float_data", 1), "COMPLEX64": ("float_data", 2),
    "DOUBLE": ("double_data", 1), "COMPLEX128": ("double_data", 2),
    "INT64": ("int64_data", 1), "UINT32": ("uint64_data", 1), "UINT64": ("uint64_data", 1),
    "INT32": ("int32_data", 1), "INT16": ("int32_data", 1), "INT8": ("int32_data", 1),
    "UINT16": ("int32_data", 1), "UINT8": ("int32_data", 1), "BOOL": ("int32_data", 1),
    "FLOAT16": ("int32_data", 1), "BFLOAT16": ("int32_data", 1),
    "STRING": ("string_data", 1),
}
TYPED_FIELDS: dict[int, tuple[str, int]] = {
    int(getattr(TensorProto, name)): entry for name, entry in _TYPED_FIELDS.items()
}
_VALUE_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data",
                 "uint64_data")


def _check_inline_data(tensor: onnx.TensorProto, elements: int, display: str) -> None:
    """An inline tensor must hold exactly the data its dims and type call for.

    Otherwise the header lies about the weights: a 4-byte tensor claiming 2^40 elements would
    be judged on its claim, and onnxruntime would refuse (or misread) it.
    """
    if tensor.data_location == TensorProto.EXTERNAL:
        return
    what = f"tensor {tensor.name or '<unnamed>'!r}"
    if tensor.raw_data:
        expected = packed_nbytes(tensor.data_type, elements)
        if expected is not None and len(tensor.raw_data) != expected:
            raise ArtifactError(
                f"{what}: its shape and type need {expected} bytes but it holds "
                f"{len(tensor.raw_data)}; the file is corrupt, re-export it", file=display,
                rule=DG202)
        return
    typed = TYPED_FIELDS.get(tensor.data_type)
    held = sum(len(getattr(tensor, f)) for f in _VALUE_FIELDS)
    if typed is not None:
        field_name, per_element = typed
        held = len(getattr(tensor, field_name)) // per_element
        if held != elements:
            raise ArtifactError(
                f"{what}: its shape declares {elements} elements but it holds {held} values; "
                "the file is corrupt, re-export it", file=display, rule=DG202)
    elif elements and not held:
        raise ArtifactError(f"{what}: its shape declares {elements} elements but it holds no "
                            "data; the file is corrupt, re-export it", file=display,
                            rule=DG202)


def _count_tensor(tensor: onnx.TensorProto, tally: _Tally) -> None:
    elements = _elements(tensor.dims, f"tensor {tensor.name or '<unnamed>'!r}", tally.display)
    _check_inline_data(tensor, elements, tally.display)
    if tensor.data_type == TensorProto.STRING:
        # Strings have no fixed size: count the bytes stored inline (strings are never external).
        nbytes = sum(len(s) for s in tensor.string_data)
    else:
        nbytes = packed_nbytes(tensor.data_type, elements) or 0
    tally.add(dtype_name(tensor.data_type), elements, nbytes)
    _note_external(tensor, tally)


def _count_sparse(sparse: onnx.SparseTensorProto, tally: _Tally) -> None:
    # A sparse weight counts as its dense shape: that is its parameter count, and onnxruntime
    # densifies sparse initializers when it loads them.
    elements = _elements(sparse.dims, f"sparse tensor {sparse.values.name or '<unnamed>'!r}",
                         tally.display)
    elem_type = sparse.values.data_type
    tally.add(dtype_name(elem_type), elements, packed_nbytes(elem_type, elements) or 0)
    _note_external(sparse.values, tally)
    _note_external(sparse.indices, tally)


def _note_external(tensor: onnx.TensorProto, tally: _Tally) -> None:
    if tensor.data_location != TensorProto.EXTERNAL:
        return
    # proto2 strings are not checked as UTF-8: protobuf hands invalid ones back as bytes. A
    # location names a file, so its bytes are kept as the file system's (surrogate escapes).
    entries = {as_text(e.key): os.fsdecode(e.value) if isinstance(e.value, bytes) else e.value
               for e in tensor.external_data}
    name = as_text(tensor.name) or "<unnamed>"
    length = entries.get("length")
    tally.external.append(ExternalRef(
        tensor=name,
        location=entries.get("location", ""),
        offset=_entry_int(entries.get("offset", "0"), "offset", name, tally.display),
        length=None if length is None else _entry_int(length, "length", name, tally.display),
        expected=packed_nbytes(tensor.data_type, _elements(tensor.dims, f"tensor {name!r}",
                                                           tally.display)),
    ))


def _entry_int(raw: str, key: str, tensor: str, display: str) -> int:
    # ASCII digits only: no sign (negative offsets are invalid), no Unicode digits int() takes.
    if not (raw.isascii() and raw.isdigit()):
        raise ArtifactError(f"tensor {tensor!r}: external data {key} {raw!r} is not a "
                            "non-negative integer; re-save the model", file=display, rule=DG202)
    return int(raw)


def _check_external_data(path: Path, display: str,
                         refs: list[ExternalRef]) -> dict[str, os.stat_result]:
    """Validate every external location, then stat each distinct file once; never open them."""
    # Refuse unsafe locations for all tensors before touching the file system for any of them.
    for ref in refs:
        _check_location_text(ref, display)
    folder = Path(os.path.abspath(path.parent))
    found: dict[str, os.stat_result] = {}
    for ref in refs:
        key = PurePosixPath(ref.location).as_posix()
        if key not in found:
            found[key] = _stat_location(folder, key, ref, display)
            if found[key].st_size < MAX_POINTER_BYTES:
                # An LFS pointer left in place of the data would fail the bounds check below
                # with a misleading "truncated"; name the real cause.
                refuse_pointer(folder / key, str(PurePosixPath(display).parent / key))
        _check_bounds(ref, found[key].st_size, display)
    return found


def _check_location_text(ref: ExternalRef, display: str) -> None:
    where = f"tensor {ref.tensor!r}: external data location {ref.location!r}"
    fix = "re-save the model with its external data beside it (location=NAME)"
    if not ref.location:
        raise ArtifactError(f"tensor {ref.tensor!r}: external data has no location; {fix}",
                            file=display, rule=DG208)
    if "\x00" in ref.location:
        problem = "contains a NUL byte"
    elif ref.location.startswith(("/", "\\")) or ref.location[1:2] == ":":
        problem = "is absolute"
    elif ".." in ref.location.replace("\\", "/").split("/"):
        problem = "contains '..'"
    elif "\\" in ref.location:
        # A separator on Windows, a file-name character elsewhere: the location would name
        # different files on different runners.
        problem = "contains a backslash (use '/')"
    else:
        return
    raise ArtifactError(f"{where} {problem}; refused, {fix}", file=display, rule=DG208)


def _stat_location(folder: Path, location: str, ref: ExternalRef,
                   display: str) -> os.stat_result:
    where = f"tensor {ref.tensor!r}: external data location {ref.location!r}"
    current = folder
    st: os.stat_result | None = None
    for part in PurePosixPath(location).parts:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            raise ArtifactError(f"{where}: no such file next to the model; commit it or "
                                "re-save the model", file=display, rule=DG201) from None
        # A link could point anywhere, including outside the repository: never follow one.
        if stat.S_ISLNK(st.st_mode):
            raise ArtifactError(f"{where} goes through a symbolic link ({part!r}); refused, "
                                "commit the data file itself", file=display, rule=DG208)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise ArtifactError(f"{where} is not a regular file; re-save the model", file=display,
                            rule=DG208)
    if st.st_nlink > 1:
        # A hard link shares its data with a file that may lie anywhere on the machine; git
        # never checks one out, so a linked data file was planted (onnx refuses them too).
        raise ArtifactError(f"{where} is a hard link ({st.st_nlink} names share its data); "
                            "refused, commit the data file itself", file=display, rule=DG208)
    # Defence in depth: the checks above already keep the path inside the folder.
    if not current.resolve().is_relative_to(folder.resolve()):
        raise ArtifactError(f"{where} resolves outside the model's folder; refused",
                            file=display, rule=DG208)
    return st


def _check_bounds(ref: ExternalRef, file_size: int, display: str) -> None:
    where = f"tensor {ref.tensor!r}: external data in {ref.location!r}"
    if ref.length is not None and ref.expected is not None and ref.length != ref.expected:
        raise ArtifactError(
            f"{where} has length {ref.length} but its shape and type need {ref.expected} "
            "bytes; re-save the model", file=display, rule=DG202)
    span = ref.length if ref.length is not None else ref.expected
    end = ref.offset + (span or 0)
    if end > file_size:
        raise ArtifactError(
            f"{where} spans bytes {ref.offset}..{end} but the file has {file_size}; "
            "the data file is truncated or not this model's, re-save it", file=display,
            rule=DG208)


def _spec(value: onnx.ValueInfoProto, display: str) -> TensorSpec:
    kind = value.type.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        tensor_type = getattr(value.type, kind)
        shape: tuple[Dim, ...] | None = None
        if tensor_type.HasField("shape"):
            if len(tensor_type.shape.dim) > MAX_RANK:
                raise ArtifactError(f"input or output {as_text(value.name)!r} has "
                                    f"{len(tensor_type.shape.dim)} dimensions (limit {MAX_RANK}); "
                                    "the file is corrupt or hostile, re-export it",
                                    file=display, rule=DG202)
            shape = tuple(graph_dim(d) for d in tensor_type.shape.dim)
        return TensorSpec(value.name, dtype_name(tensor_type.elem_type), shape)
    # sequence, map and optional values have no single element type or shape.
    return TensorSpec(value.name, kind.removesuffix("_type") if kind else "undefined", None)


def graph_dim(dim: onnx.TensorShapeProto.Dimension) -> Dim:
    """A graph dimension: a size, a symbolic name, or None when unnamed and dynamic.

    Exporters write dynamic sizes as ``dim_value: -1`` or ``0`` (Paddle, old TensorFlow
    converters) and as ``dim_param: "?"``; none of them is a size or a name two inputs share.
    """
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return int(dim.dim_value) if dim.dim_value > 0 else None
    if which == "dim_param" and dim.dim_param and dim.dim_param != "?":
        return str(dim.dim_param)
    return None


DECLARED_SIZE_MAX = 16384
"""Largest image side a model's metadata may declare (a bigger one is not taken)."""
_IMGSZ = re.compile(r"\[?\s*(\d{1,5})\s*(?:,\s*(\d{1,5})\s*)?\]?")


def declared_sizes(model: onnx.ModelProto) -> list[dict[str, Any]]:
    """Sizes the model itself states for input axes its graph leaves open.

    Ultralytics exports record the image size they were exported at as ``imgsz`` in the
    model's metadata (``[640, 640]``, or one number for a square): the height and width of
    its one NCHW image input. Nothing else is taken: a size no file states is never guessed.
    Each entry is ``{input, axis, size, source}``.
    """
    props = {p.key: p.value for p in model.metadata_props if p.key == "imgsz"}
    match = _IMGSZ.fullmatch(props.get("imgsz", "")[:64].strip())
    if match is None:
        return []
    height = int(match.group(1))
    width = int(match.group(2) or height)
    if not (0 < height <= DECLARED_SIZE_MAX and 0 < width <= DECLARED_SIZE_MAX):
        return []
    weights = {t.name for t in model.graph.initializer}
    images = []
    for value in model.graph.input:
        tensor = value.type.tensor_type
        if value.name in weights or not value.type.HasField("tensor_type") or \
                not tensor.HasField("shape") or len(tensor.shape.dim) != 4 or \
                tensor.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
            continue
        images.append((value.name, [graph_dim(d) for d in tensor.shape.dim]))
    if len(images) != 1:
        return []
    name, shape = images[0]
    return [{"input": name, "axis": axis, "size": size, "source": "model metadata imgsz"}
            for axis, size in ((2, height), (3, width)) if not isinstance(shape[axis], int)]


def _details(model: onnx.ModelProto, tally: _Tally, has_external: bool) -> dict[str, Any]:
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    local = {(f.domain, f.name) for f in model.functions}
    local_domains = {f.domain for f in model.functions}
    # A domain is custom when it needs ops from outside the model: model-local functions do not.
    custom = {d for d in opsets if d not in STANDARD_DOMAINS and d not in local_domains}
    custom |= {d for d, op in tally.node_domains
               if d not in STANDARD_DOMAINS and (d, op) not in local}
    return {
        "ir_version": int(model.ir_version),
        "opsets": opsets,
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "custom_domains": sorted(custom),
        "node_count": tally.nodes,
        "subgraph_count": tally.subgraphs,
        "function_count": len(model.functions),
        "has_external_data": has_external,
        **({"declared_sizes": sizes} if (sizes := declared_sizes(model)) else {}),
    }
