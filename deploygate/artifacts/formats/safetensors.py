"""safetensors: an 8-byte header length, a JSON header, then the raw tensors; often sharded."""

from __future__ import annotations

import struct

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.safetensors"
"""The module that reads the format and defines its caps."""

MAX_HEADER_BYTES = 16 << 20
"""The JSON header's cap; the reader reads the 8-byte length and at most this, never a tensor.
The reference implementation allows 100 MB; parsed JSON costs ~14x its bytes in Python, so
16 MiB (a header for ~300,000 tensors) keeps the parse under the 400 MB promise."""


def sniff(head: bytes, size: int) -> bool:
    """A little-endian u64 header length that fits the file, then the header's ``{``."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= size - 8 and head[8:9] == b"{"


FORMAT = Format(
    name="safetensors",
    reader=READER,
    extensions=(".safetensors",),
    sniff=sniff,
    # A folder of shards (model-00001-of-00002.safetensors ...) with its index is one model;
    # config.json beside it gives an LLM's shape.
    shards=(".safetensors", ".safetensors.index.json"),
    metadata=("config.json", "generation_config.json"),
    read_bytes=8 + MAX_HEADER_BYTES,
    caps=(
        Limit(READER, "MAX_HEADER_BYTES", "bytes",
              "safetensors JSON header (~300,000 tensors; parsed JSON costs ~14x its bytes)."),
        Limit(READER, "MAX_INDEX_BYTES", "bytes",
              "Sharded checkpoint index (model.safetensors.index.json)."),
        Limit(READER, "MAX_CONFIG_BYTES", "bytes",
              "config.json read beside a checkpoint."),
    ),
)
