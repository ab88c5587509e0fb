"""Fixtures for every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fixed_host_peaks(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never benchmark the test machine, never read or write the user's cache: peaks are fixed,
    so a result cannot depend on the machine or on what an earlier run left in ``~/.cache``."""
    monkeypatch.setenv("DEPLOYGATE_HOST_PEAKS", "100,10")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
