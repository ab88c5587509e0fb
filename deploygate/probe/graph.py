"""What the probe learns from an ONNX graph's nodes (never its weights' values).

Three facts: which integer inputs index a table (they reach a ``Gather``'s indices, so random
values must stay below the table's rows), which inputs pick an ``If`` branch (a sample rate, a
mode: random values rarely fit), and which inputs a node depends on (so that an error
onnxruntime reports at a node names the inputs that feed it, not every input). Built once in
the probe's child from the model it already loaded; only names and initializer shapes are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

PASS_THROUGH = frozenset({"Cast", "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten",
                          "Expand", "Transpose"})
"""Ops that move index values without changing them: an input reaches a Gather through them."""

TABLE_PASS_THROUGH = frozenset({"DequantizeLinear", "Cast", "Identity"})
"""Ops between a weight and the Gather that reads it, which keep its shape (quantized tables)."""

MAX_NODES = 1_000_000
"""Nodes indexed at most; a larger graph is traced no further (its errors name every input)."""


@dataclass(frozen=True)
class _Node:
    op: str
    inputs: tuple[str, ...]
    """Its inputs, with the outer names its subgraphs read."""
    attrs: dict[str, int]


@dataclass(frozen=True)
class GraphFacts:
    """The dependencies between a graph's nodes and its inputs, by name."""

    inputs: tuple[str, ...]
    """True graph inputs, in signature order."""
    index_rows: dict[str, int]
    """Integer inputs that reach a Gather's indices: the smallest indexed table's rows."""
    nodes: dict[str, _Node]
    """Nodes by name (unnamed ones by their first output)."""
    producers: dict[str, str]
    """Tensor name -> the node that writes it."""
    branch_inputs: tuple[str, ...] = ()
    """Inputs whose values reach an ``If``'s condition: they pick the branch that runs."""

    def inputs_feeding(self, node: str) -> list[str]:
        """The graph inputs ``node`` depends on, in signature order (empty when unknown)."""
        if node not in self.nodes:
            return []
        return self._reaching(list(self.nodes[node].inputs))

    def _reaching(self, tensors: list[str]) -> list[str]:
        wanted = set(self.inputs)
        found = {t for t in tensors if t in wanted}
        seen: set[str] = set()
        stack = [p for t in tensors if (p := self.producers.get(t)) is not None]
        while stack:
            key = stack.pop()
            if key in seen or key not in self.nodes:
                continue
            seen.add(key)
            for name in self.nodes[key].inputs:
                if name in wanted:
                    found.add(name)
                producer = self.producers.get(name)
                if producer is not None and producer not in seen:
                    stack.append(producer)
        return [name for name in self.inputs if name in found]


def read_graph_facts(model: onnx.ModelProto, inputs: Sequence[str]) -> GraphFacts:
    """The facts of ``model``'s graph (subgraphs included) for the true ``inputs``."""
    shapes = {t.name: tuple(int(d) for d in t.dims) for t in model.graph.initializer}
    nodes: dict[str, _Node] = {}
    producers: dict[str, str] = {}
    for node in _walk(model.graph.node):
        if len(nodes) >= MAX_NODES:
            break
        key = node.name or (node.output[0] if node.output else f"#{len(nodes)}")
        attrs = {a.name: int(a.i) for a in node.attribute if a.type == a.INT}
        nodes[key] = _Node(node.op_type if node.domain in ("", "ai.onnx") else "",
                           tuple(node.input) + tuple(_outer_names(node)), attrs)
        for out in node.output:
            if out:
                producers[out] = key
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    shapes[node.output[0]] = tuple(int(d) for d in attr.t.dims)
    facts = GraphFacts(tuple(inputs), {}, nodes, producers)
    conditions = [n.inputs[0] for n in nodes.values() if n.op == "If" and n.inputs]
    facts = GraphFacts(tuple(inputs), {}, nodes, producers,
                       tuple(facts._reaching(conditions)) if conditions else ())
    for node in nodes.values():
        if node.op != "Gather" or len(node.inputs) < 2:
            continue
        table = _table_shape(facts, shapes, node.inputs[0])
        if not table:
            continue
        rows = table[node.attrs.get("axis", 0) % len(table)]
        source = _index_source(facts, node.inputs[1])
        if source is not None and rows > 0:
            facts.index_rows[source] = min(rows, facts.index_rows.get(source, rows))
    return facts


def _walk(nodes: Iterable[Any]) -> Iterable[Any]:
    for node in nodes:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _walk(attr.g.node)
            for graph in attr.graphs:
                yield from _walk(graph.node)


def _outer_names(node: Any) -> list[str]:
    """Names a control-flow node's subgraphs read (from the outer scope among them)."""
    names: list[str] = []
    for attr in node.attribute:
        graphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        for graph in graphs:
            for inner in _walk(graph.node):
                names.extend(n for n in inner.input if n)
    return names


def _table_shape(facts: GraphFacts, shapes: dict[str, tuple[int, ...]],
                 tensor: str) -> tuple[int, ...] | None:
    """The shape of a gathered table: a weight, or a weight dequantized or cast on the way."""
    for _ in range(8):
        if tensor in shapes:
            return shapes[tensor]
        producer = facts.nodes.get(facts.producers.get(tensor, ""))
        if producer is None or producer.op not in TABLE_PASS_THROUGH or not producer.inputs:
            return None
        tensor = producer.inputs[0]
    return None


def _index_source(facts: GraphFacts, tensor: str) -> str | None:
    """The graph input whose values reach ``tensor`` unchanged, through pass-through ops."""
    for _ in range(64):
        if tensor in facts.inputs:
            return tensor
        producer = facts.nodes.get(facts.producers.get(tensor, ""))
        if producer is None or producer.op not in PASS_THROUGH or not producer.inputs:
            return None
        tensor = producer.inputs[0]
    return None
