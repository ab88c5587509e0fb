"""Rules are declared beside their checks and emitted through constants; one registry holds all."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from deploygate import rules
from deploygate.rules import RULE_MODULES, RULES, Outcome, Rule, collect_rules

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deploygate"
RULE_ID = re.compile(r"DG\d{3}")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def _declarations(source: str) -> list[str]:
    """Ids declared as ``DGxxx = Rule("DGxxx", ...)`` at a module's top level."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id == "Rule":
            (target,) = node.targets
            assert isinstance(target, ast.Name)
            found.append(target.id)
    return found


def test_every_declaring_module_is_registered() -> None:
    declaring = {_module(p) for p, source in _sources() if _declarations(source)}
    assert declaring == set(RULE_MODULES)


def test_every_declared_rule_is_in_the_registry_once() -> None:
    declared = [rule_id for _, source in _sources() for rule_id in _declarations(source)]
    assert len(declared) == len(set(declared))
    assert sorted(declared) == list(RULES)


def test_ids_are_written_as_strings_only_where_a_rule_is_declared() -> None:
    """Code emits ``DG301`` (the constant), never ``"DG301"``: an unregistered id cannot slip in."""
    strays = []
    for path, source in _sources():
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)]
        for i, token in enumerate(tokens):
            if token.type == tokenize.STRING and RULE_ID.fullmatch(token.string.strip("\"'")):
                declared = i >= 2 and tokens[i - 2].string == "Rule" and tokens[i - 1].string == "("
                if not declared:
                    strays.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    assert strays == [], "emit findings through the rule's constant (declare it with Rule(...))"


def test_every_emitted_constant_is_registered() -> None:
    emitted = set()
    for _, source in _sources():
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME and RULE_ID.fullmatch(token.string):
                emitted.add(token.string)
    assert emitted and emitted <= set(RULES), sorted(emitted - set(RULES))


def test_rule_constants_are_named_after_their_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    misnamed = types.ModuleType("misnamed")
    misnamed.DG999 = Rule("DG998", "wrong-name", Outcome.VIOLATION, "s", "f")  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "misnamed", misnamed)
    with pytest.raises(RuntimeError, match="name the constant DG998"):
        collect_rules(("misnamed",))


def test_two_rules_with_one_id_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    twin = types.ModuleType("twin")
    twin.DG301 = Rule("DG301", "other", Outcome.VIOLATION, "s", "f")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "twin", twin)
    with pytest.raises(RuntimeError, match="DG301 is declared twice"):
        collect_rules((*RULE_MODULES, "twin"))


def test_registry_is_in_id_order_and_levels_are_known() -> None:
    assert list(RULES) == sorted(RULES)
    assert {r.level for r in RULES.values()} <= {"error", "warning", "note"}
    assert rules.family("DG401") == "latency"
