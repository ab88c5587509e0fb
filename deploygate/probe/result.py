"""What a latency probe measured: the boundary type of the probe stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from deploygate.manifest.model import PERCENTILES

CPU_PROVIDER = "CPUExecutionProvider"
"""onnxruntime's CPU execution provider, its default."""


def gpu_providers(providers: tuple[str, ...] | list[str]) -> list[str]:
    """The onnxruntime execution providers among ``providers`` that are not the CPU's."""
    return [p for p in providers if p != CPU_PROVIDER]


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one model, measured on this host by one of the probe's backends.

    For an LLM (llama.cpp), the runs are decoded tokens: the percentiles are per token, and
    ``ttft`` and ``tokens_per_s`` carry the time to first token and the decode rate.
    """

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
    """Time to load the model into the runtime, e.g. an onnxruntime session (not latency)."""
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
    """onnxruntime version, when onnxruntime measured."""
    runtime: str = "onnxruntime"
    """The backend that measured: onnxruntime, litert or llama.cpp."""
    runtime_version: str = ""
    """That runtime's version."""
    providers: tuple[str, ...] = ()
    """onnxruntime: the execution providers the session actually ran on."""
    ttft: LatencyResult | None = None
    """LLMs: time to first token, one run per generation, with its own percentiles."""
    tokens_per_s_runs: tuple[float, ...] = ()
    """LLMs: the decode rate of each generation, in order."""
    prompt_tokens: int = 0
    """LLMs: prompt length of each generation."""
    new_tokens: int = 0
    """LLMs: tokens generated per generation."""
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

    @property
    def on_cpu(self) -> bool:
        """Whether the runs ran on this host's CPU (no GPU execution provider): only such a
        measurement tells how fast this host's processor runs the model."""
        return not gpu_providers(self.providers)

    def off_cpu(self) -> str:
        """Why this run says nothing of the host's CPU, for messages: ``which measured on
        CUDAExecutionProvider, CPUExecutionProvider, not its CPU``."""
        return f"which measured on {', '.join(self.providers)}, not its CPU"

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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LatencyResult:
        """The result ``to_json`` wrote, read back (``deploygate merge`` reads shards' reports);
        the keys the report adds around it (``percentile``, ``budget_ms``, ``verdict``, ...) are
        ignored."""
        special = {"ttft", "windows_ms", "interval_ms", "estimated_percentiles", "defaulted_dims",
                   "providers", "tokens_per_s_runs"}
        plain = {f.name for f in fields(cls)} - special
        known = {k: data[k] for k in plain if data.get(k) is not None}
        ttft = data.get("ttft_ms")
        shared = ("threads", "measured_on", "host_cpu", "clock_tick_ms", "target_threads",
                  "runtime", "runtime_version", "onnxruntime")
        return cls(
            **known, windows_ms=tuple(data.get("windows_ms") or ()),
            interval_ms={k: (float(v[0]), float(v[1]))
                         for k, v in (data.get("interval_ms") or {}).items()},
            estimated_percentiles=tuple(data.get("estimated_percentiles") or ()),
            defaulted_dims=tuple(dict(d) for d in data.get("defaulted_dims") or ()),
            providers=tuple(data.get("providers") or ()),
            tokens_per_s_runs=tuple(data.get("tokens_per_s_runs") or ()),
            ttft=cls.from_json({**{k: data[k] for k in shared if k in data}, **ttft})
            if ttft else None)

    def describe_threads(self) -> str:
        """``4 threads``, or ``2 threads, not the 4 asked for (the host's usable cores)``."""
        used = f"{self.threads} thread{'s' * (self.threads != 1)}"
        if self.target_threads:
            used += f", not the {self.target_threads} asked for (the host's usable cores)"
        return used

    @property
    def tokens_per_s(self) -> float | None:
        """LLMs: the median decode rate across generations."""
        if not self.tokens_per_s_runs:
            return None
        import statistics

        return float(statistics.median(self.tokens_per_s_runs))

    def at(self, percentile: str) -> float:
        """Latency at ``percentile`` (p50, p90, p95, p99)."""
        return float(getattr(self, f"{percentile}_ms"))

    def to_json(self) -> dict[str, Any]:
        """JSON form (the measured part of ``latency`` in the report)."""
        data = {k: v for k, v in asdict(self).items()
                if k not in ("ttft", "tokens_per_s_runs", "prompt_tokens", "new_tokens")}
        data["windows_ms"] = list(self.windows_ms)
        data["interval_ms"] = {k: list(v) for k, v in self.interval_ms.items()}
        data["estimated_percentiles"] = list(self.estimated_percentiles)
        data["defaulted_dims"] = [dict(d) for d in self.defaulted_dims]
        data["providers"] = list(self.providers)
        if self.ttft is not None:
            ttft = self.ttft
            data["ttft_ms"] = {**{f"{p}_ms": ttft.at(p) for p in PERCENTILES},
                               "mean_ms": ttft.mean_ms, "min_ms": ttft.min_ms,
                               "max_ms": ttft.max_ms, "stdev_ms": ttft.stdev_ms,
                               "runs": ttft.runs, "confidence": ttft.confidence,
                               "interval_ms": {k: list(v) for k, v in ttft.interval_ms.items()},
                               "estimated_percentiles": list(ttft.estimated_percentiles)}
            data["tokens_per_s"] = self.tokens_per_s
            data["tokens_per_s_runs"] = list(self.tokens_per_s_runs)
            data["prompt_tokens"] = self.prompt_tokens
            data["new_tokens"] = self.new_tokens
        return data
