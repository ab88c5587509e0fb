"""Reporters stage: one module per output format, each a pure ``render(report) -> str``."""

from __future__ import annotations

import importlib

from deploygate.report import Report

REPORTERS: dict[str, str] = {
    "text": "deploygate.reporters.text",
    "json": "deploygate.reporters.json",
    "sarif": "deploygate.reporters.sarif",
    "junit": "deploygate.reporters.junit",
    "github": "deploygate.reporters.github",
    "markdown": "deploygate.reporters.markdown",
    "gitlab": "deploygate.reporters.gitlab",
}


def render(name: str, report: Report) -> str:
    """``report`` rendered by the reporter called ``name``."""
    return importlib.import_module(REPORTERS[name]).render(report)  # type: ignore[no-any-return]
