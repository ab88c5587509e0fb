"""A rule family that lives in one file: the rule, declared beside the check that emits it.

tests/extension/test_extension.py registers this module (one line in ``RULE_MODULES``, one in
``CHECKS``) and runs the real ``deploygate check``.
"""

from __future__ import annotations

from collections.abc import Iterator

from deploygate.checks.context import ModelContext
from deploygate.findings import Finding, Severity
from deploygate.rules import Outcome, Rule

DG699 = Rule("DG699", "dummy-model-seen", Outcome.VIOLATION,
             "A rule that exists only in the test suite: it notes every model it sees.",
             "Nothing to fix; remove the dummy rule.", level="note")


def check(ctx: ModelContext) -> Iterator[Finding]:
    """A note on every model."""
    yield ctx.finding(DG699, "name", f"the dummy rule saw {ctx.spec.name}", Severity.NOTE)
