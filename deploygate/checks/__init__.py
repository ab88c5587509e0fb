"""Checks stage: rule families that judge one model's facts against its manifest entry.

Each family is a module with ``check(ctx) -> Iterator[Finding]``, registered in ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from deploygate.checks import artifact, cost, fit, latency, regression, target
from deploygate.checks.context import ModelContext
from deploygate.findings import Finding

CHECKS: dict[str, Callable[[ModelContext], Iterator[Finding]]] = {
    "artifact": artifact.check,
    "fit": fit.check,
    "latency": latency.check,
    "target": target.check,
    "cost": cost.check,
    "regression": regression.check,
}


def run_checks(ctx: ModelContext) -> list[Finding]:
    """Every family's findings for one model."""
    return [finding for check in CHECKS.values() for finding in check(ctx)]
