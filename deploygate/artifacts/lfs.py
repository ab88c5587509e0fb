"""Git LFS pointer files: recognised wherever an artifact is read, so a pointer is never judged
as if it were the model.

A pointer is a small text file (under 1024 bytes) that stands in for a large file when the
repository was cloned without fetching LFS content: ``version https://git-lfs.github.com/spec/v1``
first, then sorted ``key value`` lines including ``oid sha256:<hex>`` and ``size <bytes>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deploygate.errors import ArtifactError
from deploygate.rules import Outcome, Rule

MAX_POINTER_BYTES = 1024
"""The LFS spec keeps pointers under 1024 bytes; anything larger is content."""
MAGIC = b"version https://git-lfs.github.com/spec/"
"""How every pointer starts (v1 and the older pre-release version URLs)."""

_OID = re.compile(r"sha256:[0-9a-f]{64}")


DG204 = Rule("DG204", "lfs-pointer", Outcome.CANNOT_JUDGE,
             "The file is a Git LFS pointer, not the model.",
             "Run `git lfs pull`, or use `lfs: true` in actions/checkout.")


@dataclass(frozen=True)
class LfsPointer:
    """What a pointer says about the file it stands for."""

    oid: str
    """``sha256:<64 hex digits>``."""
    size: int
    """Size in bytes of the real file."""


def parse_pointer(data: bytes) -> LfsPointer | None:
    """The pointer ``data`` encodes, or None when it is anything else."""
    if len(data) >= MAX_POINTER_BYTES or not data.startswith(MAGIC):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" ")
        if not sep:
            return None
        fields.setdefault(key, value)
    size = fields.get("size", "")
    if not _OID.fullmatch(fields.get("oid", "")) or not (size.isascii() and size.isdigit()):
        return None
    return LfsPointer(fields["oid"], int(size))


def looks_like_pointer(head: bytes) -> bool:
    """Whether leading bytes start like a pointer (even a malformed one is not a model)."""
    return head.startswith(MAGIC)


def pointer_error(display: str, data: bytes = b"") -> ArtifactError:
    """The DG204 error for a pointer found where the model should be."""
    pointer = parse_pointer(data)
    what = f"a Git LFS pointer to a {pointer.size}-byte file" if pointer else "a Git LFS pointer"
    return ArtifactError(f"this is {what}, not the model: run `git lfs pull` (in GitHub Actions, "
                         "use `lfs: true` in actions/checkout)", file=display, rule=DG204)


def refuse_pointer(path: Path, display: str) -> None:
    """Raise DG204 when the file at ``path`` is an LFS pointer rather than content."""
    with path.open("rb") as f:
        data = f.read(MAX_POINTER_BYTES)
    if looks_like_pointer(data):
        raise pointer_error(display, data)
