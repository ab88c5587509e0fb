"""JSON report (schemas/report.schema.json)."""

from __future__ import annotations

import json

from deploygate.report import Report


def render(report: Report) -> str:
    """The report as indented JSON."""
    return json.dumps(report.to_json(), indent=2) + "\n"
