"""DG3xx fit: size, parameters, memory, and the target's kind and device.

DG301 size-over-limit, DG302 params-over-limit, DG303 memory-over-limit,
DG304 device-memory-exceeded, DG305 edge-size, DG306 target-kind-mismatch.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from deploygate.checks.context import ModelContext
from deploygate.findings import Finding
from deploygate.manifest.units import format_bytes, format_count, is_binary_size
from deploygate.rules import Outcome, Rule
from deploygate.targets.catalog import EDGE_RULE_OF_THUMB_BYTES
from deploygate.targets.memory import MemoryEstimate

DG301 = Rule("DG301", "size-over-limit", Outcome.VIOLATION,
             "Bytes on disk exceed `limits.max_size`.",
             "Shrink the model (quantize, prune) or raise the limit.")

DG302 = Rule("DG302", "params-over-limit", Outcome.VIOLATION,
             "The parameter count exceeds `limits.max_params`.",
             "Use a smaller model or raise the limit.")

DG303 = Rule("DG303", "memory-over-limit", Outcome.VIOLATION,
             "Estimated serving memory exceeds `limits.max_memory`.",
             "Quantize the weights or raise the limit.")

DG304 = Rule("DG304", "device-memory-exceeded", Outcome.VIOLATION,
             "Estimated serving memory does not fit the target device's memory.",
             "Pick a device with more memory (`deploygate advise`) or shrink the model.")

DG305 = Rule("DG305", "edge-size", Outcome.VIOLATION,
             "An edge target without a device holds a model over the ~1 GB edge rule of thumb.",
             "Name the edge device in `target.device`, or shrink the model under 1 GB.")

DG306 = Rule("DG306", "target-kind-mismatch", Outcome.CANNOT_JUDGE,
             "`target.kind` disagrees with the kind of `target.device`.",
             "Make `kind` match the device (see `deploygate devices`).")


def _kv_hint(mem: MemoryEstimate) -> str:
    """How to shrink an LLM's KV cache, when it is part of the total."""
    if not mem.kv_cache:
        return ""
    return (f"; the KV cache is sized for {mem.context_tokens} tokens x {mem.concurrency} "
            "sequences: set serving.context_tokens and serving.concurrency to what you serve")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Size, parameter and memory limits, and whether the model fits its target."""
    art, limits, mem = ctx.artifact, ctx.spec.limits, ctx.memory
    if limits.max_size is not None and art.size_bytes > limits.max_size:
        yield ctx.finding(DG301, "limits.max_size",
                          f"{art.path} is {format_bytes(art.size_bytes)} ({art.size_bytes} bytes) on "
                          f"disk, over max_size {format_bytes(limits.max_size)} by "
                          f"{format_bytes(art.size_bytes - limits.max_size)}")
    if limits.max_params is not None and art.params > limits.max_params:
        yield ctx.finding(DG302, "limits.max_params",
                          f"{art.path} has {format_count(art.params)} parameters ({art.params}), over "
                          f"max_params {format_count(limits.max_params)}")
    breakdown = mem.breakdown()
    if limits.max_memory is not None and mem.total > limits.max_memory:
        # Figures set against a limit or a device are in its units (never "69.3 MB of 32 MiB").
        size = partial(format_bytes, binary=is_binary_size(limits.max_memory))
        yield ctx.finding(DG303, "limits.max_memory",
                          f"estimated serving memory {size(mem.total)} "
                          f"({mem.breakdown(is_binary_size(limits.max_memory))}) is over "
                          f"max_memory {format_bytes(limits.max_memory)}{_kv_hint(mem)}")
    target, device = ctx.spec.target, ctx.device
    if device is not None:
        if device.kind != target.kind:
            yield ctx.finding(DG306, "target.kind",
                              f"target kind is {target.kind} but device '{device.id}' is "
                              f"{device.kind}; set kind: {device.kind}")
        if mem.total > device.memory:
            size = partial(format_bytes, binary=is_binary_size(device.memory))
            yield ctx.finding(DG304, "target.device",
                              f"does not fit {device.id}: needs {size(mem.total)} "
                              f"({mem.breakdown(is_binary_size(device.memory))}), device has "
                              f"{format_bytes(device.memory)}, short by "
                              f"{size(mem.total - device.memory)}; "
                              "quantize the weights or pick a bigger device (`deploygate advise`)"
                              f"{_kv_hint(mem)}")
    elif target.kind == "edge" and mem.weights > EDGE_RULE_OF_THUMB_BYTES:
        yield ctx.finding(DG305, "target.kind",
                          f"weights are {format_bytes(mem.weights)}, over the ~1 GB that edge "
                          f"models stay under (serving needs ~{format_bytes(mem.total)}: "
                          f"{breakdown}); name the device in target.device to check its real "
                          "memory, or shrink the model")
