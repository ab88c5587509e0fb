"""GGUF: llama.cpp's single-file format, metadata and tensor infos ahead of the weights."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format


def sniff(head: bytes, size: int) -> bool:
    """The ``GGUF`` magic."""
    return head.startswith(b"GGUF")


FORMAT = Format(
    name="gguf",
    reader="deploygate.artifacts.gguf",
    extensions=(".gguf",),
    sniff=sniff,
    caps=("MAX_HEADER_BYTES", "MAX_TENSORS", "MAX_KVS", "MAX_STRING_BYTES", "MAX_ARRAY_ELEMENTS",
          "MAX_ARRAY_DEPTH", "MAX_DIMS"),
)
