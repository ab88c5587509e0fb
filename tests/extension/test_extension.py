"""Extending deploygate: a new rule is one new file plus one registry line, and every output
(SARIF rule metadata, the rules reference, the JSON report) picks it up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate import rules
from deploygate.checks import CHECKS
from deploygate.cli import cli
from tests.extension import dummy_rule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "edge-detector" / "deploy-constraints.yaml"


@pytest.fixture
def with_dummy_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "RULE_MODULES", (*rules.RULE_MODULES, dummy_rule.__name__))
    monkeypatch.setattr(rules.RULES, "_rules", None)  # collected afresh, restored afterwards
    monkeypatch.setitem(CHECKS, "dummy", dummy_rule.check)


@pytest.mark.usefixtures("with_dummy_rule")
def test_a_rule_in_one_file_reaches_every_output() -> None:
    assert rules.RULES["DG699"] is dummy_rule.DG699
    assert "### DG699" in rules.render_rules_markdown()

    result = CliRunner().invoke(cli, ["check", "--manifest", str(EXAMPLE), "--no-probe",
                                      "--format", "sarif"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.output)["runs"]
    (meta,) = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "DG699"]
    assert meta["name"] == "dummy-model-seen" and meta["defaultConfiguration"]["level"] == "note"
    (hit,) = [r for r in run["results"] if r["ruleId"] == "DG699"]
    assert run["tool"]["driver"]["rules"][hit["ruleIndex"]]["id"] == "DG699"

    result = CliRunner().invoke(cli, ["check", "--manifest", str(EXAMPLE), "--no-probe",
                                      "--format", "json"])
    (model,) = json.loads(result.output)["models"]
    assert {"rule": "DG699", "name": "dummy-model-seen"}.items() <= \
        next(f for f in model["findings"] if f["rule"] == "DG699").items()


def test_the_dummy_rule_is_gone_without_its_registry_line() -> None:
    assert "DG699" not in rules.RULES and "dummy" not in CHECKS
