"""One verdict everywhere: a warning-only report under --strict fails in every format, and
passes in every format without it, exactly as the exit code says."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace

import pytest

from deploygate.checks.latency import DG402
from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.model import LatencySpec
from deploygate.reporters import REPORTERS, render
from deploygate.report import Report

from tests.unit.reporters.sample import MANIFEST, latency, passing_model


def warning_only(strict: bool) -> Report:
    model = replace(passing_model(), latency_spec=LatencySpec(budget_ms=20.0),
                    latency=latency(18.0, 19.0, 19.5, 21.0),
                    findings=(Finding(DG402.id, Severity.WARNING,
                                      "budget inside the interval: NOT JUDGED",
                                      Location(MANIFEST, "models[0].latency.budget_ms", 9, 7),
                                      "detector"),))
    return Report(MANIFEST, (model,), strict=strict)


def _text(out: str, passed: bool) -> None:
    assert ("PASS" if passed else "FAIL") in out.splitlines()[0]
    assert ("passed" if passed else "FAILED") in out and f"(exit {0 if passed else 1})" in out


def _json(out: str, passed: bool) -> None:
    data = json.loads(out)
    assert data["passed"] is passed and data["exit_code"] == (0 if passed else 1)
    assert data["models"][0]["passed"] is passed
    assert data["models"][0]["exit_code"] == data["exit_code"]
    assert data["models"][0]["latency"]["verdict"] == "inconclusive"


def _sarif(out: str, passed: bool) -> None:
    (invocation,) = json.loads(out)["runs"][0]["invocations"]
    assert invocation["exitCode"] == (0 if passed else 1)
    assert invocation["properties"]["passed"] is passed
    assert invocation["properties"]["models"] == [{"name": "detector", "passed": passed}]


def _junit(out: str, passed: bool) -> None:
    root = ET.fromstring(out)
    failures = sum(int(s.get("failures", 0)) for s in root.iter("testsuite"))
    assert (failures == 0) is passed
    latency = [c for c in root.iter("testcase") if c.get("name") == "latency"]
    assert latency and (latency[0].find("failure") is None) is passed


def _github(out: str, passed: bool) -> None:
    assert f"::group::deploygate: {'PASS' if passed else 'FAIL'} detector" in out
    assert f"deploygate {'passed' if passed else 'FAILED'}:" in out


def _markdown(out: str, passed: bool) -> None:
    assert ("✅ deploygate passed" if passed else "❌ deploygate failed") in out
    row = next(line for line in out.splitlines() if line.startswith("| detector"))
    assert ("pass, 1 warning" if passed else "❌ fail") in row
    assert "inconclusive vs 20 ms" in row


def _gitlab(out: str, passed: bool) -> None:
    # Code Quality has no verdict of its own: a finding that fails the gate is "major".
    (issue,) = json.loads(out)
    assert issue["severity"] == ("minor" if passed else "major")


CHECKS: dict[str, Callable[[str, bool], None]] = {
    "text": _text, "json": _json, "sarif": _sarif, "junit": _junit, "github": _github,
    "markdown": _markdown, "gitlab": _gitlab,
}


def test_every_format_is_checked() -> None:
    assert set(REPORTERS) == set(CHECKS), "add a verdict check for the new format here"


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_a_warning_only_report_has_one_verdict(fmt: str, strict: bool) -> None:
    report = warning_only(strict)
    assert report.exit_code == (1 if strict else 0)
    assert report.models[0].passed is report.passed is (not strict)
    CHECKS[fmt](render(fmt, report), not strict)


def test_combining_reports_rejudges_every_model_under_the_new_mode() -> None:
    lenient = warning_only(strict=False)
    assert lenient.models[0].passed
    combined = Report.combine([lenient], strict=True)
    assert not combined.models[0].passed and combined.exit_code == 1
