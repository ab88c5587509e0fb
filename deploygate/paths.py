"""Paths from manifests and models: the repository they live in, and staying inside it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from deploygate.rules import Outcome, Rule

DG106 = Rule("DG106", "path-outside-repository", Outcome.CANNOT_JUDGE,
             "A path in the manifest, or a file found beside a model, resolves (links followed) "
             "outside the repository or the model's folder.",
             "Use a path relative to the manifest that stays inside the repository, and keep "
             "the files themselves, not links to them, in the model's folder.")


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
    except RuntimeError as e:  # before Python 3.13, a link loop
        raise UnusablePath("is a loop of symbolic links") from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnusablePath("is a loop of symbolic links") from e
        raise UnusablePath(f"cannot be resolved ({e.strerror or e})") from e
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return None
    return resolved


def leaves(folder: Path, path: Path) -> bool:
    """Whether ``path`` (a name found in ``folder``) resolves, links followed, outside ``folder``.

    Every file the artifacts stage opens beside a model (a folder's model file, shards, their
    index, config.json) is checked with this first, so a link in the pull request cannot make
    the gate read, and print, a file from elsewhere on the runner. Raises UnusablePath when
    the name cannot be resolved at all (NUL byte, link loop).
    """
    return resolve_inside(folder, folder, os.path.relpath(path, folder)) is None
