"""Latency statistics: percentiles, summaries and per-window figures, in pure Python.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, numpy's
default ``linear`` method): for ``n`` sorted samples and a fraction ``q`` the position is
``h = (n - 1) * q`` and the value ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
Kept free of numpy so that the verdict and the reports never need it.

Confidence intervals for a percentile are distribution-free order-statistic bounds: the number
of runs at or under the true ``q``-quantile is Binomial(n, q), so the ``l``-th fastest run is at
or under it with probability ``P(X >= l)`` and the ``u``-th at or over it with ``P(X <= u - 1)``.
``l`` and ``u`` are the tightest ranks for which both probabilities reach ``1 - alpha/2``. Runs on
a contended host come in bursts, so consecutive runs are not independent: ``n`` is replaced by an
effective count ``n (1 - r) / (1 + r)``, ``r`` the lag-1 autocorrelation of "this run was at or
under the percentile" (the variance inflation of a first-order Markov sequence), and the ranks
found for it are scaled back to the runs. Where no rank qualifies (too few runs), the bound is
the fastest or the slowest run: a percentile of the runs never lies outside them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

PERCENTILE_FRACTIONS: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
"""Percentile name -> fraction of runs at or below it."""

WINDOWS = 5
"""Consecutive windows the timed runs are split into, to see drift and noise."""

TAIL_SAMPLES = 5
"""Runs wanted above a percentile before it counts as measured rather than estimated."""

CONFIDENCE = 0.99
"""Two-sided confidence of a percentile's interval (0.5% on each side)."""

MAX_AUTOCORRELATION = 0.9
"""Cap on the lag-1 autocorrelation used for the effective run count (at most 19x fewer)."""


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
    """min, max, mean, stdev (sample, n - 1) and p50/p90/p95/p99 of ``samples_ms``, in ms."""
    ordered = sorted(samples_ms)
    out = {f"{name}_ms": percentile(ordered, q) for name, q in PERCENTILE_FRACTIONS.items()}
    out["min_ms"] = ordered[0]
    out["max_ms"] = ordered[-1]
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


def order_statistic_ranks(n: int, fraction: float,
                          confidence: float = CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks ``(l, u)`` of the runs bounding the ``fraction``-quantile of ``n`` runs.

    ``None`` where ``n`` runs are too few for that side at ``confidence`` (see the module
    docstring for the rule).
    """
    if n < 1:
        raise ValueError("ranks of no runs")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction {fraction} is outside (0, 1)")
    tail = (1.0 - confidence) / 2.0
    cdf, first, last = _binomial_cdf(n, fraction)
    lower = None
    for k in range(min(n, last + 1), 0, -1):
        if cdf(k - 1) <= tail:
            lower = k
            break
    upper = None
    for k in range(max(1, first), n + 1):
        if cdf(k - 1) >= 1.0 - tail:
            upper = k
            break
    return lower, upper


def _binomial_cdf(n: int, q: float) -> tuple[Callable[[int], float], int, int]:
    """P(X <= k) for X ~ Binomial(n, q), exact within 10 standard deviations of the mean
    (0 below ``first``, 1 from ``last`` on), with ``first`` and ``last``."""
    spread = 10.0 * math.sqrt(n * q * (1.0 - q)) + 10.0
    first = max(0, math.floor(n * q - spread))
    last = min(n, math.ceil(n * q + spread))
    log_q, log_r = math.log(q), math.log1p(-q)
    head = math.lgamma(n + 1)
    total, table = 0.0, []
    for k in range(first, last + 1):
        total += math.exp(head - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                          + k * log_q + (n - k) * log_r)
        table.append(min(total, 1.0))

    def cdf(k: int) -> float:
        if k < first:
            return 0.0
        if k >= last:
            return 1.0
        return table[k - first]

    return cdf, first, last


def effective_runs(samples: Sequence[float], threshold: float) -> float:
    """Independent-equivalent run count of ``samples`` (in run order) around ``threshold``."""
    n = len(samples)
    if n < 3:
        return float(n)
    flags = [1.0 if s <= threshold else 0.0 for s in samples]
    mean = sum(flags) / n
    variance = sum((f - mean) ** 2 for f in flags)
    if variance == 0.0:
        return float(n)
    lag = sum((flags[i] - mean) * (flags[i + 1] - mean) for i in range(n - 1))
    r = min(max(lag / variance, 0.0), MAX_AUTOCORRELATION)
    return n * (1.0 - r) / (1.0 + r)


def percentile_interval(samples: Sequence[float], fraction: float,
                        confidence: float = CONFIDENCE) -> tuple[float, float]:
    """``(low, high)`` confidence bounds of the ``fraction``-quantile of ``samples`` (run order).

    Order-statistic bounds on the effective run count, never outside the fastest and slowest
    run, always holding the sample percentile itself.
    """
    return _interval(samples, sorted(samples), fraction, confidence)


def _interval(samples: Sequence[float], ordered: Sequence[float], fraction: float,
              confidence: float) -> tuple[float, float]:
    n = len(ordered)
    estimate = percentile(ordered, fraction)
    n_eff = max(1, math.floor(effective_runs(samples, estimate)))
    lower, upper = order_statistic_ranks(n_eff, fraction, confidence)
    low = ordered[0] if lower is None else ordered[max(1, math.floor(lower * n / n_eff)) - 1]
    high = ordered[-1] if upper is None else ordered[min(n, math.ceil(upper * n / n_eff)) - 1]
    return min(low, estimate), max(high, estimate)


def percentile_intervals(samples: Sequence[float],
                         confidence: float = CONFIDENCE) -> dict[str, tuple[float, float]]:
    """``percentile_interval`` for p50, p90, p95 and p99."""
    ordered = sorted(samples)
    return {name: _interval(samples, ordered, q, confidence)
            for name, q in PERCENTILE_FRACTIONS.items()}


def describe(samples_ms: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Every statistic of a measurement, from its runs in the order they ran (JSON-ready):
    ``summarize``'s figures, ``windows_ms``, ``interval_ms``, ``confidence`` and
    ``estimated_percentiles``."""
    summary = summarize(samples_ms)
    return {
        **{k: v for k, v in summary.items() if k != "runs"},
        "runs": len(samples_ms),
        "windows_ms": window_summaries(samples_ms),
        "interval_ms": {k: list(v) for k, v in percentile_intervals(samples_ms, confidence).items()},
        "confidence": confidence,
        "estimated_percentiles": list(estimated_percentiles(len(samples_ms))),
    }
