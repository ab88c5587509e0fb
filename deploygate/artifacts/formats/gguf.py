"""GGUF: llama.cpp's single-file format, metadata and tensor infos ahead of the weights."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.gguf"
"""The module that reads the format and defines its caps."""


def sniff(head: bytes, size: int) -> bool:
    """The ``GGUF`` magic."""
    return head.startswith(b"GGUF")


FORMAT = Format(
    name="gguf",
    reader=READER,
    extensions=(".gguf",),
    sniff=sniff,
    caps=(
        Limit(READER, "MAX_HEADER_BYTES", "bytes",
              "GGUF header (metadata and tensor infos), streamed in 1 MiB chunks."),
        Limit(READER, "MAX_TENSORS", "items",
              "GGUF tensor count (also checked against the bytes left in the file)."),
        Limit(READER, "MAX_KVS", "items",
              "GGUF metadata entries (also checked against the bytes left)."),
        Limit(READER, "MAX_STRING_BYTES", "bytes",
              "Longer GGUF metadata strings are skipped, not read."),
        Limit(READER, "MAX_ARRAY_ELEMENTS", "elements",
              "GGUF metadata array length."),
        Limit(READER, "MAX_ARRAY_DEPTH", "levels", "GGUF arrays of arrays."),
        Limit(READER, "MAX_DIMS", "items", "Dimensions of one GGUF tensor (GGML_MAX_DIMS)."),
    ),
)
