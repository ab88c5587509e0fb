"""Fixtures for the hostile-input suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.harness import HostileRepo


@pytest.fixture
def repo(tmp_path: Path) -> HostileRepo:
    """A fresh repository with a secret outside it and a canary that must never appear."""
    return HostileRepo(tmp_path)
