"""Noise-aware latency verdict: pass, fail, or inconclusive when the budget lies in the noise.

The rule, for a percentile ``p`` (p50, p90, p95 or p99) of one measurement:

1. The timed runs are split, in the order they ran, into consecutive windows (5 by default),
   and ``p`` is computed in each window as well as over all runs.
2. The raw band is ``[min, max]`` of the window values and the overall value.
3. The band is widened on both sides by the run-to-run noise: the larger of
   ``1.4826 × MAD`` of the window values (MAD: median absolute deviation from their median;
   1.4826 makes it estimate a standard deviation for normal noise) and 1% of the overall value,
   so that windows that happen to agree never make the band a single point. The low end is
   clamped at 0.
4. **pass** when the whole band is at or under the budget (``high <= budget``), **fail** when
   the whole band is over it (``low > budget``), **inconclusive** otherwise.

A result without windows (fewer than two) gets the 1% widening around its overall value.
"""

from __future__ import annotations

import statistics
from typing import Literal

from deploygate.probe.result import LatencyResult

Verdict = Literal["pass", "fail", "inconclusive"]

MAD_SCALE = 1.4826
"""Makes a median absolute deviation estimate a standard deviation (normal noise)."""

RELATIVE_FLOOR = 0.01
"""Smallest widening, as a fraction of the overall value."""


def noise_band(result: LatencyResult, percentile: str) -> tuple[float, float]:
    """The [low, high] band of ``percentile`` in ms, by the rule in this module's docstring."""
    overall = result.at(percentile)
    key = f"{percentile}_ms"
    values = [float(w[key]) for w in result.windows_ms if key in w]
    widen = RELATIVE_FLOOR * overall
    if len(values) >= 2:
        centre = statistics.median(values)
        mad = statistics.median(abs(v - centre) for v in values)
        widen = max(widen, MAD_SCALE * mad)
    low = min([overall, *values]) - widen
    high = max([overall, *values]) + widen
    return max(0.0, low), high


def noise_bands(result: LatencyResult) -> dict[str, tuple[float, float]]:
    """``noise_band`` for every percentile the result carries."""
    return {p: noise_band(result, p) for p in ("p50", "p90", "p95", "p99")}


def judge(result: LatencyResult, percentile: str, budget_ms: float) -> Verdict:
    """pass / fail / inconclusive for ``budget_ms`` at ``percentile``, noise band included."""
    low, high = result.noise_band_ms.get(percentile) or noise_band(result, percentile)
    if high <= budget_ms:
        return "pass"
    if low > budget_ms:
        return "fail"
    return "inconclusive"
