"""Work per inference: FLOPs, bytes moved and activation memory, from an ONNX graph or from an
LLM checkpoint's configuration.

Counting conventions (see docs/targets.md):

* a multiply-add is 2 FLOPs; Conv, ConvTranspose, Gemm, MatMul (batched, broadcast), LSTM,
  GRU, RNN and attention ops are counted from their shapes; element-wise ops cost one FLOP per
  output element; pooling, normalization, softmax and reductions a few per element;
  data-movement ops (Reshape, Transpose, Gather, ...) cost bytes but no FLOPs;
* bytes moved = the weights (read once per inference) + every activation written once and read
  once by each consumer (no fusion assumed, so an upper bound);
* activation memory = the peak of the live set: walking the nodes in their (topological) order,
  a tensor is live from the node that makes it to its last consumer, the way onnxruntime's
  memory planner reuses buffers; graph inputs are live from the start, outputs to the end;
* a node has a known shape when every tensor it reads or writes has a static shape; coverage is
  the fraction of such nodes, and the figures count only what is known.

For weight-only LLM checkpoints, the workload is one decode step (one generated token) at a
stated context: FLOPs = 2 x params (+ attention over the context), bytes = weights + the whole
KV cache, KV cache = 2 x layers x kv_heads x head_dim x dtype bytes x context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from deploygate.artifacts.base import ArtifactInfo
from deploygate.artifacts.llm import UNKNOWN_CONTEXT_TOKENS, LlmShape
from deploygate.manifest.model import LatencySpec, Serving

DEFAULT_DIM = 1
"""Value taken by a symbolic dimension that neither the probe nor the manifest pinned."""
MAX_TENSOR_ELEMENTS = 2**50
"""A tensor with more elements than this (a petabyte of int8) is taken as of unknown shape: the
ONNX reader's cap on declared tensors (``deploygate.artifacts.onnx``), applied here to the
shapes inference derives (not imported, so an LLM's workload does not load onnx)."""
def _onnx_itemsize(elem_type: int) -> float:
    """Bytes per element of an ONNX element type (sub-byte types as fractions; 0 if unknown)."""
    from deploygate.artifacts.onnx import DTYPES

    entry = DTYPES.get(elem_type)
    return entry[1] / 8 if entry else 0


ELEMENTWISE_OPS = frozenset("""
Abs Acos Acosh Add And Asin Asinh Atan Atanh BiasGelu BitShift Cast CastLike Ceil Celu Clip Cos
Cosh DequantizeLinear Div Elu Equal Erf Exp FastGelu Floor Gelu Greater GreaterOrEqual HardSigmoid
HardSwish IsInf IsNaN LeakyRelu Less LessOrEqual Log Max Mean Min Mish Mod Mul Neg Not Or PRelu Pow
QuantizeLinear QuickGelu Reciprocal Relu Round Selu Shrink Sigmoid Sign Sin Sinh Softplus Softsign
Sqrt Sub Sum Tan Tanh ThresholdedRelu Where Xor BiasAdd DynamicQuantizeLinear
""".split())
PER_ELEMENT_OPS = {
    # op -> FLOPs per element of the input (normalizations: mean, variance, scale, shift)
    "BatchNormalization": 2, "InstanceNormalization": 5, "LayerNormalization": 5,
    "GroupNormalization": 5, "LpNormalization": 3, "SimplifiedLayerNormalization": 4,
    "SkipLayerNormalization": 6, "SkipSimplifiedLayerNormalization": 5, "RMSNormalization": 4,
    "MeanVarianceNormalization": 5, "LRN": 5,
    "Softmax": 5, "LogSoftmax": 5, "Hardmax": 2,
    "GlobalAveragePool": 1, "GlobalMaxPool": 1, "GlobalLpPool": 2,
    "ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1,
    "ReduceL1": 2, "ReduceL2": 2, "ReduceLogSum": 2, "ReduceLogSumExp": 3, "ReduceSumSquare": 2,
    "ArgMax": 1, "ArgMin": 1, "CumSum": 1, "TopK": 2,
}
MOVEMENT_OPS = frozenset("""
Reshape Transpose Concat Split Slice Gather GatherElements GatherND Squeeze Unsqueeze Flatten
Shape Size Identity Expand Tile Pad Constant ConstantOfShape Range ScatterND ScatterElements
DepthToSpace SpaceToDepth Dropout NonZero OneHot Compress Trilu ReverseSequence EyeLike
""".split())
_POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
_CONV_OPS = frozenset({"Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv"})
_MATMUL_OPS = frozenset({"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul",
                         "MatMulNBits", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"})
_ATTENTION_OPS = frozenset({"Attention", "MultiHeadAttention", "GroupQueryAttention"})
CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})
"""Ops whose cost is their subgraphs': If at its costliest branch, Loop/Scan x trip count."""
MODELED_OPS = (ELEMENTWISE_OPS | MOVEMENT_OPS | frozenset(PER_ELEMENT_OPS) | _POOL_OPS | _CONV_OPS
               | _MATMUL_OPS | _ATTENTION_OPS
               | CONTROL_FLOW_OPS | {"ConvTranspose", "LSTM", "GRU", "RNN", "Resize", "Upsample"})
"""Op types with a cost model; any other op is listed in ``Workload.uncounted_ops``."""
_RESIZE_FLOPS_PER_OUTPUT = 4  # bilinear: four taps per output element
_INT_TYPES = frozenset({6, 7, 12, 13})  # ONNX INT32, INT64, UINT32, UINT64
MAX_SUBGRAPH_DEPTH = 8
"""Nesting of control-flow subgraphs counted; deeper ones are left out (and said)."""


@dataclass(frozen=True)
class Kernel:
    """One kernel of a fused engine (TensorRT, QNN, Core ML, onnxruntime's optimized graph):
    an op that does work, with the element-wise ops, Q/DQ pairs and layout changes around it
    folded in, so only its own inputs and outputs travel through memory."""

    flops: float
    """Operations of the kernel (its fused element-wise ops included)."""
    activations: float
    """Activation elements it reads and writes (multiplied by the path's element size)."""
    weights: float
    """Weight elements it reads."""
    count: int = 1
    """How many times it runs per inference (a Loop body's trips)."""
    attention: bool = False
    """A fused attention (q.k, softmax, p.v in one kernel; the score matrix stays on chip)."""


Per = Literal["inference", "token"]
"""What one unit of estimated work is: one inference, or one generated token (LLM decode)."""


@dataclass(frozen=True)
class Workload:
    """Work one inference (one generated token, for LLM checkpoints) does."""

    flops: float
    """Floating-point (or integer) operations, a multiply-add counting 2."""
    bytes_moved: float
    """Bytes read and written: weights once, activations (unfused) or the KV cache."""
    weights_bytes: int
    """Weight bytes."""
    activation_bytes: int
    """Peak live activation bytes (0 for LLM decode, where the KV cache dominates)."""
    coverage: float
    """Fraction of nodes whose shapes were known (1.0 for LLM checkpoints)."""
    per: Per = "inference"
    """What one unit of work is: ``inference`` or ``token`` (LLM decode)."""
    nodes: int = 0
    """Graph nodes counted (Constant nodes excluded)."""
    kv_cache_bytes: int = 0
    """KV cache at ``context_tokens`` (LLM checkpoints)."""
    context_tokens: int = 0
    """Context the KV cache is sized for (LLM checkpoints)."""
    prefill_flops: float = 0.0
    """FLOPs to read a prompt of ``context_tokens`` tokens (LLM checkpoints)."""
    uncounted_ops: tuple[str, ...] = ()
    """Op types present that have no cost model (counted as zero FLOPs)."""
    assumptions: tuple[str, ...] = ()
    """What was assumed, e.g. symbolic dims taken as 1."""
    kernels: tuple[Kernel, ...] = ()
    """The graph as a fused engine runs it (ONNX graphs; empty for LLM checkpoints)."""
    quantized: bool = False
    """The graph carries int8 weights or Q/DQ pairs: an int8 engine runs it at int8."""

    @property
    def working_set(self) -> int:
        """Bytes that must stay close to the cores: weights, peak activations and KV cache."""
        return self.weights_bytes + self.activation_bytes + self.kv_cache_bytes

    def to_json(self) -> dict[str, Any]:
        """JSON form for the report's ``estimates``."""
        data: dict[str, Any] = {"per": self.per, "flops": self.flops, "bytes_moved": self.bytes_moved,
                                "weights_bytes": self.weights_bytes,
                                "activation_bytes": self.activation_bytes,
                                "coverage": round(self.coverage, 4)}
        if self.per == "token":
            data.update(kv_cache_bytes=self.kv_cache_bytes, context_tokens=self.context_tokens,
                        prefill_flops=self.prefill_flops)
        if self.uncounted_ops:
            data["uncounted_ops"] = list(self.uncounted_ops)
        if self.assumptions:
            data["assumptions"] = list(self.assumptions)
        return data


# ---------------------------------------------------------------------------------- LLMs


def llm_workload(artifact: ArtifactInfo, shape: LlmShape, context: int | None = None) -> Workload:
    """One decode step at ``context`` tokens (default: the model's maximum context)."""
    ctx = context or shape.context
    if context:
        why = "serving.context_tokens"
    elif shape.max_context:
        why = "the model's maximum; set serving.context_tokens to the context you serve"
    else:
        why = (f"the model does not say its maximum, {UNKNOWN_CONTEXT_TOKENS} assumed; set "
               "serving.context_tokens")
    kv_cache = shape.kv_bytes_per_token * ctx
    # Each new token attends over the whole context: q.k and p.v in every layer and head.
    attention = 4.0 * shape.layers * shape.heads * shape.head_dim * ctx
    return Workload(
        flops=2.0 * artifact.params + attention,
        bytes_moved=float(artifact.weights_bytes + kv_cache),
        weights_bytes=artifact.weights_bytes, activation_bytes=0, coverage=1.0, per="token",
        kv_cache_bytes=kv_cache, context_tokens=ctx, prefill_flops=2.0 * artifact.params * ctx,
        assumptions=(f"context {ctx} tokens ({why})",))


# ---------------------------------------------------------------------------------- shapes


def pinned_shapes(artifact: ArtifactInfo, spec: LatencySpec | None) -> tuple[dict[str, list[int]],
                                                                             tuple[str, ...]]:
    """Concrete input shapes as the probe would pin them, and the dims that had to be assumed.

    Per-input ``latency.inputs[x].shape`` wins; symbolic dims come from ``latency.dims``; a
    size the model states (its ``declared_sizes``) comes next, any other unknown dim is taken
    as DEFAULT_DIM; both are reported as assumptions.
    """
    spec = spec or LatencySpec()
    shapes: dict[str, list[int]] = {}
    assumed: set[str] = set()
    assumed_from: set[str] = set()
    declared = {(d["input"], d["axis"]): d for d in artifact.details.get("declared_sizes", ())}
    for tensor in artifact.inputs:
        given = spec.inputs.get(tensor.name)
        if given is not None and given.shape is not None:
            shapes[tensor.name] = list(given.shape)
            continue
        if tensor.shape is None:
            continue
        dims = []
        for axis, d in enumerate(tensor.shape):
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif isinstance(d, str) and d in spec.dims:
                dims.append(spec.dims[d])
            elif (tensor.name, axis) in declared:
                stated = declared[tensor.name, axis]
                dims.append(stated["size"])
                assumed_from.add(f"{d or f'{tensor.name}[{axis}]'} = {stated['size']} "
                                 f"({stated['source']})")
            else:
                assumed.add(str(d) if d else f"{tensor.name}[{axis}]")
                dims.append(DEFAULT_DIM)
        shapes[tensor.name] = dims
    notes = tuple(f"{name} = {DEFAULT_DIM}" for name in sorted(assumed))
    return shapes, (*notes, *sorted(assumed_from))


def batch_size(artifact: ArtifactInfo, spec: LatencySpec | None,
               shapes: Mapping[str, Sequence[int]] | None = None) -> int:
    """Inferences per run: ``dims.batch`` (or batch_size, N), else a symbolic leading dim's value."""
    spec = spec or LatencySpec()
    for name in ("batch", "batch_size", "N"):
        if spec.dims.get(name, 0) > 1:
            return spec.dims[name]
    for tensor in artifact.inputs:
        if tensor.shape and not isinstance(tensor.shape[0], int):
            pinned = (shapes or {}).get(tensor.name)
            given = spec.inputs.get(tensor.name)
            if given is not None and given.shape:
                pinned = list(given.shape)
            if pinned and pinned[0] > 1:
                return int(pinned[0])
    return 1


# ---------------------------------------------------------------------------------- ONNX


@dataclass
class _Tensor:
    shape: tuple[int, ...] | None
    itemsize: float

    def __post_init__(self) -> None:
        # A shape no machine could hold (hostile dims multiply past float range) is unknown:
        # it lowers coverage instead of overflowing every figure computed from it.
        if self.shape is not None and (any(d < 0 for d in self.shape)
                                       or math.prod(self.shape) > MAX_TENSOR_ELEMENTS):
            self.shape = None

    @property
    def known(self) -> bool:
        return self.shape is not None

    @property
    def numel(self) -> int:
        return math.prod(self.shape) if self.shape is not None else 0

    @property
    def nbytes(self) -> int:
        return int(self.numel * self.itemsize)


@dataclass
class _Graph:
    tensors: dict[str, _Tensor] = field(default_factory=dict)
    weights: set[str] = field(default_factory=set)
    scalars: dict[str, int] = field(default_factory=dict)
    """Integer scalar constants (a Loop's trip count), by tensor name."""
    outer: _Graph | None = None
    """The enclosing graph, whose names a subgraph (If branch, Loop body) may read."""

    def get(self, name: str) -> _Tensor | None:
        if not name:
            return None
        found = self.tensors.get(name)
        return found if found is not None or self.outer is None else self.outer.get(name)

    def is_weight(self, name: str) -> bool:
        return name in self.weights or (self.outer is not None and self.outer.is_weight(name))

    def scalar(self, name: str) -> int | None:
        found = self.scalars.get(name)
        return found if found is not None or self.outer is None else self.outer.scalar(name)

    def shape(self, name: str) -> tuple[int, ...] | None:
        t = self.get(name)
        return t.shape if t is not None else None


def _static(type_proto: Any) -> tuple[tuple[int, ...] | None, float]:
    tensor_type = type_proto.tensor_type
    itemsize = _onnx_itemsize(tensor_type.elem_type)
    if not tensor_type.HasField("shape"):
        return None, itemsize
    dims = []
    for d in tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 0:
            return None, itemsize
        dims.append(d.dim_value)
    return tuple(dims), itemsize


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _pin_inputs(graph: Any, shapes: Mapping[str, Sequence[int]]) -> None:
    for value in graph.input:
        pinned = shapes.get(value.name)
        if pinned is None or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        if len(shape.dim) != len(pinned):
            continue
        for dim, size in zip(shape.dim, pinned, strict=True):
            dim.Clear()
            dim.dim_value = int(size)


def _int_scalar(tensor: Any) -> int | None:
    """The value of a one-element integer TensorProto (a Loop's trip count), else None."""
    from onnx import numpy_helper

    if math.prod(tensor.dims) != 1 or tensor.data_type not in _INT_TYPES \
            or tensor.data_location == tensor.EXTERNAL:  # never open a file a graph names
        return None
    try:
        return int(numpy_helper.to_array(tensor).reshape(-1)[0])
    except (ValueError, TypeError, IndexError):  # external or malformed data: value unknown
        return None


def _collect(g: Any, outer: _Graph | None = None) -> _Graph:
    graph = _Graph(outer=outer)
    for init in g.initializer:
        graph.tensors[init.name] = _Tensor(tuple(init.dims), _onnx_itemsize(init.data_type))
        graph.weights.add(init.name)
        if (value := _int_scalar(init)) is not None:
            graph.scalars[init.name] = value
    for value in list(g.input) + list(g.value_info) + list(g.output):
        if value.name in graph.weights or not value.type.HasField("tensor_type"):
            continue
        shape, itemsize = _static(value.type)
        graph.tensors[value.name] = _Tensor(shape, itemsize)
    for node in g.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            value = _attr(node, "value")
            if value is not None and hasattr(value, "dims"):
                graph.tensors[node.output[0]] = _Tensor(tuple(value.dims),
                                                        _onnx_itemsize(value.data_type))
                graph.weights.add(node.output[0])
                if (number := _int_scalar(value)) is not None:
                    graph.scalars[node.output[0]] = number
    return graph


def _node_flops(node: Any, g: _Graph) -> float | None:
    """FLOPs of one node, or None when its op has no cost model or its shapes are unknown."""
    op, ins, outs = node.op_type, list(node.input), list(node.output)
    y = g.shape(outs[0]) if outs else None
    y_numel = math.prod(y) if y is not None else None

    if op in _CONV_OPS:
        w = g.shape(ins[3] if op == "QLinearConv" else ins[1])
        if y_numel is None or w is None:
            return None
        return 2.0 * y_numel * math.prod(w[1:])
    if op == "ConvTranspose":
        x, w = g.shape(ins[0]), g.shape(ins[1])
        if x is None or w is None:
            return None
        return 2.0 * math.prod(x) * math.prod(w[1:])
    if op in _MATMUL_OPS:
        a = g.shape(ins[0])
        if a is None or y_numel is None or not a:
            return None
        if op == "Gemm" and _attr(node, "transA", 0):
            k = a[0]
        elif op == "MatMulNBits":
            k = int(_attr(node, "K", a[-1]))
        else:
            k = a[-1]
        return 2.0 * y_numel * k
    if op in ("LSTM", "GRU", "RNN"):
        return _recurrent_flops(node, g)
    if op in _ATTENTION_OPS:
        return _attention_flops(node, g)
    if op in _POOL_OPS:
        kernel = _attr(node, "kernel_shape")
        if y_numel is None or not kernel:
            return None
        return float(y_numel * math.prod(kernel))
    if op in ("Resize", "Upsample"):
        return None if y_numel is None else float(y_numel * _RESIZE_FLOPS_PER_OUTPUT)
    if op in PER_ELEMENT_OPS:
        x = g.shape(ins[0])
        return None if x is None else float(math.prod(x) * PER_ELEMENT_OPS[op])
    if op in ELEMENTWISE_OPS:
        return None if y_numel is None else float(y_numel)
    if op in MOVEMENT_OPS:
        return 0.0
    return None


def _recurrent_flops(node: Any, g: _Graph) -> float | None:
    """LSTM (4 gates), GRU (3) or RNN (1): per step and direction, input and recurrent GEMMs."""
    x, w = g.shape(node.input[0]), g.shape(node.input[1])
    hidden = _attr(node, "hidden_size")
    if x is None or w is None or len(x) != 3 or len(w) != 3 or not hidden:
        return None
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
    seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
    directions, inputs = w[0], w[2]
    gemms = 2.0 * gates * hidden * (inputs + hidden)
    pointwise = 3.0 * gates * hidden  # bias adds, activations and the state update
    return float(directions * seq * batch * (gemms + pointwise))


def _attention_flops(node: Any, g: _Graph) -> float | None:
    """Attention ops: QKV projection when packed (com.microsoft), then q.k and p.v."""
    q = g.shape(node.input[0])
    if q is None:
        return None
    if node.domain == "com.microsoft" and node.op_type == "Attention":
        w = g.shape(node.input[1])  # [in_hidden, 3 * hidden]
        if w is None or len(q) != 3:
            return None
        batch, seq, width = q[0], q[1], w[1] // 3
        return 2.0 * batch * seq * q[2] * w[1] + 4.0 * batch * seq * seq * width
    k = g.shape(node.input[1]) if len(node.input) > 1 else None
    if len(q) == 4:  # [batch, heads, seq, head_dim]
        kv_seq = k[2] if k is not None and len(k) == 4 else q[2]
        return 4.0 * q[0] * q[1] * q[2] * kv_seq * q[3]
    if len(q) == 3:  # [batch, seq, hidden]
        kv_seq = k[1] if k is not None and len(k) == 3 else q[1]
        return 4.0 * q[0] * q[1] * kv_seq * q[2]
    return None


@dataclass
class _Count:
    """What counting one graph (and the subgraphs it runs) found."""

    flops: float = 0.0
    traffic: int = 0
    known: int = 0
    nodes: int = 0
    peak: int = 0
    uncounted: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    kernels: list[Kernel] = field(default_factory=list)

    def add(self, other: _Count, times: int = 1) -> None:
        """Add a subgraph run ``times`` times (its nodes count once toward coverage)."""
        self.flops += other.flops * times
        self.traffic += other.traffic * times
        self.known += other.known
        self.nodes += other.nodes
        self.uncounted |= other.uncounted
        self.notes += other.notes
        self.kernels += [replace(k, count=k.count * times) for k in other.kernels] if times else []


def _subgraph(node: Any, name: str) -> Any:
    for a in node.attribute:
        if a.name == name and a.HasField("g"):
            return a.g
    return None


def _control_flow(node: Any, g: _Graph, depth: int) -> tuple[_Count, bool]:
    """An If/Loop/Scan node's cost from its subgraphs, and whether it is fully known.

    If: the costlier branch (the estimate must hold whichever runs). Loop: the body times its
    trip count when that is a constant, else once (said in the notes). Scan: the body times the
    length of the scanned axis.
    """
    label = f"{node.op_type} '{node.name or node.output[0] if node.output else node.op_type}'"
    if depth >= MAX_SUBGRAPH_DEPTH:
        return _Count(notes=[f"{label}: nested deeper than {MAX_SUBGRAPH_DEPTH}, not counted"]), \
            False
    if node.op_type == "If":
        branches = [_count_graph(b, g, depth + 1) for b in
                    (_subgraph(node, "then_branch"), _subgraph(node, "else_branch")) if b is not None]
        if not branches:
            return _Count(), False
        costliest = max(branches, key=lambda c: (c.flops, c.traffic))
        other_nodes = sum(c.nodes for c in branches) - costliest.nodes
        out = _Count()
        out.add(costliest)
        out.nodes += other_nodes  # the branch not counted still counts toward coverage
        out.known += other_nodes if all(c.known == c.nodes for c in branches) else 0
        out.uncounted |= {u for c in branches for u in c.uncounted}
        if len(branches) > 1:
            out.notes.append(f"{label}: costlier branch counted")
        return out, True
    body = _subgraph(node, "body")
    if body is None:
        return _Count(), False
    inner = _count_graph(body, g, depth + 1)
    trips: int | None
    if node.op_type == "Loop":
        trips = g.scalar(node.input[0]) if node.input and node.input[0] else None
    else:
        scan_inputs = int(_attr(node, "num_scan_inputs", 0))
        axes = list(_attr(node, "scan_input_axes", []) or [0])
        first = g.shape(node.input[len(node.input) - scan_inputs]) if scan_inputs else None
        trips = first[axes[0]] if first is not None and -len(first) <= axes[0] < len(first) else None
    out = _Count()
    if trips is None:
        out.add(inner)
        out.notes.append(f"{label}: trip count unknown, body counted once")
        return out, False
    out.add(inner, max(trips, 0))
    out.notes.append(f"{label}: body x {trips} trips")
    return out, True


def _count_graph(graph: Any, outer: _Graph | None = None, depth: int = 0) -> _Count:
    """FLOPs, bytes, coverage and peak live activations of one graph and its subgraphs."""
    g = _collect(graph, outer)
    nodes = [n for n in graph.node
             if not (n.op_type == "Constant" and n.domain in ("", "ai.onnx"))]
    out = _Count(nodes=len(nodes))
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            if name and not g.is_weight(name):
                last_use[name] = i
    for value in graph.output:
        last_use[value.name] = len(nodes)

    live = {v.name: g.tensors[v.name].nbytes for v in graph.input
            if v.name in g.tensors and v.name not in g.weights}
    current = sum(live.values())
    peak = current
    for i, node in enumerate(nodes):
        reads = [g.get(n) for n in node.input if n and not g.is_weight(n)]
        writes = [g.get(n) for n in node.output if n]
        shapes_known = all(t is not None and t.known for t in reads + writes)
        if node.op_type in CONTROL_FLOW_OPS and node.domain in ("", "ai.onnx"):
            sub, sub_known = _control_flow(node, g, depth)
            out.add(sub)
            shapes_known = shapes_known and sub_known
            peak = max(peak, current + sub.peak)
        else:
            cost = _node_flops(node, g)
            if cost is None:
                if node.op_type not in MODELED_OPS:
                    out.uncounted.add(node.op_type if node.domain in ("", "ai.onnx")
                                      else f"{node.domain}.{node.op_type}")
                shapes_known = False
            else:
                out.flops += cost
        out.known += shapes_known
        out.traffic += sum(t.nbytes for t in reads + writes if t is not None)
        for name in node.output:
            if name and name in last_use:
                size = g.tensors[name].nbytes if name in g.tensors else 0
                live[name] = size
                current += size
        peak = max(peak, current)
        for name in list(live):
            if last_use.get(name, -1) <= i and name in live:
                current -= live.pop(name)
    out.peak = peak
    out.kernels += _engine_kernels(nodes, g)
    # Weights not reachable by any node (unused initializers) still load, so they still count.
    out.traffic += sum(g.tensors[n].nbytes for n in g.weights)
    return out


def graph_workload(model: Any, assumptions: tuple[str, ...] = ()) -> Workload:
    """Count a shape-inferred ModelProto, its If/Loop/Scan subgraphs included."""
    count = _count_graph(model.graph)
    top = _collect(model.graph)
    weights = sum(top.tensors[name].nbytes for name in top.weights)
    return Workload(flops=count.flops, bytes_moved=float(count.traffic), weights_bytes=weights,
                    activation_bytes=count.peak,
                    coverage=count.known / count.nodes if count.nodes else 1.0,
                    nodes=count.nodes, uncounted_ops=tuple(sorted(count.uncounted)),
                    assumptions=assumptions + tuple(count.notes),
                    kernels=tuple(count.kernels), quantized=_quantized(model.graph, top))


# ---------------------------------------------------------------------------------- engine view

FOLDED_OPS = ELEMENTWISE_OPS | frozenset("""
Reshape Squeeze Unsqueeze Flatten Identity Shape Size Constant ConstantOfShape Dropout Range
BatchNormalization Transpose Concat Split Slice Gather Expand
""".split())
"""Ops a fused engine folds into the kernel next to them: element-wise chains (activations,
bias, residual adds, Q/DQ), batch norms folded into the conv, layout changes and the slicing,
splitting and concatenation that engines do by addressing (TensorRT's concat elimination)."""
_SCORE_CHAIN_OPS = ELEMENTWISE_OPS | {"Cast", "Dropout", "Identity", "Where"}


def _quantized(graph: Any, g: _Graph) -> bool:
    """Q/DQ pairs, or most weight bytes in 8-bit integers."""
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                         "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear")
           for n in graph.node):
        return True
    small = sum(g.tensors[n].nbytes for n in g.weights if g.tensors[n].itemsize == 1)
    total = sum(g.tensors[n].nbytes for n in g.weights)
    return total > 0 and small * 2 > total


