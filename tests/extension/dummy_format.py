"""A model format that lives in one file: its declaration and its reader.

tests/extension/test_extension.py registers this module (one line in ``FORMAT_MODULES``) and
runs the real ``deploygate inspect``, ``check`` and ``init`` on a file of it.

A ``.dmy`` file is the magic ``DUMMYMDL``, then the parameter count as a little-endian u64;
each parameter is one float32 byte-quad after it.
"""

from __future__ import annotations

import struct
from pathlib import Path

from deploygate.artifacts.base import ArtifactInfo
from deploygate.artifacts.formats import Format
from deploygate.errors import DG202, ArtifactError
from deploygate.limits import Limit

MAGIC = b"DUMMYMDL"
MAX_PARAMS = 1 << 40
"""A cap the reader enforces, declared in ``FORMAT.caps``."""


def sniff(head: bytes, size: int) -> bool:
    """The magic."""
    return head.startswith(MAGIC)


def inspect(path: Path, display: str) -> ArtifactInfo:
    """The parameter count from the header; never more than 16 bytes read."""
    with path.open("rb") as f:
        head = f.read(16)
    if len(head) < 16:
        raise ArtifactError("truncated dummy header", file=display, rule=DG202)
    (params,) = struct.unpack("<Q", head[8:16])
    if params > MAX_PARAMS:
        raise ArtifactError(f"{params} parameters is over the cap", file=display, rule=DG202)
    return ArtifactInfo(path=display, format="dummy", size_bytes=path.stat().st_size,
                        params=params, bytes_by_dtype={"float32": 4 * params})


def write(path: Path, params: int) -> Path:
    """A valid dummy model with ``params`` parameters (for the tests)."""
    path.write_bytes(MAGIC + struct.pack("<Q", params) + bytes(4 * params))
    return path


FORMAT = Format(name="dummy", reader=__name__, extensions=(".dmy",), sniff=sniff,
                caps=(Limit(__name__, "MAX_PARAMS", "items", "Parameters a dummy header may state."),))
