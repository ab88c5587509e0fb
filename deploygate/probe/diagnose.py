"""Turn onnxruntime's and the probe child's error output into one readable line, and say
what to pin when the model fails on the inputs the probe made."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ProbeError, ProbeNeedsValues
from deploygate.manifest.model import LatencySpec
from deploygate.probe.inputs import PLACEHOLDER, OpenSizes, flag_word, is_batch_like, yaml_key

if TYPE_CHECKING:
    from deploygate.probe.graph import GraphFacts

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ORT_STATUS = re.compile(r"^\s*\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*")
_ORT_LOG = re.compile(r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?:\S+ )?\[([EWIFV]):onnxruntime:"
                      r"[^\]]*\]\s*")
_NODE = re.compile(r"Non-zero status code returned while running (\S+) node\. Name:'([^']*)' "
                   r"Status Message:\s*")
_SOURCE = re.compile(r"(?:[^\s:]*/)?[^\s:/]+\.(?:h|hpp|cc|cpp|cu):\d+ ")
_OOM_MARKS = ("bad_alloc", "MemoryError", "Failed to allocate memory", "out of memory",
              "Cannot allocate memory", "std::length_error",
              # what an import reports when the address-space cap leaves no room to map a library
              "failed to map segment from shared object")

MAX_LINE = 300
"""Longest error line shown; ORT messages can carry whole shapes and type lists."""


def clean_ort_message(text: str) -> str:
    """One line from an onnxruntime error: status prefixes and C++ source locations removed."""
    line = _ANSI.sub("", text).strip().splitlines()[0] if text.strip() else ""
    line = _ORT_LOG.sub("", line)
    line = _ORT_STATUS.sub("", line)
    prefix = ""
    # Control flow nests the messages (If node: ... Reshape node: ...); the innermost names the
    # node that actually failed.
    while node := _NODE.search(line):
        prefix = f"{node.group(1)} node {node.group(2)!r}: " if node.group(2) else \
            f"{node.group(1)} node: "
        line = line[node.end():]
    source = _SOURCE.search(line)
    if source:
        # "[head:]file.cc:256 Namespace::Func(args...) explanation", or for ORT_ENFORCE
        # "file.h:91 Func(args) condition was false. Explanation": the explanation is what a
        # user can act on, and the head ("Load model from X failed:") what it was doing.
        head = line[:source.start()].strip()
        rest = _ORT_STATUS.sub("", _after_signature(line[source.end():]))
        _, sep, after = rest.partition(" was false.")
        rest = after.strip() if sep and after.strip() else rest
        line = f"{head.rstrip(':')}: {rest}" if head else rest
    line = " ".join((prefix + line).split())
    if len(line) > MAX_LINE:
        line = line[:MAX_LINE - 1] + "…"
    return line


_SIGNATURE = re.compile(r"(?:[\w:~<>]+[&*]*\s+)?[\w:~<>]+\(")
"""A C++ function signature's start: ``ns::Class::Func(``, after a return type or not."""


