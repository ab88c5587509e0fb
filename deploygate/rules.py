"""Every rule deploygate reports, by stable id. The one registry: findings, docs and SARIF use it.

A rule is declared next to the code that emits it, as a module constant named after its id::

    DG301 = Rule("DG301", "size-over-limit", Outcome.VIOLATION,
                 "Bytes on disk exceed `limits.max_size`.",
                 "Shrink the model (quantize, prune) or raise the limit.")

and emitted through that constant (``ctx.finding(DG301, ...)``, ``ArtifactError(..., rule=DG208)``),
never through a string. ``RULE_MODULES`` lists the modules that declare rules; ``RULES`` collects
every ``Rule`` they hold. A new rule in a listed module needs nothing else; a new module needs one
line there. docs/rules.md and SARIF's rule metadata are generated from ``RULES``, and a test fails
on an id written as a string anywhere else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from deploygate.registry import Registry


class Outcome(Enum):
    """What an error-severity finding of a rule means for the gate."""

    VIOLATION = 1
    """The gate has judged and the model does not fit (exit 1)."""
    CANNOT_JUDGE = 2
    """The gate could not judge (exit 2)."""


Level = Literal["error", "warning", "note"]
"""The severity a rule's findings usually carry (SARIF's defaultConfiguration level)."""


@dataclass(frozen=True)
class Rule:
    """A rule: a stable id, a kebab-case name, and the help shown in docs and SARIF."""

    id: str
    """``DG`` and three digits; the hundreds give the family."""
    name: str
    """Short kebab-case name, e.g. ``latency-over-budget``."""
    outcome: Outcome
    """Exit code class when a finding of this rule is an error."""
    summary: str
    """One sentence: what the rule checks."""
    fix: str
    """One sentence: what to do about it."""
    level: Level = "error"
    """The severity its findings usually carry: error, warning or note."""

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


RULE_MODULES: tuple[str, ...] = (
    "deploygate.errors",              # DG100 usage, DG107, and each stage's default rule
    "deploygate.manifest.load",       # DG1xx
    "deploygate.paths",               # DG106
    "deploygate.policy",              # DG108 coverage, DG109/DG110 waivers
    "deploygate.engine",              # DG112
    "deploygate.artifacts.base",      # DG2xx shared by the readers
    "deploygate.artifacts.lfs",       # DG204
    "deploygate.checks.artifact",     # DG207, DG212
    "deploygate.checks.fit",          # DG3xx
    "deploygate.probe",               # DG408
    "deploygate.checks.latency",      # DG401, DG402, DG404, DG409-DG412
    "deploygate.checks.target",       # DG405, DG406
    "deploygate.checks.cost",         # DG5xx
    "deploygate.checks.regression",   # DG6xx
)
"""The modules that declare rules: the one registry line per declaring module."""


def collect_rules(modules: tuple[str, ...] | None = None) -> dict[str, Rule]:
    """Every ``Rule`` constant in ``modules`` (default ``RULE_MODULES``), by id, in id order.

    A rule re-exported by another module is the same object and counts once; two different
    rules with one id, or a constant whose name is not its id, are a bug.
    """
    found: dict[str, Rule] = {}
    for module_name in RULE_MODULES if modules is None else modules:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if not isinstance(value, Rule):
                continue
            if name != value.id:
                raise RuntimeError(f"{module_name}.{name} declares {value.id}: name the constant {value.id}")
            if found.setdefault(value.id, value) is not value:
                raise RuntimeError(f"{value.id} is declared twice (again in {module_name})")
    return dict(sorted(found.items()))


RULES: Registry[Rule] = Registry(collect_rules)
"""Every rule, by id, in id order."""


FAMILIES: dict[str, str] = {
    "1": "manifest", "2": "artifact", "3": "fit", "4": "latency", "5": "cost", "6": "regression",
}
"""Rule family by the id's hundreds digit (DESIGN.md, "Every finding has a stable rule id")."""


def family(rule_id: str) -> str:
    """The family of ``rule_id`` (``DG401`` -> ``latency``)."""
    return FAMILIES[rule_id[2]]


def docs_url(rule_id: str) -> str:
    """The rules reference anchor for ``rule_id``."""
    return f"https://github.com/deploygate/deploygate/blob/main/docs/rules.md#{rule_id.lower()}"


_FAMILIES = {
    "1": "Manifest", "2": "Artifact", "3": "Fit", "4": "Latency", "5": "Cost", "6": "Regression",
}


def render_rules_markdown() -> str:
    """docs/rules.md, generated from RULES (a test keeps the file in sync)."""
    lines = [
        "# Rules reference",
        "",
        "<!-- Generated from the rules declared beside their checks (deploygate.rules.RULES) by "
        "`python -m deploygate.rules > docs/rules.md`. -->",
        "",
        "Every finding carries one of these stable ids. An *error* of a rule marked **violation**",
        "exits 1 (the model does not fit); one marked **cannot judge** exits 2. Warnings exit 0,",
        "or 1 under `--strict`.",
        "",
        "Each rule is declared beside the code that emits it (`DG301 = Rule(...)` in",
        "`deploygate/checks/fit.py`, for instance) and collected by `deploygate.rules.RULES`.",
    ]
    family = ""
    for rule in RULES.values():
        if rule.id[2] != family:
            family = rule.id[2]
            lines += ["", f"## DG{family}xx — {_FAMILIES.get(family, 'Usage')}"]
        outcome = "violation" if rule.outcome is Outcome.VIOLATION else "cannot judge"
        lines += ["", f"### {rule.id}", "", f"**{rule.name}** ({outcome}). {rule.summary}", "",
                  f"Fix: {rule.fix}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # Run as a script this file is ``__main__``, a second copy of the module whose ``Rule`` is not
    # the class the declaring modules use: render through the imported module.
    from deploygate import rules

    print(rules.render_rules_markdown(), end="")
