"""What a latency probe measured: the boundary type of the probe stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one model, measured on this host with onnxruntime's CPU provider."""

    threads: int
    """intra-op threads used."""
    runs: int
    """Timed runs (warm-up excluded)."""
    p50_ms: float
    """Median latency."""
    p90_ms: float
    """90th percentile."""
    p95_ms: float
    """95th percentile."""
    p99_ms: float
    """99th percentile."""
    mean_ms: float
    """Mean latency."""
    min_ms: float
    """Fastest run."""
    stdev_ms: float
    """Sample standard deviation."""
    session_ms: float = 0.0
    """Time to create the onnxruntime session (not part of the latency)."""
    overhead_ms: float = 0.0
    """Child start, imports and input synthesis (not part of the latency)."""
    windows_ms: tuple[dict[str, float], ...] = ()
    """Per measuring window: the same percentiles, to show their spread."""
    noise_band_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per percentile, the [low, high] range across windows widened by run-to-run noise."""
    measured_on: str = "host"
    """``host`` or the device id when running on the target itself."""
    host_cpu: str = ""
    """Host CPU model."""
    onnxruntime: str = ""
    """onnxruntime version."""
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    """The concrete shapes fed to the model."""
    warmup: int = 0
    """Untimed warm-up runs before measuring."""
    measured_s: float = 0.0
    """Seconds spent in the timed runs."""
    estimated_percentiles: tuple[str, ...] = ()
    """Percentiles with fewer than 5 runs above them (max_time_s ran out): estimates."""
    defaulted_dims: tuple[dict[str, Any], ...] = ()
    """Batch-like dims nothing pinned, set to 1: ``{input, axis, dim, size}`` each."""

    def at(self, percentile: str) -> float:
        """Latency at ``percentile`` (p50, p90, p95, p99)."""
        return float(getattr(self, f"{percentile}_ms"))

    def to_json(self) -> dict[str, Any]:
        """JSON form (the measured part of ``latency`` in the report)."""
        data = asdict(self)
        data["windows_ms"] = list(self.windows_ms)
        data["noise_band_ms"] = {k: list(v) for k, v in self.noise_band_ms.items()}
        data["estimated_percentiles"] = list(self.estimated_percentiles)
        data["defaulted_dims"] = [dict(d) for d in self.defaulted_dims]
        return data
