"""Shared fixtures: a throwaway repository folder with tiny models in it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository root with a ``models/`` folder (the manifest's base folder in tests)."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    return root
