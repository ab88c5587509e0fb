"""SARIF: valid against the OASIS 2.1.0 schema, rules from RULES, locations GitHub can place."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from deploygate.findings import Finding, Location, Severity
from deploygate.report import Report
from deploygate.reporters import sarif
from deploygate.rules import RULES
from tests.unit.reporters.sample import failing_model, manifest_finding, sample_report

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "data" / "sarif-schema-2.1.0.json")
                    .read_text(encoding="utf-8"))


def rendered(report: Report) -> dict:
    log = json.loads(sarif.render(report))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    return log


def odd_report() -> Report:
    """Findings with every shape of location, including none."""
    return Report("configs/my manifest.yaml", findings=(
        Finding("DG101", Severity.ERROR, "not valid YAML", Location("configs/my manifest.yaml", None, 3, 1)),
        Finding("DG107", Severity.ERROR, "--model nope: no such model"),
        Finding("DG102", Severity.WARNING, "line zero", Location("configs/my manifest.yaml", "models", 0, 0)),
        Finding("DG605", Severity.NOTE, "new model", Location("/abs/deploy-constraints.yaml", "models[0]")),
    ))


@pytest.mark.parametrize("report", [sample_report(), odd_report(), Report("deploy-constraints.yaml")],
                         ids=["sample", "odd-locations", "empty"])
def test_output_is_valid_sarif_2_1_0(report: Report) -> None:
    log = rendered(report)
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1


def test_rules_are_derived_from_the_registry_and_indexed() -> None:
    run = rendered(sample_report())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    dg401 = next(r for r in rules if r["id"] == "DG401")
    assert dg401["name"] == "latency-over-budget"
    assert RULES["DG401"].fix in dg401["help"]["text"]
    assert dg401["helpUri"].endswith("#dg401")
    assert dg401["defaultConfiguration"]["level"] == "error"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_point_at_the_manifest_line_and_key_path() -> None:
    results = rendered(sample_report())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["DG102", "DG301", "DG401"]
    dg401 = results[2]
    assert dg401["level"] == "error"
    assert dg401["message"]["text"].startswith("classifier: p95 latency 312.40 ms")
    location = dg401["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy-constraints.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 28, "startColumn": 7, "endLine": 28, "endColumn": 8}}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "models[1].latency.budget_ms"


def test_regions_are_omitted_when_unknown_and_uris_are_encoded() -> None:
    results = rendered(odd_report())["runs"][0]["results"]
    syntax, no_location, line_zero, absolute = (r["locations"][0] for r in results)
    assert syntax["physicalLocation"]["artifactLocation"]["uri"] == "configs/my%20manifest.yaml"
    assert "logicalLocations" not in syntax
    # A finding about the run still needs a location for GitHub: the manifest, no region.
    assert no_location["physicalLocation"] == {
        "artifactLocation": {"uri": "configs/my%20manifest.yaml", "uriBaseId": "%SRCROOT%"}}
    assert "region" not in line_zero["physicalLocation"]
    assert absolute["physicalLocation"]["artifactLocation"] == {"uri": "file:///abs/deploy-constraints.yaml"}
    assert [r["level"] for r in results] == ["error", "error", "warning", "note"]


def test_fingerprints_survive_moved_lines_and_new_numbers() -> None:
    finding = failing_model().findings[1]
    assert finding.location is not None
    moved = replace(finding, message="p95 latency 290.00 ms is over the budget",
                    location=replace(finding.location, line=40))

    def fingerprint(f: Finding) -> str:
        result = rendered(Report("deploy-constraints.yaml", findings=(f,)))["runs"][0]["results"][0]
        return result["partialFingerprints"][sarif.FINGERPRINT_KEY]

    assert fingerprint(finding) == fingerprint(moved)
    assert fingerprint(finding) != fingerprint(replace(finding, rule="DG402"))
    assert fingerprint(finding) != fingerprint(replace(finding, model="other"))
    assert fingerprint(manifest_finding()) != fingerprint(finding)


def test_regions_span_the_key_and_uris_are_repository_relative() -> None:
    at = Location("deploy-constraints.yaml", "models[0].latency.budget_ms", 14, 7, end_line=14,
                  end_column=16, uri="services/chat/deploy-constraints.yaml")
    finding = Finding("DG401", Severity.ERROR, "over budget", at, "chat")
    result = rendered(Report("deploy-constraints.yaml", findings=(finding,)))["runs"][0]["results"][0]
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "services/chat/deploy-constraints.yaml",
                                            "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 14, "startColumn": 7, "endLine": 14, "endColumn": 16}


@pytest.mark.parametrize(("rule", "score"), [("DG203", "9.0"), ("DG207", "7.0")])
def test_code_running_artifacts_are_security_rules(rule: str, score: str) -> None:
    rules = rendered(sample_report())["runs"][0]["tool"]["driver"]["rules"]
    found = next(r for r in rules if r["id"] == rule)
    assert "security" in found["properties"]["tags"]
    assert found["properties"]["security-severity"] == score
    assert not any("security" in r["properties"]["tags"] for r in rules
                   if r["id"] not in sarif.SECURITY_SEVERITY)
