"""Every reporter renders the fixed sample Report exactly as its golden file.

Regenerate after an intended change with ``DEPLOYGATE_UPDATE_GOLDEN=1 python -m pytest`` and
review the diff like code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import deploygate
import deploygate.report
from deploygate.reporters import REPORTERS, render
from deploygate.reporters.github import render_summary
from tests.fixtures.golden import compare_golden
from tests.unit.reporters.sample import sample_report

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
EXTENSIONS = {"text": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "github": "txt",
              "markdown": "md", "gitlab": "json"}


@pytest.fixture(autouse=True)
def stable_version(monkeypatch: pytest.MonkeyPatch) -> None:
    # Goldens must not change with every release.
    monkeypatch.setattr(deploygate, "__version__", "0.0.0+golden")
    monkeypatch.setattr(deploygate.report, "__version__", "0.0.0+golden")


def compare(name: str, text: str) -> None:
    compare_golden(GOLDEN / name, text)


def test_every_reporter_has_a_golden() -> None:
    assert set(REPORTERS) == set(EXTENSIONS)


@pytest.mark.parametrize("name", sorted(EXTENSIONS))
def test_reporter_matches_golden(name: str) -> None:
    compare(f"{name}.{EXTENSIONS[name]}", render(name, sample_report()))


def test_github_summary_matches_golden() -> None:
    compare("github-summary.md", render_summary(sample_report()))
