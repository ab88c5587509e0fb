"""SARIF 2.1.0 for GitHub code scanning (and any other SARIF consumer).

Rules come from ``deploygate.rules.RULES``, so a new rule id needs no change here. Findings
point at the manifest: its key path becomes a logical location, its line and column a region.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import deploygate
from deploygate.artifacts.base import DG203
from deploygate.checks.artifact import DG207
from deploygate.findings import Finding, Location, Severity, fingerprint
from deploygate.report import Report
from deploygate.rules import RULES, docs_url, family

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/deploygate/deploygate"
FINGERPRINT_KEY = "deploygateFinding/v1"
"""Our own partialFingerprints key. GitHub reserves ``primaryLocationLineHash`` for a hash it
computes from the line's text; ours names the finding (rule, file, model, key path) instead,
so an alert survives lines moving and a re-measured latency (new numbers in the message)."""

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
SECURITY_SEVERITY = {DG203.id: "9.0", DG207.id: "7.0"}
"""Rules about artifacts that run code when loaded: GitHub shows these as security alerts,
ranked by this CVSS-like score (9.0 and up is critical, 7.0 to 8.9 high)."""


def render(report: Report) -> str:
    """The report as a SARIF 2.1.0 log with one run."""
    return json.dumps(sarif_log(report), indent=2) + "\n"


def sarif_log(report: Report) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "deploygate",
                "version": deploygate.__version__,
                "semanticVersion": deploygate.__version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(rule_id) for rule_id in RULES],
            }},
            # PyYAML counts columns in code points, not UTF-16 units (SARIF's other choice).
            "columnKind": "unicodeCodePoints",
            # The gate's verdict, the same the exit code and every other format give.
            "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code,
                             "properties": {"passed": report.passed, "strict": report.strict,
                                            "models": [{"name": m.name, "passed": m.passed}
                                                       for m in report.models]}}],
            "results": [_result(report, f) for f in report.all_findings],
        }],
    }


def _rule(rule_id: str) -> dict[str, Any]:
    rule = RULES[rule_id]
    url = docs_url(rule_id)
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary} {rule.fix}"},
        "help": {"text": f"{rule.summary}\nFix: {rule.fix}\nSee {url}",
                 "markdown": f"{rule.summary}\n\n**Fix:** {rule.fix}\n\n[{rule.id} {rule.name}]({url})"},
        "helpUri": url,
        # Each result still carries the level it was actually given (--strict, for instance).
        "defaultConfiguration": {"level": rule.level},
        "properties": _rule_properties(rule.id),
    }


def _rule_properties(rule_id: str) -> dict[str, Any]:
    tags = ["deploygate", family(rule_id)]
    if rule_id not in SECURITY_SEVERITY:
        return {"tags": tags}
    return {"tags": [*tags, "security"], "security-severity": SECURITY_SEVERITY[rule_id]}


def _result(report: Report, f: Finding) -> dict[str, Any]:
    loc = f.location
    # GitHub needs a location on every result; a finding about the run points at the manifest.
    file = (loc.uri or loc.file) if loc is not None else report.manifest
    physical: dict[str, Any] = {"artifactLocation": artifact_location(file)}
    if loc is not None and loc.line is not None and loc.line >= 1:
        physical["region"] = region(loc)
    location: dict[str, Any] = {"physicalLocation": physical}
    key_path = loc.path if loc is not None else None
    if key_path:
        location["logicalLocations"] = [{"name": _last_key(key_path),
                                         "fullyQualifiedName": key_path, "kind": "property"}]
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": list(RULES).index(f.rule),
        "level": _LEVELS[f.severity],
        "message": {"text": f"{f.model}: {f.message}" if f.model else f.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f, file)},
    }
    if f.model:
        result["properties"] = {"model": f.model}
    if f.waived is not None:
        # A waiver lives in the manifest, not beside the code it waives: an external suppression
        # the team accepted. Code scanning shows the alert as dismissed, with the reason.
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": str(f.waived)}]
    return result


def region(loc: Location) -> dict[str, Any]:
    """The region of a located finding: the key it names, else the one character it points at."""
    assert loc.line is not None
    found: dict[str, Any] = {"startLine": loc.line}
    if loc.column is None or loc.column < 1:
        found["endLine"] = loc.line
        return found
    found["startColumn"] = loc.column
    end_line, end_column = loc.end_line, loc.end_column
    if end_line is None or end_column is None or (end_line, end_column) <= (loc.line, loc.column):
        end_line, end_column = loc.line, loc.column + 1
    found.update(endLine=end_line, endColumn=end_column)
    return found


def artifact_location(file: str) -> dict[str, Any]:
    """A SARIF artifactLocation for ``file``: a relative URI against %SRCROOT% when relative.

    A file name that is not UTF-8 (decoded with surrogate escapes) is percent-encoded byte
    for byte, as a URI carries any name.
    """
    posix = file.replace("\\", "/")
    if posix.startswith("/"):
        return {"uri": "file://" + quote(posix, errors="surrogateescape")}
    return {"uri": quote(posix, errors="surrogateescape"), "uriBaseId": "%SRCROOT%"}


def _last_key(key_path: str) -> str:
    cut = max(key_path.rfind("."), key_path.rfind("["))
    return key_path[cut + 1:].rstrip("]") if cut >= 0 else key_path
