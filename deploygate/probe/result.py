"""What a latency probe measured: the boundary type of the probe stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one model, measured on this host with onnxruntime's CPU provider."""

    threads: int
    """intra-op threads used: at most the host's usable cores."""
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
    max_ms: float = 0.0
    """Slowest run."""
    session_ms: float = 0.0
    """Time to create the onnxruntime session (not part of the latency)."""
    overhead_ms: float = 0.0
    """Child start, imports and input synthesis (not part of the latency)."""
    windows_ms: tuple[dict[str, float], ...] = ()
    """Per measuring window: the same percentiles, to show their spread."""
    interval_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per percentile, its [low, high] confidence interval (``stats.percentile_interval``)."""
    confidence: float = 0.99
    """Two-sided confidence of ``interval_ms``."""
    clock_tick_ms: float = 0.0
    """Resolution of the timer: a run timed ``t`` took less than ``t`` plus one tick."""
    rounds: int = 1
    """Measuring rounds: 1, plus the extra ones a budget inside the interval asked for."""
    target_threads: int | None = None
    """The threads asked for (manifest, target device or flag) when more than ``threads``."""
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

    @classmethod
    def from_description(cls, description: dict[str, Any], **facts: Any) -> LatencyResult:
        """A result from ``stats.describe``'s figures (as JSON) and the other fields' values."""
        d = description
        return cls(
            runs=int(d["runs"]), p50_ms=d["p50_ms"], p90_ms=d["p90_ms"], p95_ms=d["p95_ms"],
            p99_ms=d["p99_ms"], mean_ms=d["mean_ms"], min_ms=d["min_ms"], max_ms=d["max_ms"],
            stdev_ms=d["stdev_ms"], windows_ms=tuple(d["windows_ms"]),
            interval_ms={k: (float(v[0]), float(v[1])) for k, v in d["interval_ms"].items()},
            confidence=d["confidence"],
            estimated_percentiles=tuple(d["estimated_percentiles"]), **facts)

    def describe_threads(self) -> str:
        """``4 threads``, or ``2 threads, not the 4 asked for (the host's usable cores)``."""
        used = f"{self.threads} thread{'s' * (self.threads != 1)}"
        if self.target_threads:
            used += f", not the {self.target_threads} asked for (the host's usable cores)"
        return used

    def at(self, percentile: str) -> float:
        """Latency at ``percentile`` (p50, p90, p95, p99)."""
        return float(getattr(self, f"{percentile}_ms"))

    def to_json(self) -> dict[str, Any]:
        """JSON form (the measured part of ``latency`` in the report)."""
        data = asdict(self)
        data["windows_ms"] = list(self.windows_ms)
        data["interval_ms"] = {k: list(v) for k, v in self.interval_ms.items()}
        data["estimated_percentiles"] = list(self.estimated_percentiles)
        data["defaulted_dims"] = [dict(d) for d in self.defaulted_dims]
        return data
