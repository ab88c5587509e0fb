"""The latency verdict: pass, fail, or inconclusive when the budget lies inside the uncertainty.

The rule, for a percentile ``p`` (p50, p90, p95 or p99) and a budget ``B`` in ms:

1. **Physical floor.** No percentile of the runs is under the fastest run: ``B`` under the
   fastest run (or ``B <= 0``, or NaN) is a **fail**, whatever the statistics say.
2. **Physical ceiling.** No percentile of the runs is over the slowest run: ``B`` at or over the
   slowest run (plus one clock tick, for runs too fast for the clock) is a **pass**.
3. Between them, the percentile's confidence interval ``[low, high]`` (``stats.percentile_interval``:
   distribution-free order-statistic bounds at 99% on the effective run count) decides:
   **pass** when ``high + tick <= B``, **fail** when ``low > B``, **inconclusive** otherwise.

The probe measures more when a first measurement is inconclusive (``measure.py``), and only a
verdict still inconclusive after that reaches the report, as DG402.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from deploygate.probe.result import LatencyResult

Verdict = Literal["pass", "fail", "inconclusive"]


def decide(budget_ms: float, *, fastest_ms: float, slowest_ms: float, low_ms: float,
           high_ms: float, tick_ms: float = 0.0) -> Verdict:
    """The verdict for ``budget_ms`` from the run range and the percentile's interval."""
    if math.isnan(budget_ms) or budget_ms <= 0 or budget_ms < fastest_ms:
        return "fail"  # a NaN budget compares false with everything: never let it pass
    if budget_ms >= slowest_ms + tick_ms:
        return "pass"
    if high_ms + tick_ms <= budget_ms:
        return "pass"
    if low_ms > budget_ms:
        return "fail"
    return "inconclusive"


def judge(result: LatencyResult, percentile: str, budget_ms: float) -> Verdict:
    """pass / fail / inconclusive for ``budget_ms`` at ``percentile`` of a measurement."""
    value = result.at(percentile)
    low, high = result.interval_ms.get(percentile, (result.min_ms, result.max_ms or value))
    return decide(budget_ms, fastest_ms=result.min_ms, slowest_ms=max(result.max_ms, value),
                  low_ms=low, high_ms=high, tick_ms=result.clock_tick_ms)


def judge_rate(rates: Sequence[float], minimum: float) -> Verdict:
    """pass / fail / inconclusive for a minimum rate (an LLM's tokens per second).

    Each generation's rate is one measurement: fail when every one is under the minimum, pass
    when every one reaches it, inconclusive when the minimum lies among them.
    """
    if max(rates) < minimum:
        return "fail"
    if min(rates) >= minimum:
        return "pass"
    return "inconclusive"
