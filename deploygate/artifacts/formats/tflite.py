"""TFLite / LiteRT: a FlatBuffer with the ``TFL3`` file identifier."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.tflite"
"""The module that reads the format and defines its caps."""


def sniff(head: bytes, size: int) -> bool:
    """The FlatBuffers file identifier ``TFL3`` after the 4-byte root offset."""
    return len(head) >= 8 and head[4:8] == b"TFL3"


FORMAT = Format(
    name="tflite",
    reader=READER,
    extensions=(".tflite",),
    sniff=sniff,
    caps=(
        Limit(READER, "MAX_VECTOR", "elements",
              "One FlatBuffers vector (also checked against the bytes left)."),
        Limit(READER, "MAX_TENSORS", "items", "Tensors in one TFLite subgraph."),
        Limit(READER, "MAX_ELEMENTS_WALKED", "items",
              "Tables and shape values read in a whole TFLite file (shared vectors count each time)."),
    ),
)
