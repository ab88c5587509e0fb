"""What a format declares about itself (one ``Format`` per format module)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deploygate.limits import Limit

if TYPE_CHECKING:
    from deploygate.artifacts.base import ArtifactInfo

Sniff = Callable[[bytes, int], bool]
"""Whether a file's leading bytes (and its size in bytes) show the format."""


@dataclass(frozen=True)
class Format:
    """One model format: how to recognise it, how to read it, and what belongs to it."""

    name: str
    """The name a manifest's ``format`` uses and reports show: ``onnx``."""
    reader: str
    """Module with ``inspect(path: Path, display: str) -> ArtifactInfo``, imported only to read
    (so that ``validate`` never imports onnx or numpy)."""
    extensions: tuple[str, ...]
    """Lower-case suffixes of a model file: what ``init`` and the pre-commit hook look for, and
    a hint when the content matches no format's magic."""
    sniff: Sniff | None = None
    """The content test, on the file's first 64 bytes; content beats the file name."""
    weak_magic: bool = False
    """The content test is weak (ONNX: one protobuf tag byte): tried after every other format's."""
    detected: tuple[str, ...] = ()
    """Other names the reader may report for a file of this format (TorchScript is PyTorch)."""
    shards: tuple[str, ...] = ()
    """Suffixes that make a folder one sharded model of this format."""
    data_extensions: tuple[str, ...] = ()
    """Suffixes of files beside a model that hold its data (ONNX external data): counted in a
    model's size."""
    metadata: tuple[str, ...] = ()
    """Names of files beside a model that change what is known about it (an LLM's config.json):
    not counted in its size, but a change to them is a change to the model."""
    companions: str | None = None
    """Function in ``reader``, ``(path: Path, display: str) -> Iterable[str]``: the files a model
    names beside it (relative to its folder) that must travel with it."""
    read_bytes: int | None = None
    """The most leading bytes of one file the reader ever reads (the rest is data it never
    touches), for a format no probe backend runs: a base version from git is streamed only
    that far, the rest left as a hole of the recorded size. None: the reader may read it all."""
    pickles: bool = False
    """Its files hold pickles: the reader's ``inspect`` takes ``allow_globals`` (the manifest's
    ``security.allow_globals``)."""
    caps: tuple[Limit, ...] = ()
    """The caps the reader enforces, each a constant in ``reader`` with its unit and reason; the
    table in docs/security.md lists them (``deploygate.artifacts.formats.all_limits``)."""

    @property
    def names(self) -> frozenset[str]:
        """Every name a detected file of this format may carry."""
        return frozenset({self.name, *self.detected})

    def read(self, path: Path, display: str, *,
             allow_globals: frozenset[str] = frozenset()) -> ArtifactInfo:
        """Inspect ``path`` with the reader (``display`` names it in messages); a reader of
        pickles also gets the pickle globals the manifest allows."""
        reader = importlib.import_module(self.reader)
        info: ArtifactInfo = (reader.inspect(path, display, allow_globals=allow_globals)
                              if self.pickles else reader.inspect(path, display))
        return info

    def companion_files(self, path: Path, display: str) -> tuple[str, ...]:
        """The neighbouring files the model at ``path`` names (none unless ``companions``)."""
        if self.companions is None:
            return ()
        named = getattr(importlib.import_module(self.reader), self.companions)(path, display)
        return tuple(str(n) for n in named)
