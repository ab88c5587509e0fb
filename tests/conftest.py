"""Fixtures for every test."""

from __future__ import annotations

import os

import pytest

# Set by CI platforms (GitHub Actions, GitLab CI) and the user's shell, these change deploygate's
# defaults (the output format, the base ref, colour) and where it writes (the job summary).
PLATFORM_PREFIXES = ("GITHUB_", "CI_MERGE_REQUEST_")
USER_SETTINGS = ("NO_COLOR", "DEPLOYGATE_DEBUG")


@pytest.fixture(autouse=True)
def _isolated_from_the_machine(monkeypatch: pytest.MonkeyPatch,
                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test runs as on a clean machine: no CI platform's or user's settings (a test that
    needs one sets it), the host's peaks fixed, so none benchmarks the machine, and a cache folder
    of its own, so none reads or writes what another run left in ``~/.cache``."""
    for name in [n for n in os.environ if n.startswith(PLATFORM_PREFIXES)] + list(USER_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEPLOYGATE_HOST_PEAKS", "100,10")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
