"""PyTorch checkpoints: zip archives (torch.save since 1.6, TorchScript) or legacy pickles.

Never unpickled: the reader scans the pickle's opcodes instead.
"""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.pytorch"
"""The module that reads the format and defines its caps."""


def sniff(head: bytes, size: int) -> bool:
    """A zip (local header or an empty archive's end record), or a pickle's PROTO opcode."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return True  # zip checkpoints and TorchScript archives; the reader tells them apart
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


FORMAT = Format(
    name="pytorch",
    reader=READER,
    extensions=(".pt", ".pth", ".bin", ".ckpt"),
    sniff=sniff,
    detected=("torchscript",),
    pickles=True,
    caps=(
        Limit(READER, "MAX_MEMBERS", "items",
              "Members of a zip checkpoint, read from the end record before zipfile lists them."),
        Limit(READER, "MAX_CENTRAL_DIRECTORY", "bytes",
              "Zip central directory size; its records are counted against MAX_MEMBERS first."),
        Limit(READER, "MAX_COMPRESSION_RATIO", "ratio",
              "A compressed zip member expanding more than this is a zip bomb (unsafe)."),
    ),
)
