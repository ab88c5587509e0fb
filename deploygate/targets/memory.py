"""Estimated resident memory of a model while serving."""

from __future__ import annotations

from dataclasses import dataclass

from deploygate.artifacts.base import ArtifactInfo

RUNTIME_OVERHEAD_BYTES = 64 * 2**20
"""Fixed allowance for the runtime itself: an onnxruntime CPU session or llama.cpp process
starts at roughly 30-60 MB resident before any weights are loaded."""
RUNTIME_OVERHEAD_FRACTION = 0.10
"""Allowance proportional to the weights (arena padding, prepacked kernels)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Weights plus the stated runtime overhead (activations are added when known)."""

    weights: int
    """Weight bytes as stored."""
    activations: int
    """Estimated activation bytes (0 when unknown)."""
    overhead: int
    """Runtime overhead: a fixed allowance plus a fraction of the weights."""

    @property
    def total(self) -> int:
        """Estimated resident bytes while serving."""
        return self.weights + self.activations + self.overhead


def estimate_memory(artifact: ArtifactInfo, activations: int = 0) -> MemoryEstimate:
    """Serving memory for ``artifact``: weights + activations + runtime overhead."""
    weights = artifact.weights_bytes
    overhead = RUNTIME_OVERHEAD_BYTES + int(weights * RUNTIME_OVERHEAD_FRACTION)
    return MemoryEstimate(weights=weights, activations=activations, overhead=overhead)
