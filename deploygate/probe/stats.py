"""Latency statistics: percentiles, summaries and per-window figures, in pure Python.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, numpy's
default ``linear`` method): for ``n`` sorted samples and a fraction ``q`` the position is
``h = (n - 1) * q`` and the value ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
Kept free of numpy so that the verdict and the reports never need it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

PERCENTILE_FRACTIONS: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
"""Percentile name -> fraction of runs at or below it."""

WINDOWS = 5
"""Consecutive windows the timed runs are split into, to see drift and noise."""

TAIL_SAMPLES = 5
"""Runs wanted above a percentile before it counts as measured rather than estimated."""


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linearly interpolated percentile of already sorted values (numpy's ``linear``)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} is outside [0, 1]")
    h = (len(sorted_values) - 1) * fraction
    low = math.floor(h)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (h - low) * (sorted_values[high] - sorted_values[low])


def runs_wanted(name: str) -> int:
    """Runs needed for ``TAIL_SAMPLES`` runs above percentile ``name`` (p99 -> 500)."""
    return math.ceil(TAIL_SAMPLES / (1.0 - PERCENTILE_FRACTIONS[name]) - 1e-9)


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """min, mean, stdev (sample, n - 1) and p50/p90/p95/p99 of ``samples_ms``, in ms."""
    ordered = sorted(samples_ms)
    out = {f"{name}_ms": percentile(ordered, q) for name, q in PERCENTILE_FRACTIONS.items()}
    out["min_ms"] = ordered[0]
    out["mean_ms"] = statistics.fmean(ordered)
    out["stdev_ms"] = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    out["runs"] = float(len(ordered))
    return out


def split_windows(samples: Sequence[float], count: int = WINDOWS) -> list[Sequence[float]]:
    """Split runs, in the order they ran, into ``count`` consecutive near-equal windows."""
    count = max(1, min(count, len(samples)))
    bounds = [round(i * len(samples) / count) for i in range(count + 1)]
    return [samples[bounds[i]:bounds[i + 1]] for i in range(count)]


def window_summaries(samples_ms: Sequence[float], count: int = WINDOWS) -> list[dict[str, float]]:
    """Per consecutive window: runs and p50/p90/p95/p99 in ms."""
    out = []
    for window in split_windows(samples_ms, count):
        ordered = sorted(window)
        figures = {f"{name}_ms": percentile(ordered, q)
                   for name, q in PERCENTILE_FRACTIONS.items()}
        figures["runs"] = len(ordered)
        out.append(figures)
    return out


def estimated_percentiles(runs: int) -> tuple[str, ...]:
    """Percentiles with fewer than ``TAIL_SAMPLES`` runs above them at ``runs`` runs."""
    return tuple(name for name in PERCENTILE_FRACTIONS if runs < runs_wanted(name))
