"""DG4xx latency: the measured percentile against ``latency.budget_ms``.

DG401 latency-over-budget when the whole noise band is over the budget; DG402
latency-inconclusive (a warning; an error under --strict) when the budget lies inside the band;
DG404 latency-not-measured when a budget is declared but no probe ran.

When the target device has an estimate (checks/target.py), the device's figure is what the
budget is about, so the host measurement is reported but not judged here; nor when the device's
latency could not be estimated (DG407): the host's figure does not stand for the device.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext
from deploygate.checks.target import unestimable
from deploygate.findings import Finding, Severity
from deploygate.rules import Outcome, Rule


DG401 = Rule("DG401", "latency-over-budget", Outcome.VIOLATION,
             "Measured latency at the chosen percentile exceeds `latency.budget_ms`.",
             "Make the model faster, give it more threads, or raise the budget.")

DG402 = Rule("DG402", "latency-inconclusive", Outcome.VIOLATION,
             "The budget lies inside the measurement's noise band; the verdict is uncertain.",
             "Re-run on a quieter runner, or keep the budget clear of the measured band.", level="warning")

DG404 = Rule("DG404", "latency-not-measured", Outcome.VIOLATION,
             "A latency budget is declared but no latency was measured.",
             "Run without --no-probe, or use a format onnxruntime can run.", level="warning")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Judge the measured latency against the budget."""
    spec = ctx.spec.latency
    if spec is None or spec.budget_ms is None or ctx.target is not None \
            or unestimable(ctx) is not None:
        return
    if ctx.latency is None:
        reason = ctx.probe_skipped or "no latency was measured"
        yield ctx.finding(DG404, "latency.budget_ms",
                          f"budget {spec.budget_ms:g} ms not checked: {reason}", Severity.WARNING)
        return
    from deploygate.probe.verdict import judge

    result, pct, budget = ctx.latency, spec.percentile, spec.budget_ms
    measured = result.at(pct)
    verdict = judge(result, pct, budget)
    where = f"on this host ({result.threads} threads, {result.runs} runs)"
    if verdict == "fail":
        yield ctx.finding(DG401, "latency.budget_ms",
                          f"{pct} latency {measured:.2f} ms {where} is over the budget of "
                          f"{budget:g} ms by {measured - budget:.2f} ms")
    elif verdict == "inconclusive":
        low, high = result.noise_band_ms.get(pct, (measured, measured))
        yield ctx.finding(DG402, "latency.budget_ms",
                          f"{pct} latency {measured:.2f} ms {where}, but measuring windows ranged "
                          f"{low:.2f}-{high:.2f} ms around the budget of {budget:g} ms; re-run on a "
                          "quieter runner or keep the budget clear of that band", Severity.WARNING)
