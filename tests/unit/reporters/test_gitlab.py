"""GitLab Code Quality: the fields GitLab reads, unique fingerprints, repository paths."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema

from deploygate.findings import Finding, Location, Severity
from deploygate.report import Report
from deploygate.reporters import gitlab
from tests.unit.reporters.sample import failing_model, sample_report

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "data" / "gitlab-code-quality.schema.json")
                    .read_text(encoding="utf-8"))


def rendered(report: Report) -> list[dict]:
    issues = json.loads(gitlab.render(report))
    jsonschema.Draft202012Validator(SCHEMA).validate(issues)
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    return issues


def test_one_issue_per_finding_with_rule_line_and_severity() -> None:
    issues = rendered(sample_report())
    assert [i["check_name"] for i in issues] == ["DG102 manifest-schema", "DG301 size-over-limit",
                                                 "DG401 latency-over-budget"]
    dg401 = issues[2]
    assert dg401["location"] == {"path": "deploy-constraints.yaml", "lines": {"begin": 28}}
    assert dg401["severity"] == "major"
    assert dg401["description"].startswith("classifier: models[1].latency.budget_ms: p95 latency")


def test_paths_are_repository_relative_and_unsafe_artifacts_critical() -> None:
    at = Location("deploy-constraints.yaml", "models[0].path", 5, 11,
                  uri="services/chat/deploy-constraints.yaml")
    unsafe = Finding("DG203", Severity.ERROR, "calls os.system", at, "chat")
    warning = Finding("DG402", Severity.WARNING, "inside the noise", replace(at, path="models[0].latency"),
                      "chat")
    issues = rendered(Report("deploy-constraints.yaml", findings=(unsafe, warning)))
    assert issues[0]["location"]["path"] == "services/chat/deploy-constraints.yaml"
    assert (issues[0]["severity"], issues[0]["categories"]) == ("critical", ["Security"])
    assert issues[1]["severity"] == "minor"


def test_fingerprints_ignore_numbers_and_stay_unique() -> None:
    first = rendered(sample_report())
    model = failing_model()
    remeasured = replace(model, findings=tuple(replace(f, message=f.message.replace("312.40", "315.00"))
                                               for f in model.findings))
    again = rendered(replace(sample_report(), models=(sample_report().models[0], remeasured)))
    assert [i["fingerprint"] for i in first] == [i["fingerprint"] for i in again]
    twice = Finding("DG101", Severity.ERROR, "bad", Location("m.yaml", None, 3, 1))
    assert len(rendered(Report("m.yaml", findings=(twice, twice)))) == 2


def test_a_finding_without_a_location_points_at_the_manifest() -> None:
    issues = rendered(Report("svc/deploy-constraints.yaml",
                             findings=(Finding("DG107", Severity.ERROR, "--model x: no such model"),)))
    assert issues[0]["location"] == {"path": "svc/deploy-constraints.yaml", "lines": {"begin": 1}}
