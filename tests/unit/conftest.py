"""Shared fixtures for unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fixed_host_peaks(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never benchmark the test machine, never write to the user's cache: peaks are fixed."""
    monkeypatch.setenv("DEPLOYGATE_HOST_PEAKS", "100,10")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
