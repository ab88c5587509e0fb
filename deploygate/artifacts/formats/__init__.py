"""Every model format deploygate reads, declared one module per format and collected here.

A format module declares one ``FORMAT = Format(...)``: its name, the magic its content shows,
its file extensions, its reader, the caps the reader enforces (each with its unit and reason:
the only declaration of a format's cap besides its constant) and the neighbouring files that
belong to a model. Everything that needs to know the formats derives it from ``FORMATS``:
content sniffing, folder resolution, ``init``'s discovery, the baseline's size accounting, the
manifest schema's ``format`` enum and the pre-commit hooks' file patterns (``deploygate.hooks``
generates them; tests fail when a hand-written copy drifts: the enum and the hooks' YAML must
equal what the registry gives).

Adding a format is one new module (declaration and reader may share it, as long as the reader
imports its heavy libraries lazily) plus one line in ``FORMAT_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from deploygate.artifacts.formats.base import Format
from deploygate.artifacts.lfs import looks_like_pointer
from deploygate.limits import LIMITS, Limit
from deploygate.registry import Registry

__all__ = ["Format", "FORMATS", "FORMAT_MODULES", "sniff", "for_suffix", "model_suffixes",
           "manifest_names", "owner", "all_limits"]

FORMAT_MODULES: tuple[str, ...] = (
    "deploygate.artifacts.formats.onnx",
    # Sniffing tries formats in this order (weak magic last, see Format.weak_magic): a
    # safetensors length prefix can look like a pickle's PROTO opcode, so safetensors comes
    # before PyTorch.
    "deploygate.artifacts.formats.safetensors",
    "deploygate.artifacts.formats.gguf",
    # a .keras file is a zip too: its first member tells it from a PyTorch archive
    "deploygate.artifacts.formats.keras",
    "deploygate.artifacts.formats.pytorch",
    "deploygate.artifacts.formats.tflite",
)
"""The modules that declare a format: the one registry line per format."""

LFS_POINTER = "lfs-pointer"
"""What ``sniff`` says of a Git LFS pointer (no format: the model's content is elsewhere)."""


def collect_formats(modules: tuple[str, ...] | None = None) -> dict[str, Format]:
    """The ``FORMAT`` of each module (default ``FORMAT_MODULES``), by name, in that order."""
    found: dict[str, Format] = {}
    for module_name in FORMAT_MODULES if modules is None else modules:
        fmt = importlib.import_module(module_name).FORMAT
        if not isinstance(fmt, Format):
            raise RuntimeError(f"{module_name}.FORMAT is not a Format")
        if found.setdefault(fmt.name, fmt) is not fmt:
            raise RuntimeError(f"format {fmt.name!r} is declared twice (again in {module_name})")
    return found


FORMATS: Registry[Format] = Registry(collect_formats)
"""Every format, by name, in ``FORMAT_MODULES`` order."""


def sniff(head: bytes, size: int) -> str | None:
    """The format the leading bytes show (``lfs-pointer`` for a pointer), or None."""
    if looks_like_pointer(head):
        return LFS_POINTER
    for fmt in sorted(FORMATS.values(), key=lambda f: f.weak_magic):
        if fmt.sniff is not None and fmt.sniff(head, size):
            return fmt.name
    return None


def for_suffix(path: Path | str) -> Format | None:
    """The format whose extension ``path`` ends with (a hint only: content decides)."""
    name = str(path).lower()
    return next((f for f in FORMATS.values() if name.endswith(f.extensions)), None)


def owner(detected: str) -> Format | None:
    """The format a detected name belongs to (``torchscript`` -> pytorch)."""
    return next((f for f in FORMATS.values() if detected in f.names), None)


def model_suffixes() -> tuple[str, ...]:
    """Suffixes of files that are a model or its data (what a model's size counts)."""
    return tuple(dict.fromkeys(s for f in FORMATS.values() for s in (*f.extensions,
                                                                     *f.data_extensions)))


def folder_members(names: Iterable[str]) -> list[str]:
    """Of the file names in a model's folder, those its model is read from: a sharded format's
    shards, index and metadata files when the folder has shards; else every file with a model
    suffix, and the metadata files (the files a model names beside it come on top). What a
    folder also holds (a README, a dataset, weights in another format) is never read."""
    names = list(names)
    for fmt in FORMATS.values():  # as artifacts._resolve_folder tells a sharded folder
        if fmt.shards and any(n.endswith(fmt.shards) for n in names):
            return [n for n in names if n.endswith(fmt.shards) or n in fmt.metadata]
    metadata = {m for f in FORMATS.values() for m in f.metadata}
    return [n for n in names if n.lower().endswith(model_suffixes()) or n in metadata]


def manifest_names() -> list[str]:
    """The values a manifest's ``format`` may take (the schema's enum)."""
    return list(FORMATS)


def all_limits() -> tuple[Limit, ...]:
    """Every cap deploygate enforces: the shared table (``deploygate.limits.LIMITS``), then each
    format's ``caps`` in registry order (the table of docs/security.md)."""
    return (*LIMITS, *(cap for f in FORMATS.values() for cap in f.caps))
