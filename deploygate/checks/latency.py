"""DG4xx latency: the measured percentile against ``latency.budget_ms``.

The verdict is ``probe/verdict.py``'s: DG401 latency-over-budget when the budget is under the
fastest run or under the percentile's whole confidence interval; DG402 latency-inconclusive when
the budget lies inside the interval even after the probe measured more: a warning (an error under
--strict), or an error with ``latency.on_inconclusive: fail``; DG404 latency-not-measured when a
budget is declared but no probe ran.

LLMs (GGUF measured with llama.cpp): ``budget_ms`` is per decoded token; DG409 ttft-over-budget
/ DG410 ttft-inconclusive judge the time to first token against ``latency.ttft_ms`` with the
same verdict (one run per generation), and DG411 decode-rate-under-minimum / DG412
decode-rate-inconclusive judge ``latency.tokens_per_s`` against the decode rates of the
generations: under the minimum in every one fails, over it in every one passes.

When the target device has an estimate (checks/target.py), the device's figure is what the
budget is about, so the host measurement is reported but not judged here; nor when the device's
latency could not be estimated (DG407): the host's figure does not stand for the device.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext, unjudged
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
             "Run without --no-probe; install the backend its format needs (DG408 names it); for an "
             "LLM's ttft and decode rate, measure on the device (--on-device).", level="warning")


DG409 = Rule("DG409", "ttft-over-budget", Outcome.VIOLATION,
             "An LLM's measured time to first token at the chosen percentile exceeds "
             "`latency.ttft_ms`.",
             "Use a smaller or more quantized model, more threads, or raise the budget.")

DG410 = Rule("DG410", "ttft-inconclusive", Outcome.VIOLATION,
             "`latency.ttft_ms` lies inside the confidence interval of the measured time to first "
             "token at the chosen percentile.",
             "Re-run on a quieter runner, or keep the budget clear of the interval.",
             level="warning")

DG411 = Rule("DG411", "decode-rate-under-minimum", Outcome.VIOLATION,
             "An LLM's measured decode rate is under `latency.tokens_per_s`.",
             "Use a smaller or more quantized model, more threads, or lower the minimum.")

DG412 = Rule("DG412", "decode-rate-inconclusive", Outcome.VIOLATION,
             "`latency.tokens_per_s` lies inside the spread of the measured decode rates.",
             "Re-run on a quieter runner, or keep the minimum clear of the measured spread.",
             level="warning")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Judge the measured latency against the budget, and an LLM's ttft and decode rate."""
    yield from _check_budget(ctx)
    yield from _check_llm(ctx)


def _check_budget(ctx: ModelContext) -> Iterator[Finding]:
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
        severity, effect = unjudged(spec.on_inconclusive)
        yield ctx.finding(DG402, "latency.on_inconclusive" if severity is Severity.ERROR
                          else "latency.budget_ms",
                          f"{pct} latency {measured:.3g} ms {where}: the budget of {budget:g} ms "
                          f"lies inside its {interval}{rounds}, so this host cannot tell; "
                          f"{effect}; re-run on a quieter runner or keep the budget clear of "
                          "the interval", severity)


def _check_llm(ctx: ModelContext) -> Iterator[Finding]:
    spec = ctx.spec.latency
    if spec is None or (spec.ttft_ms is None and spec.tokens_per_s is None):
        return
    result = ctx.latency
    keys = [k for k, v in (("ttft_ms", spec.ttft_ms), ("tokens_per_s", spec.tokens_per_s))
            if v is not None]
    reason = None
    if result is None:
        reason = ctx.probe_skipped or "no latency was measured"
    elif result.ttft is None:
        reason = (f"{result.runtime} measured this model, and only llama.cpp measures an LLM's "
                  "time to first token and decode rate (GGUF models)")
    elif ctx.device is not None and result.measured_on != ctx.device.id:
        reason = (f"it was measured on this host, not on {ctx.device.id}, and a device's time to "
                  "first token and decode rate are not estimated (run the gate on the device "
                  "with --on-device)")
    if reason is not None:
        for key in keys:
            yield ctx.finding(DG404, f"latency.{key}", f"latency.{key} not checked: {reason}",
                              Severity.WARNING)
        return
    assert result is not None and result.ttft is not None
    where = (f"on this host ({result.describe_threads()}, prompt of {result.prompt_tokens} "
             f"tokens, {result.ttft.runs} generations)")
    # An answer inside the noise follows latency.on_inconclusive, as DG402 does.
    unsure, effect = unjudged(spec.on_inconclusive)
    if spec.ttft_ms is not None:
        from deploygate.probe.verdict import judge

        pct, budget = spec.percentile, spec.ttft_ms
        measured = result.ttft.at(pct)
        verdict = judge(result.ttft, pct, budget)
        if verdict == "fail":
            yield ctx.finding(DG409, "latency.ttft_ms",
                              f"{pct} time to first token {measured:.1f} ms {where} is over the "
                              f"budget of {budget:g} ms by {measured - budget:.1f} ms")
        elif verdict == "inconclusive":
            low, high = result.ttft.interval_ms.get(pct, (measured, measured))
            yield ctx.finding(DG410, "latency.ttft_ms",
                              f"{pct} time to first token {measured:.1f} ms {where}: the budget "
                              f"of {budget:g} ms lies inside its {result.ttft.confidence:.0%} "
                              f"interval {low:.1f}-{high:.1f} ms, so this host cannot tell; "
                              f"{effect}; re-run on a "
                              "quieter runner or keep the budget clear of the interval", unsure)
    rates = result.tokens_per_s_runs
    if spec.tokens_per_s is not None and rates:
        from deploygate.probe.verdict import judge_rate

        minimum, rate = spec.tokens_per_s, result.tokens_per_s or 0.0
        decode = f"decoding {result.new_tokens} tokens {where}"
        verdict = judge_rate(rates, minimum)
        if verdict == "fail":
            yield ctx.finding(DG411, "latency.tokens_per_s",
                              f"decode rate {rate:.1f} tokens/s {decode} is under the minimum of "
                              f"{minimum:g} tokens/s (fastest generation {max(rates):.1f})")
        elif verdict == "inconclusive":
            yield ctx.finding(DG412, "latency.tokens_per_s",
                              f"decode rate {rate:.1f} tokens/s {decode}, but generations ranged "
                              f"{min(rates):.1f}-{max(rates):.1f} tokens/s around the minimum of "
                              f"{minimum:g}; {effect}; "
                              "re-run on a quieter runner or keep the minimum clear of that "
                              "spread", unsure)
