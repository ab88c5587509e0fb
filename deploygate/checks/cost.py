"""DG5xx cost: the cost of 1,000 inferences against ``cost.max_usd_per_1k``.

DG501 cost-over-budget when the estimate is over the ceiling; DG502 cost-unknown (cannot judge)
when the device has no price, no device is named, or no latency is known.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext
from deploygate.findings import Finding
from deploygate.targets.cost import FORMULA
from deploygate.rules import Outcome, Rule


DG501 = Rule("DG501", "cost-over-budget", Outcome.VIOLATION,
             "The cost of 1,000 inferences exceeds `cost.max_usd_per_1k`.",
             "Pick a cheaper device, batch requests, or raise the ceiling.")

DG502 = Rule("DG502", "cost-unknown", Outcome.CANNOT_JUDGE,
             "A cost ceiling is declared but the device has no price or no latency was measured.",
             "Give the device a `price_per_hour`, and do not skip the probe.")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Judge the cost of 1,000 inferences against the ceiling."""
    ceiling = ctx.spec.cost
    if ceiling is None:
        return
    cost = ctx.cost
    if cost is None or cost.usd_per_1k is None:
        missing = cost.missing if cost is not None else "no cost estimate was made"
        yield ctx.finding(DG502, "cost.max_usd_per_1k",
                          f"cost ceiling ${ceiling.max_usd_per_1k:g} per 1,000 not checked: {missing}")
        return
    if cost.usd_per_1k > ceiling.max_usd_per_1k:
        device = ctx.device.id if ctx.device else "the device"
        per_batch = f" / batch {cost.batch}" if cost.batch > 1 else ""
        yield ctx.finding(DG501, "cost.max_usd_per_1k",
                          f"${cost.usd_per_1k:.4g} per 1,000 inferences on {device} "
                          f"(${cost.price_per_hour:g}/h x {cost.latency_ms:.3g} ms from the "
                          f"{cost.latency_source}{per_batch}; {FORMULA}) is over the ceiling of "
                          f"${ceiling.max_usd_per_1k:g}; pick a cheaper device "
                          "(`deploygate advise`), batch requests, or make the model faster")
