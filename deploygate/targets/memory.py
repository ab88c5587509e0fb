"""Estimated resident memory of a model while serving.

total = weights + activations + KV cache + runtime overhead, where

* weights are the bytes as stored (quantized types at their block size);
* activations are the peak live set of an ONNX graph's intermediate tensors (see
  ``workload.py``), 0 when unknown;
* the KV cache is an LLM's 2 x layers x kv_heads x head_dim x dtype bytes x context x
  concurrency: at ``serving.context_tokens`` (default, with or without a ``serving:`` block:
  the model's maximum context, no cap) for ``serving.concurrency`` sequences (default 1);
* overhead is a fixed 64 MiB for the runtime plus 10% of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import ArtifactInfo

if TYPE_CHECKING:
    from deploygate.manifest.model import Serving
    from deploygate.targets.workload import Workload

RUNTIME_OVERHEAD_BYTES = 64 * 2**20
"""Fixed allowance for the runtime itself: an onnxruntime CPU session or llama.cpp process
starts at roughly 30-60 MB resident before any weights are loaded."""
RUNTIME_OVERHEAD_FRACTION = 0.10
"""Allowance proportional to the weights (arena padding, prepacked kernels)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Weights plus activations, KV cache and the stated runtime overhead."""

    weights: int
    """Weight bytes as stored."""
    activations: int
    """Estimated activation bytes (0 when unknown)."""
    overhead: int
    """Runtime overhead: a fixed allowance plus a fraction of the weights."""
    kv_cache: int = 0
    """KV-cache bytes at ``context_tokens`` (LLM checkpoints; 0 otherwise)."""
    context_tokens: int = 0
    """Context the KV cache is sized for, per sequence."""
    concurrency: int = 1
    """Sequences served at once, each with its own KV cache."""

    @property
    def total(self) -> int:
        """Estimated resident bytes while serving."""
        return self.weights + self.activations + self.kv_cache + self.overhead

    def breakdown(self, binary: bool | None = None) -> str:
        """The sum spelled out, e.g. ``weights 14 GB + KV cache 2.1 GB at 4096 tokens + ...``;
        ``binary`` as for ``format_bytes``."""
        from functools import partial

        from deploygate.manifest.units import format_bytes

        size = partial(format_bytes, binary=binary)
        parts = [f"weights {size(self.weights)}"]
        if self.activations:
            parts.append(f"activations {size(self.activations)}")
        if self.kv_cache:
            seqs = f" x {self.concurrency} sequences" if self.concurrency > 1 else ""
            parts.append(f"KV cache {size(self.kv_cache)} at {self.context_tokens} "
                         f"tokens{seqs}")
        parts.append(f"runtime overhead {size(self.overhead)}")
        return " + ".join(parts)

    def to_json(self, device_memory: int | None = None) -> dict[str, Any]:
        """The report's memory figures; with ``device_memory``, the headroom left on the device."""
        data: dict[str, Any] = {"memory_bytes": self.total, "weights_bytes": self.weights,
                                "activations_bytes": self.activations,
                                "kv_cache_bytes": self.kv_cache, "overhead_bytes": self.overhead}
        if self.kv_cache:
            data["context_tokens"] = self.context_tokens
            data["concurrency"] = self.concurrency
        if device_memory is not None:
            data["device_memory_bytes"] = device_memory
            data["headroom_bytes"] = device_memory - self.total
        return data


def estimate_memory(artifact: ArtifactInfo, activations: int = 0, *,
                    workload: Workload | None = None,
                    serving: Serving | None = None) -> MemoryEstimate:
    """Serving memory for ``artifact``: weights + activations + KV cache + runtime overhead.

    With ``workload``, its activations and KV cache are used; without one, an LLM checkpoint's
    KV cache is still derived from its config (so a header-only check sees it). ``serving``
    sets the context (when the workload was not made for it) and the sequences served at once.
    """
    weights = artifact.weights_bytes
    overhead = RUNTIME_OVERHEAD_BYTES + int(weights * RUNTIME_OVERHEAD_FRACTION)
    if workload is None and artifact.format != "onnx":
        from deploygate.targets.workload import llm_workload

        shape = artifact.llm
        workload = llm_workload(artifact, shape, serving_context(serving)) \
            if shape is not None else None
    kv_cache, context = 0, 0
    concurrency = serving.concurrency if serving is not None else 1
    if workload is not None:
        activations = activations or workload.activation_bytes
        kv_cache, context = workload.kv_cache_bytes * concurrency, workload.context_tokens
    return MemoryEstimate(weights=weights, activations=activations, overhead=overhead,
                          kv_cache=kv_cache, context_tokens=context,
                          concurrency=concurrency if kv_cache else 1)


def serving_context(serving: Serving | None) -> int | None:
    """The context ``serving`` asks for: its ``context_tokens``; None when it sets none (the
    workload then takes the model's maximum, no cap: ``LlmShape.context``)."""
    return serving.context_tokens if serving is not None else None
