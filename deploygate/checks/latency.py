"""DG4xx latency: the measured percentile against ``latency.budget_ms``.

The verdict is ``probe/verdict.py``'s: DG401 latency-over-budget when the budget is under the
fastest run or under the percentile's whole confidence interval; DG402 latency-inconclusive when
the budget lies inside the interval even after the probe measured more: a warning (an error under
--strict), or an error with ``latency.on_inconclusive: fail``; DG404 latency-not-measured when a
budget is declared but no probe ran.

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
             "Measured latency at the chosen percentile exceeds `latency.budget_ms`: the budget is "
             "under the fastest run or under the percentile's whole confidence interval.",
             "Make the model faster, give it more threads, or raise the budget.")

DG402 = Rule("DG402", "latency-inconclusive", Outcome.VIOLATION,
             "The budget lies inside the percentile's confidence interval even after the probe "
             "measured more; this host cannot tell (a warning, or an error with "
             "`latency.on_inconclusive: fail`).",
             "Re-run on a quieter runner, raise `latency.max_time_s`, or keep the budget clear of "
             "the interval.", level="warning")

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
    low, high = result.interval_ms.get(pct, (measured, measured))
    interval = f"{result.confidence:.0%} interval {low:.3g}-{high:.3g} ms"
    where = f"on this host ({result.describe_threads()}, {result.runs} runs)"
    if verdict == "fail":
        why = (f"even the fastest run took {result.min_ms:.3g} ms" if budget < result.min_ms
               else f"the whole {interval} is over it")
        yield ctx.finding(DG401, "latency.budget_ms",
                          f"{pct} latency {measured:.3g} ms {where} is over the budget of "
                          f"{budget:g} ms: {why}")
    elif verdict == "inconclusive":
        rounds = f" after {result.rounds} measuring rounds" if result.rounds > 1 else ""
        fails = spec.on_inconclusive == "fail"
        effect = ("this fails the gate (latency.on_inconclusive: fail)" if fails else
                  "NOT JUDGED: only a warning (latency.on_inconclusive: warn; set it to fail to "
                  "make noise fail the gate)")
        yield ctx.finding(DG402, "latency.on_inconclusive" if fails else "latency.budget_ms",
                          f"{pct} latency {measured:.3g} ms {where}: the budget of {budget:g} ms "
                          f"lies inside its {interval}{rounds}, so this host cannot tell; "
                          f"{effect}; re-run on a quieter runner or keep the budget clear of "
                          "the interval", Severity.ERROR if fails else Severity.WARNING)

