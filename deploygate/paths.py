"""Paths from manifests and models: the repository they live in, and staying inside it."""

from __future__ import annotations

from pathlib import Path


def find_repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``.git``; else ``start`` itself."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


class UnusablePath(ValueError):
    """A manifest path the operating system cannot resolve (NUL byte, name too long, loop)."""


def resolve_inside(root: Path, base: Path, relative: str) -> Path | None:
    """``base/relative`` resolved (symlinks followed), or None when it leaves ``root``.

    Raises UnusablePath when the path cannot name a file at all.
    """
    if "\x00" in relative:
        raise UnusablePath("contains a NUL character")
    candidate = Path(relative)
    if candidate.is_absolute():
        return None
    try:
        resolved = (base / candidate).resolve()
    except (OSError, RuntimeError) as e:
        raise UnusablePath(f"cannot be resolved ({getattr(e, 'strerror', None) or e})") from e
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return None
    return resolved
