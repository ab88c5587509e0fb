"""DG405/DG406: the estimated latency on the target device against ``latency.budget_ms``.

DG405 target-latency-over-budget when the whole uncertainty band is over the budget; DG406
target-latency-inconclusive when the budget lies inside the band (a warning, an error under
--strict or with ``latency.on_inconclusive: fail``); nothing when the whole band is under it.
DG407 target-latency-not-estimable (a warning; an error under --strict) when too little of the
model could be counted to estimate at all: never a pass, and the host's measurement does not
stand in for the target's. Only for devices with a compute figure, and never when the gate runs
on the target itself (--on-device): then the measurement is the target's.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext, unjudged
from deploygate.findings import Finding
from deploygate.targets.estimate import not_estimable
from deploygate.rules import Outcome, Rule

DG405 = Rule("DG405", "target-latency-over-budget", Outcome.VIOLATION,
             "The estimated latency on the target device exceeds `latency.budget_ms`.",
             "Pick a faster device (`deploygate advise`) or make the model smaller.")

DG406 = Rule("DG406", "target-latency-inconclusive", Outcome.VIOLATION,
             "The budget lies inside the uncertainty band of the target-latency estimate.",
             "Measure on the device itself (--on-device) or keep the budget clear of the band.",
             level="warning")

DG407 = Rule("DG407", "target-latency-not-estimable", Outcome.VIOLATION,
             "The target device's latency cannot be estimated: too little of the model's work could "
             "be counted (shapes unknown, ops without a cost model).",
             "Pin the inputs (`latency.inputs`, `latency.dims`) so shapes are known, or measure on "
             "the device itself (--on-device); `latency.on_inconclusive: fail` makes it fail.",
             level="warning")


def unestimable(ctx: ModelContext) -> str | None:
    """Why the target device's latency could not be estimated for a model with a budget and a
    device with a compute figure, or None."""
    if ctx.target is not None or ctx.workload is None or ctx.device is None \
            or not ctx.device.compute \
            or (ctx.latency is not None and ctx.latency.measured_on == ctx.device.id):
        return None
    return not_estimable(ctx.workload)


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Judge the estimated target latency's band against the budget."""
    spec, est = ctx.spec.latency, ctx.target
    if spec is None or spec.budget_ms is None:
        return
    if est is None:
        why = unestimable(ctx)
        if why is not None and ctx.device is not None:
            measured = (f"; the host measured {ctx.latency.at(spec.percentile):.3g} ms, which "
                        f"does not stand for {ctx.device.id}" if ctx.latency is not None else "")
            severity, effect = unjudged(spec.on_inconclusive, "this")
            yield ctx.finding(DG407, "latency.budget_ms",
                              f"cannot estimate the latency on {ctx.device.id} against the budget "
                              f"of {spec.budget_ms:g} ms: {why}{measured}; {effect}; pin the "
                              "inputs so shapes are known, or measure on the device "
                              "(--on-device)", severity)
        return
    budget = spec.budget_ms
    per = " per generated token" if est.per == "token" else ""
    figure = (f"estimated latency{per} on {est.device} {est.ms:.3g} ms "
              f"(band {est.low_ms:.3g}-{est.high_ms:.3g} ms; {est.method})")
    verdict = est.verdict(budget)
    if verdict == "fail":
        yield ctx.finding(DG405, "latency.budget_ms",
                          f"{figure} is over the budget of {budget:g} ms even at its low end; "
                          "pick a faster device (`deploygate advise`) or make the model smaller")
    elif verdict == "inconclusive":
        severity, effect = unjudged(spec.on_inconclusive, "this")
        yield ctx.finding(DG406, "latency.budget_ms",
                          f"{figure} straddles the budget of {budget:g} ms; {effect}; measure on "
                          "the device (--on-device) or keep the budget clear of the band",
                          severity)
