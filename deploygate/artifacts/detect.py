"""Format detection from content (each format's magic), the file name only as a fallback hint."""

from __future__ import annotations

from pathlib import Path

from deploygate.artifacts import formats
from deploygate.artifacts.lfs import MAX_POINTER_BYTES, pointer_error
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG205
from deploygate.errors import DG202
from deploygate.paths import DG106, UnusablePath, leaves

HEAD_BYTES = 64
"""Bytes read to sniff a format (every format's magic lies within them)."""


def contained(folder: Path, path: Path, display: str) -> Path:
    """``path``, a file found beside a model in ``folder``, once it is known to stay there.

    Links are followed: one that leads out of the folder is refused (DG106) before anything
    is read, so a pull request cannot make the gate read, and print, a file from elsewhere.
    """
    try:
        outside = leaves(folder, path)
    except UnusablePath as e:
        raise ArtifactError(f"the name {path.name!r} {e}; rename the file", file=display,
                            rule=DG202) from e
    if outside:
        raise ArtifactError(f"{path.name!r} is a link that leads out of the model's folder; "
                            "refused, keep the file itself in the folder", file=display,
                            rule=DG106)
    return path


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of ``path``."""
    with path.open("rb") as f:
        return f.read(n)


def detect_format(path: Path, display: str) -> str:
    """The format of the file at ``path`` (``display`` names it in errors)."""
    size = path.stat().st_size
    if size == 0:
        raise ArtifactError("the file is empty; commit the real model file", file=display,
                            rule=DG202)
    found = formats.sniff(read_head(path), size)
    if found == formats.LFS_POINTER:
        raise pointer_error(display, read_head(path, MAX_POINTER_BYTES))
    if found is not None:
        return found
    hint = formats.for_suffix(path)
    if hint is not None:
        return hint.name
    raise ArtifactError(
        f"not a model format deploygate reads ({', '.join(formats.FORMATS)}); "
        "export to ONNX or safetensors", file=display, rule=DG205)
