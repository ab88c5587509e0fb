"""safetensors: an 8-byte header length, a JSON header, then the raw tensors; often sharded."""

from __future__ import annotations

import struct

from deploygate.artifacts.formats.base import Format


def sniff(head: bytes, size: int) -> bool:
    """A little-endian u64 header length that fits the file, then the header's ``{``."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= size - 8 and head[8:9] == b"{"


FORMAT = Format(
    name="safetensors",
    reader="deploygate.artifacts.safetensors",
    extensions=(".safetensors",),
    sniff=sniff,
    # A folder of shards (model-00001-of-00002.safetensors ...) with its index is one model;
    # config.json beside it gives an LLM's shape.
    shards=(".safetensors", ".safetensors.index.json"),
    metadata=("config.json", "generation_config.json"),
    caps=("MAX_HEADER_BYTES", "MAX_INDEX_BYTES", "MAX_CONFIG_BYTES"),
)
