"""TFLite / LiteRT: a FlatBuffer with the ``TFL3`` file identifier."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format


def sniff(head: bytes, size: int) -> bool:
    """The FlatBuffers file identifier ``TFL3`` after the 4-byte root offset."""
    return len(head) >= 8 and head[4:8] == b"TFL3"


FORMAT = Format(
    name="tflite",
    reader="deploygate.artifacts.tflite",
    extensions=(".tflite",),
    sniff=sniff,
    caps=("MAX_VECTOR", "MAX_TENSORS", "MAX_ELEMENTS_WALKED"),
)
