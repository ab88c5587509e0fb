"""DG6xx regression: the model against its own version on the baseline ref.

DG601 baseline-unavailable (the ref cannot be resolved or read: cannot judge), DG602
size-regression, DG603 params-regression, DG604 latency-regression (on the A/B ratio of
medians), DG605 model-new (a note), DG606 model-removed (a manifest-level warning), DG607
baseline-skipped (a warning: a comparison that was asked for could not be made), DG608
allowed-globals-added (a warning: the change widens `security.allow_globals`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from deploygate.baseline import BaseEntry, BaselineComparison, Change, describe
from deploygate.checks.context import ModelContext
from deploygate.findings import Finding, Location, Severity
from deploygate.rules import Outcome, Rule
from deploygate.errors import DG601


DG602 = Rule("DG602", "size-regression", Outcome.VIOLATION,
             "Size grew more than `baseline.max_size_increase`.",
             "Shrink the model or raise the allowed increase.")

DG603 = Rule("DG603", "params-regression", Outcome.VIOLATION,
             "The parameter count grew more than `baseline.max_params_increase`.",
             "Shrink the model or raise the allowed increase.")

DG604 = Rule("DG604", "latency-regression", Outcome.VIOLATION,
             "Latency grew more than `baseline.max_latency_increase` (A/B median ratio).",
             "Find the slowdown or raise the allowed increase.")

DG605 = Rule("DG605", "model-new", Outcome.VIOLATION,
             "The model has no version on the baseline ref.",
             "Nothing to do: a new model is compared from its next change on.", level="note")

DG606 = Rule("DG606", "model-removed", Outcome.VIOLATION,
             "A model on the baseline ref is gone from the manifest.",
             "Nothing to do if the removal is intended.", level="warning")

DG607 = Rule("DG607", "baseline-skipped", Outcome.VIOLATION,
             "A baseline comparison was skipped (e.g. the base artifact is a Git LFS pointer).",
             "Install git-lfs on the runner so the base content can be read.", level="warning")


DG608 = Rule("DG608", "allowed-globals-added", Outcome.VIOLATION,
             "The change allows pickle globals (`security.allow_globals`) the base did not.",
             "Review the checkpoint: each allowed name is a class loading it will call.",
             level="warning")


LIMITS = (("size", "max_size_increase", DG602), ("params", "max_params_increase", DG603),
          ("latency", "max_latency_increase", DG604))


def _allowed_globals_added(ctx: ModelContext, cmp: BaselineComparison,
                           where: str) -> Iterator[Finding]:
    """DG608: a pull request that widens what a pickle may import says so, name by name."""
    if cmp.base_allow_globals is None:
        return
    added = [n for n in ctx.spec.security.allow_globals if n not in cmp.base_allow_globals]
    if added:
        yield ctx.finding(DG608, "security.allow_globals",
                          f"this change allows {len(added)} pickle global"
                          f"{'s' * (len(added) > 1)} the base ({where}) did not: "
                          + ", ".join(f"`{n}`" for n in added)
                          + "; a reviewer should confirm the checkpoint needs them",
                          Severity.WARNING)


def check(ctx: ModelContext) -> Iterator[Finding]:
    """Judge the comparison with the base ref against ``baseline`` limits."""
    cmp = ctx.baseline
    if cmp is None:
        return
    where = _where(cmp)
    yield from _allowed_globals_added(ctx, cmp, where)
    if cmp.status == "unavailable":
        key = "baseline.ref" if cmp.source == "baseline.ref" else \
            "baseline" if ctx.spec.baseline else ""
        yield ctx.finding(DG601, key, cmp.reason or f"the base ref {cmp.ref} cannot be read")
        return
    if cmp.status == "new":
        yield ctx.finding(DG605, "path", f"new model, no baseline: {cmp.base_path or 'it'} is "
                          f"not on {where}", Severity.NOTE)
        return
    if cmp.status == "skipped":
        yield ctx.finding(DG607, "baseline" if ctx.spec.baseline else "",
                          f"not compared with the base: {cmp.reason}", Severity.WARNING)
        return
    limits = ctx.spec.baseline
    for measure, name, rule in LIMITS:
        limit = getattr(limits, name) if limits else None
        if limit is None:
            continue
        if measure == "latency":
            yield from _latency(ctx, cmp, limit, where)
            continue
        change: Change | None = getattr(cmp, measure)
        if change is None or measure in cmp.skipped:
            why = cmp.skipped.get(measure, "not measured")
            yield ctx.finding(DG607, f"baseline.{name}", f"{name} {percent(limit)} not checked: "
                              f"{why}", Severity.WARNING)
            continue
        fraction = change.fraction
        if fraction is None or fraction > limit:
            shown = describe(measure, change)
            yield ctx.finding(rule, f"baseline.{name}",
                              f"{measure} grew {shown} vs {where}, over {name} {percent(limit)}")


def _latency(ctx: ModelContext, cmp: BaselineComparison, limit: float,
             where: str) -> Iterator[Finding]:
    ab = cmp.latency
    if ab is None:
        why = cmp.skipped.get("latency", "not measured")
        yield ctx.finding(DG607, "baseline.max_latency_increase",
                          f"max_latency_increase {percent(limit)} not checked: {why}",
                          Severity.WARNING)
        return
    if ab.ratio - 1 > limit:
        yield ctx.finding(DG604, "baseline.max_latency_increase",
                          f"p50 latency is {ab.ratio:.2f}x the base's ({ab.head_median_ms:.3f} ms vs "
                          f"{ab.base_median_ms:.3f} ms, medians of {ab.rounds} alternating probes "
                          f"each, {ab.threads} threads) vs {where}, over max_latency_increase "
                          f"{percent(limit)}")


def check_removed(removed: Iterable[tuple[BaseEntry, str]], manifest: str) -> Iterator[Finding]:
    """DG606 for each model in a base manifest that the manifest no longer declares."""
    for entry, where in removed:
        yield Finding(DG606.id, Severity.WARNING,
                      f"model '{entry.name}' ({entry.path}) is in the manifest on {where} but not "
                      "here: removed in this change", Location(manifest, "models"))


def _where(cmp: BaselineComparison) -> str:
    return f"{cmp.ref} ({cmp.commit[:10]})" if cmp.commit else str(cmp.ref)


def percent(fraction: float) -> str:
    """0.1 as ``10%``."""
    return f"{fraction * 100:.4g}%"


