"""Extending deploygate: a new rule or a new format is one new file plus one registry line, and
everything downstream picks it up (SARIF rule metadata, the rules reference, the JSON report;
detection, inspection, the gate, init, the hook's file pattern, the baseline's size)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from deploygate import rules
from deploygate.artifacts import formats
from deploygate.checks import CHECKS
from deploygate.cli import cli
from tests.extension import dummy_format, dummy_rule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "edge-detector" / "deploy-constraints.yaml"


@pytest.fixture
def with_dummy_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(rules, "RULE_MODULES", (*rules.RULE_MODULES, dummy_rule.__name__))
    monkeypatch.setitem(CHECKS, "dummy", dummy_rule.check)
    rules.RULES.reset()
    yield
    monkeypatch.undo()
    rules.RULES.reset()


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


@pytest.fixture
def with_dummy_format(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(formats, "FORMAT_MODULES", (*formats.FORMAT_MODULES, dummy_format.__name__))
    formats.FORMATS.reset()
    yield
    monkeypatch.undo()
    formats.FORMATS.reset()


@pytest.mark.usefixtures("with_dummy_format")
def test_a_format_in_one_file_is_detected_inspected_gated_and_discovered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert formats.FORMATS["dummy"] is dummy_format.FORMAT
    assert ".dmy" in formats.model_suffixes()
    # The pre-commit hook's pattern is generated from the registry, so it takes the new suffix.
    import re

    from deploygate.hooks import check_files_pattern

    assert re.search(check_files_pattern(), "models/tiny.dmy")
    # Detected by content, whatever the name.
    model = dummy_format.write(tmp_path / "weights.anything", 1000)
    result = CliRunner().invoke(cli, ["inspect", str(model), "--format", "json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert (facts["format"], facts["params"]) == ("dummy", 1000)

    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / ".git").mkdir()
    dummy_format.write(repo / "models" / "tiny.dmy", 10)
    (repo / "deploy-constraints.yaml").write_text(
        "version: 1\nmodels:\n  - name: tiny\n    path: models/tiny.dmy\n    target: {kind: edge}\n"
        "    limits: {max_params: 5}\n")
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["check", "--no-probe", "--format", "json"])
    (judged,) = json.loads(result.output)["models"]
    assert judged["artifact"]["format"] == "dummy"
    assert [f["rule"] for f in judged["findings"]] == ["DG302"] and result.exit_code == 1

    from deploygate.init import find_models

    assert [(m.path, m.format) for m in find_models(repo)] == [("models/tiny.dmy", "dummy")]


def test_the_dummy_format_is_unknown_without_its_registry_line(tmp_path: Path) -> None:
    assert "dummy" not in formats.FORMATS
    result = CliRunner().invoke(cli, ["inspect", str(dummy_format.write(tmp_path / "m.dmy", 1))])
    assert result.exit_code == 2 and "DG205" in result.output


@pytest.mark.usefixtures("with_dummy_format")
def test_init_names_every_registered_extension_when_it_finds_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "--yes"])
    assert result.exit_code == 2
    assert ".onnx" in result.output and ".dmy" in result.output