def _engine_kernels(nodes: list[Any], g: _Graph) -> list[Kernel]:
    """The kernels a fusing engine runs for ``nodes``: every op that does work, with what is
    folded into it (FOLDED_OPS) costing no traffic and no launch, and q.k -> softmax -> p.v
    merged into one attention kernel whose score matrix never reaches memory."""
    producer = {o: n for n in nodes for o in n.output if o}
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for name in n.input:
            if name:
                consumers.setdefault(name, []).append(n)
    derived: set[str] = set()  # tensors computed from weights only (dequantized or transposed weights)
    for n in nodes:
        ins = [i for i in n.input if i]
        if n.op_type not in CONTROL_FLOW_OPS and ins \
                and all(g.is_weight(i) or i in derived for i in ins):
            derived.update(o for o in n.output if o)

    def weightlike(name: str) -> bool:
        return g.is_weight(name) or name in derived

    def numel(name: str) -> int:
        t = g.get(name)
        return t.numel if t is not None else 0

    def walk(start: Any, forward: bool) -> Any:
        """Through the score chain from ``start`` to the MatMul at its end, or None."""
        node, seen = start, 0
        while seen < 16:
            seen += 1
            if forward:
                nxt = [c for o in node.output for c in consumers.get(o, [])]
            else:
                nxt = [producer[i] for i in node.input if i in producer and not weightlike(i)]
            if not nxt:
                return None
            node = nxt[0]
            if node.op_type == "MatMul":
                return node
            if node.op_type not in _SCORE_CHAIN_OPS:
                return None
        return None

    grouped: set[int] = set()  # ids of the nodes inside an attention kernel
    groups: list[tuple[Any, Any, Any]] = []  # (q.k MatMul, Softmax, p.v MatMul)
    for n in nodes:
        if n.op_type != "Softmax":
            continue
        qk, pv = walk(n, forward=False), walk(n, forward=True)
        # A MatMul already inside another attention kernel stays there (a graph that shares
        # one between two softmaxes is counted once, never twice).
        if qk is not None and pv is not None and qk is not pv \
                and not {id(qk), id(pv)} & grouped:
            grouped |= {id(qk), id(n), id(pv)}
            groups.append((qk, n, pv))
    kernels: list[Kernel] = []
    for n in nodes:
        if id(n) in grouped or n.op_type in FOLDED_OPS or n.op_type in CONTROL_FLOW_OPS \
                or n.output and all(o in derived for o in n.output if o):
            continue
        flops = _node_flops(n, g) or 0.0
        acts = sum(numel(i) for i in n.input if i and not weightlike(i)) \
            + sum(numel(o) for o in n.output if o)
        weights = sum(numel(i) for i in n.input if i and weightlike(i))
        kernels.append(Kernel(flops, float(acts), float(weights)))
    for qk, softmax, pv in groups:
        flops = sum(_node_flops(x, g) or 0.0 for x in (qk, softmax, pv))
        scores = set(softmax.input) | set(softmax.output) | set(qk.output)
        acts = sum(numel(i) for i in qk.input if i and not weightlike(i)) \
            + sum(numel(i) for i in pv.input if i and i not in scores and not weightlike(i)
                  and not _from_scores(i, producer, scores)) \
            + sum(numel(o) for o in pv.output if o)
        kernels.append(Kernel(flops, float(acts), 0.0, attention=True))
    return kernels


