"""Allow ``python -m deploygate``."""

from __future__ import annotations

from deploygate.cli import main

if __name__ == "__main__":
    main()
