"""GitLab Code Quality: the JSON list GitLab shows in a merge request's widget and diff.

Each finding is one issue with ``description``, ``check_name`` (the rule id and name),
``fingerprint`` (stable across line moves and re-measured numbers), ``severity`` and
``location.path``/``location.lines.begin``, the path relative to the repository root as
GitLab resolves it. Collect it with ``artifacts: reports: codequality:``.
"""

from __future__ import annotations

import json
from typing import Any

from deploygate.findings import Finding, Severity, fingerprint
from deploygate.report import Report
from deploygate.reporters.sarif import SECURITY_SEVERITY

_SEVERITIES = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.NOTE: "info"}
"""Code Quality's scale is info, minor, major, critical, blocker."""


def severity(f: Finding, strict: bool = False) -> str:
    """The Code Quality severity: code-running artifacts are critical; a finding that fails the
    gate is major (a warning under --strict too, as the exit code says); else by the finding's.

    A waived finding is ``info``: still listed, never counted as a degradation.
    """
    if f.waived is not None:
        return "info"
    if f.rule in SECURITY_SEVERITY and f.severity is Severity.ERROR:
        return "critical"
    if f.exit_code(strict) != 0:
        return "major"
    return _SEVERITIES[f.severity]


def issue(report: Report, f: Finding) -> dict[str, Any]:
    """One Code Quality issue for ``f``."""
    loc = f.location
    path = (loc.uri or loc.file) if loc is not None else (report.manifests or (report.manifest,))[0]
    key = f"{loc.path}: " if loc is not None and loc.path else ""
    who = f"{f.model}: " if f.model else ""
    return {
        "type": "issue",
        "check_name": f"{f.rule} {f.name}",
        "description": f"{who}{key}{f.message}" + (f" ({f.waived})" if f.waived else ""),
        "categories": ["Security" if f.rule in SECURITY_SEVERITY else "Bug Risk"],
        "severity": severity(f, report.strict),
        "fingerprint": fingerprint(f, path),
        "location": {"path": path.replace("\\", "/"),
                     "lines": {"begin": loc.line if loc is not None and loc.line else 1}},
    }


def render(report: Report) -> str:
    """The report as a GitLab Code Quality JSON array (one issue per finding)."""
    issues = [issue(report, f) for f in report.all_findings]
    seen: dict[str, int] = {}
    for item in issues:  # GitLab needs unique fingerprints; the same identity twice gets a count
        count = seen.get(item["fingerprint"], 0)
        seen[item["fingerprint"]] = count + 1
        if count:
            item["fingerprint"] = f"{item['fingerprint']}-{count}"
    # ASCII escapes, as the JSON report writes them: a file name that is not UTF-8 (decoded
    # with surrogate escapes) stays representable, and the output is always valid UTF-8.
    return json.dumps(issues, indent=2) + "\n"
