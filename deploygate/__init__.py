"""deploygate: stop ML models that won't fit their deployment from being merged."""

from __future__ import annotations

__version__ = "0.1.0"