def _from_scores(name: str, producer: dict[str, Any], scores: set[str]) -> bool:
    """Whether ``name`` is the score matrix after element-wise steps (p.v's left operand)."""
    for _ in range(16):
        if name in scores:
            return True
        node = producer.get(name)
        if node is None or node.op_type not in _SCORE_CHAIN_OPS or not node.input:
            return False
        name = node.input[0]
    return False


def onnx_workload(path: Path, shapes: Mapping[str, Sequence[int]] | None = None,
                  assumptions: tuple[str, ...] = ()) -> Workload:
    """Workload of the ONNX model at ``path`` alone (external data is neither read nor checked):
    for the benchmarks and tests; a check uses the skeleton inspection already made."""
    from deploygate.artifacts.onnx import read_skeleton

    return skeleton_workload(read_skeleton(path, str(path)), shapes, assumptions)


def skeleton_workload(skeleton: bytes, shapes: Mapping[str, Sequence[int]] | None = None,
                      assumptions: tuple[str, ...] = ()) -> Workload:
    """Workload of a graph skeleton (``GraphFacts.skeleton``) with its inputs pinned to ``shapes``.

    The skeleton holds no large tensor's data, so shape inference costs the graph's size, not
    the weights', and the ONNX reader refused any graph over its ``MAX_NODES`` before a
    skeleton was made, so inference here stays bounded whatever a pull request's graph holds.
    Inference that fails leaves the declared shapes, and coverage says how much could be counted.
    """
    import onnx

    model = onnx.ModelProto.FromString(skeleton)
    _pin_inputs(model.graph, shapes or {})
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # shape inference rejects some valid-to-run graphs; count what is declared
        pass
    return graph_workload(model, assumptions)


def estimate_workload(artifact: ArtifactInfo,
                      shapes: Mapping[str, Sequence[int]] | None = None,
                      assumptions: tuple[str, ...] = (),
                      serving: Serving | None = None) -> Workload | None:
    """The workload of ``artifact``: from its graph (the artifacts stage's skeleton; the file is
    not read again), or per token from an LLM config (at ``serving``'s context when given)."""
    if artifact.graph is not None:
        return skeleton_workload(artifact.graph.skeleton, shapes, assumptions)
    shape = artifact.llm
    if shape is not None:
        from deploygate.targets.memory import serving_context

        return llm_workload(artifact, shape, serving_context(serving))
    return None