def _after_signature(text: str) -> str:
    """``text`` without the C++ function signature it starts with (``ns::Func(args...)``,
    parentheses balanced), when it starts with one."""
    start = _SIGNATURE.match(text)
    if not start:
        return text
    depth = 0
    for i in range(start.end() - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[i + 1:].strip()
    return text


def runtime_log_error(stderr: str) -> str:
    """The first error onnxruntime logged (``[E:onnxruntime:...]``) in ``stderr``, cleaned;
    empty when it logged none."""
    for line in stderr.splitlines():
        found = _ORT_LOG.match(_ANSI.sub("", line))
        if found and found.group(1) == "E":
            return clean_ort_message(line)
    return ""


def first_error_line(stderr: str) -> str:
    """The first line of ``stderr`` that says what went wrong (a traceback's last line first)."""
    lines = [_ANSI.sub("", ln).rstrip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return ""
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        for ln in reversed(lines):
            if not ln.startswith((" ", "\t")):
                return clean_ort_message(ln)
    for ln in lines:
        log = _ORT_LOG.match(ln)
        if log and log.group(1) in "EF":
            return clean_ort_message(ln)
        if not log and ("error" in ln.lower() or "terminate called" in ln
                        or any(mark in ln for mark in _OOM_MARKS)):
            return clean_ort_message(ln)
    return clean_ort_message(lines[-1])


def looks_like_out_of_memory(text: str) -> bool:
    """Whether an error text reports a failed allocation."""
    return any(mark in text for mark in _OOM_MARKS)


# onnxruntime's words for tensors whose shapes do not fit together (Concat, broadcasting ops,
# Reshape, MatMul, Conv, Split): a shape problem, whatever the values are.
_SHAPE_ERROR = re.compile(
    r"dimensions? must match|mismatched dimensions|cannot be reshaped|Attempting to broadcast|"
    r"can(?:not|'t) broadcast|dimension mismatch|shape mismatch|Incompatible dimensions|"
    r"Invalid rank|Invalid input shape|is not equal to kernel channels|Cannot split|"
    r"Shape of input|not compatible with the shape|exceeds maximum allowed|"
    r"Output dimension .* (?:negative|less than)", re.IGNORECASE)


def failing_node(text: str) -> tuple[str, str] | None:
    """``(op type, node name)`` of the innermost node an onnxruntime error names, if any."""
    line = _ANSI.sub("", text)
    found = None
    for node in _NODE.finditer(line):
        found = (node.group(1), node.group(2))
    return found


def is_shape_error(text: str) -> bool:
    """Whether an onnxruntime error says tensors' shapes do not fit together."""
    return bool(_SHAPE_ERROR.search(text))


def failed_run_error(raw: str, spec: LatencySpec, signature: Sequence[TensorSpec],
                     feeds: Mapping[str, Any], facts: GraphFacts | None) -> ProbeError:
    """Why the first run failed, naming what to pin: the shapes, or the inputs feeding the node.

    A shape error (tensors that do not fit together) is blamed on the sizes the model left open,
    not on random values; any other error on the randomly filled inputs that feed the failing
    node, traced through the graph (integers first).
    """
    reason = clean_ort_message(raw)
    node = failing_node(raw)
    traced = facts.inputs_feeding(node[1]) if facts is not None and node and node[1] else []
    fed = ", ".join(f"{name} {list(feeds[name].shape)}" for name in (traced or feeds)
                    if name in feeds)
    if is_shape_error(reason):
        open_dims = _open_dims(signature, spec, traced)
        if open_dims:
            return ProbeNeedsValues(
                f"the model cannot run at the shapes fed ({fed}): {reason}. That is a shape "
                "problem, not the random values: the model needs sizes it accepts (at least its "
                "windows and kernels; detectors often need multiples of 32). "
                + _ask(open_dims, feeds),
                path="latency.dims" if any(isinstance(k, str) for k in open_dims)
                else f"latency.inputs.{open_dims[0][0]}.shape")

    # With every size fixed, a shape error comes from a branch or a size the values chose.
    pinned = {name for name, i in spec.inputs.items() if i.value is not None or i.file is not None}
    random = [name for name in feeds if name not in pinned]
    if not random:
        return ProbeError(f"the model failed on the given inputs: {reason}; check the values "
                          "under latency.inputs", path="latency.inputs")
    traced_random = [name for name in traced if name in random]
    ints = [name for name in random if feeds[name].dtype.kind in "iub"]
    suspects = ([n for n in traced_random if n in ints] or ints or traced_random or random)
    first = suspects[0]
    listed = ", ".join(repr(n) for n in suspects)
    how = "feeds that node" if first in traced else "may decide it"
    scalar = feeds[first].ndim == 0 or feeds[first].dtype.kind == "b"
    setting, flag = (("{value: V}", "value:V") if scalar else
                     ("{range: [LO, HI]}", "range:LO..HI"))
    return ProbeNeedsValues(
        f"the model failed on synthesized inputs: {reason}; input{'s' * (len(suspects) > 1)} "
        f"{listed} got random values ({first!r} {how}): pin {first!r} to values the model "
        f"accepts under the model's latency: {{inputs: {{{yaml_key(first)}: {setting}}}}} "
        f"(or a sample with file:) or with deploygate probe "
        f"--input {flag_word(f'{first}={flag}')}", path=f"latency.inputs.{first}")


def _open_dims(signature: Sequence[TensorSpec], spec: LatencySpec,
               traced: Sequence[str]) -> list[tuple[str, int | str]]:
    """The sizes the model left open among ``traced`` inputs (all when none is traced):
    ``(input, name)`` for a symbolic one, ``(input, axis)`` for an unnamed one. A batch-like
    leading dimension is not one of them: a batch of 1 is never the shape problem."""
    out: list[tuple[str, int | str]] = []
    for t in signature:
        if t.shape is None or (traced and t.name not in traced):
            continue
        given = spec.inputs.get(t.name)
        if given is not None and (given.file is not None or given.shape is not None):
            out.extend((t.name, axis) for axis, d in enumerate(t.shape)
                       if not isinstance(d, int) and not is_batch_like(t.shape, axis))
            continue
        for axis, dim in enumerate(t.shape):
            if is_batch_like(t.shape, axis):
                continue
            if isinstance(dim, str):
                if all(dim != k for _, k in out):
                    out.append((t.name, dim))
            elif dim is None:
                out.append((t.name, axis))
    return out


def _ask(open_dims: Sequence[tuple[str, int | str]], feeds: Mapping[str, Any]) -> str:
    dims = {d: f"input {name!r}" for name, d in open_dims if isinstance(d, str)}
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for name, d in open_dims:
        if isinstance(d, int):
            sizes: list[int | None] = list(shapes.get(name) or feeds[name].shape)
            sizes[d] = None
            shapes[name] = tuple(sizes)
    sizes_open = OpenSizes(dims, shapes, ())
    return (f"Set them (replace {PLACEHOLDER}) under the model's {sizes_open.snippet()} or with "
            f"deploygate probe {sizes_open.flags()}")
