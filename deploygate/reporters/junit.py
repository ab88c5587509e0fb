"""JUnit XML for CI systems that show test reports (GitLab, Jenkins, Azure Pipelines, ...).

One testsuite per manifest; one testcase per model and check family (manifest, artifact, fit,
latency, cost, regression). A violated constraint is a ``<failure>``; a finding that means
the gate could not judge (exit 2) is an ``<error>``, as JUnit uses it for a test that could not
run; a family that was never judged (no latency measured) is ``<skipped>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import deploygate
from deploygate.findings import Finding
from deploygate.report import ModelReport, Report
from deploygate.rules import FAMILIES, RULES, Outcome, family
from deploygate.checks.latency import DG404

# XML 1.0 cannot carry most control characters, even escaped; they become U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


@dataclass
class _Case:
    """One testcase before it becomes XML."""

    classname: str
    name: str
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    seconds: float | None = None


def _failing(f: Finding, strict: bool) -> bool:
    # The exit code's own rule, so a failed test case is exactly a finding that fails the gate.
    return f.exit_code(strict) != 0


def _model_cases(m: ModelReport, strict: bool) -> list[_Case]:
    by_family: dict[str, list[Finding]] = {}
    for f in m.findings:
        by_family.setdefault(family(f.rule), []).append(f)
    judged = {"artifact", "fit"} | set(by_family)
    if m.latency_spec is not None or m.latency is not None:
        judged.add("latency")
    if m.usd_per_1k is not None:
        judged.add("cost")
    cases = []
    for fam in FAMILIES.values():
        if fam not in judged:
            continue
        case = _Case(f"deploygate.{m.name}", fam, by_family.get(fam, []),
                     seconds=m.latency.measured_s if fam == "latency" and m.latency else None)
        if not any(_failing(f, strict) for f in case.findings):
            if fam in ("fit", "latency", "cost") and m.artifact is None:
                case.skipped = "not judged: the artifact could not be read"
            elif fam == "latency" and m.latency is None:
                reasons = [f.message for f in case.findings if f.rule == DG404.id]
                case.skipped = "not measured" + (f": {reasons[0]}" if reasons else "")
        cases.append(case)
    return cases


def _report_cases(report: Report) -> list[_Case]:
    by_family: dict[str, list[Finding]] = {"manifest": []}
    for f in report.findings:
        by_family.setdefault(family(f.rule), []).append(f)
    return [_Case("deploygate", fam, found) for fam, found in by_family.items()]


def _testcase(case: _Case, report: Report) -> ET.Element:
    # Jenkins' xunit schema has no `file` on a testcase in every version: the suite carries it.
    attributes = {"classname": _xml_text(case.classname), "name": _xml_text(case.name)}
    if case.seconds is not None:
        attributes["time"] = f"{case.seconds:.3f}"
    element = ET.Element("testcase", attributes)
    failing = [f for f in case.findings if _failing(f, report.strict)]
    if failing:
        cannot_judge = [f for f in failing if RULES[f.rule].outcome is Outcome.CANNOT_JUDGE]
        first = (cannot_judge or failing)[0]
        child = ET.SubElement(element, "error" if cannot_judge else "failure",
                              {"message": _xml_text(first.message), "type": first.rule})
        child.text = _xml_text("\n".join(str(f) for f in failing) + "\n")
    elif case.skipped is not None:
        ET.SubElement(element, "skipped", {"message": _xml_text(case.skipped)})
    rest = [f for f in case.findings if not _failing(f, report.strict)]
    if rest:
        ET.SubElement(element, "system-out").text = _xml_text("\n".join(str(f) for f in rest) + "\n")
    return element


def _counts(testcases: list[ET.Element]) -> dict[str, str]:
    return {
        "tests": str(len(testcases)),
        "failures": str(sum(t.find("failure") is not None for t in testcases)),
        "errors": str(sum(t.find("error") is not None for t in testcases)),
    }


def render(report: Report) -> str:
    """The report as a JUnit XML document: one testsuite per manifest."""
    manifests = list(report.manifests or (report.manifest,))
    suites: dict[str, list[_Case]] = {name: [] for name in manifests}
    suites[manifests[0]] += _report_cases(report)
    for m in report.models:
        home = m.manifest if m.manifest in suites else manifests[0]
        suites[home] += _model_cases(m, report.strict)
    everything: list[ET.Element] = []
    elements = []
    for name, cases in suites.items():
        testcases = [_testcase(c, report) for c in cases]
        everything += testcases
        # The time the gate spent measuring: the only durations it has honestly taken.
        seconds = f"{sum(c.seconds or 0.0 for c in cases):.3f}"
        suite = ET.Element("testsuite", {
            "name": _xml_text(f"deploygate {name}"), **_counts(testcases),
            "skipped": str(sum(t.find("skipped") is not None for t in testcases)),
            "time": seconds, "file": _xml_text(name)})
        properties = ET.SubElement(suite, "properties")
        facts = {"deploygate.version": deploygate.__version__, "exit_code": report.exit_code,
                 **{f"host.{k}": v for k, v in report.host.items()}}
        for key, value in facts.items():
            ET.SubElement(properties, "property", {
                "name": _xml_text(key), "value": _xml_text("" if value is None else str(value))})
        suite.extend(testcases)
        elements.append((suite, seconds))
    total = sum(float(seconds) for _, seconds in elements)
    # `skipped` is a testsuite attribute only: Jenkins' xunit schema refuses it on <testsuites>.
    root = ET.Element("testsuites", {"name": "deploygate", **_counts(everything),
                                     "time": f"{total:.3f}"})
    root.extend(suite for suite, _ in elements)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
