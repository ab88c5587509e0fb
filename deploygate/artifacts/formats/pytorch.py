"""PyTorch checkpoints: zip archives (torch.save since 1.6, TorchScript) or legacy pickles.

Never unpickled: the reader scans the pickle's opcodes instead.
"""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format


def sniff(head: bytes, size: int) -> bool:
    """A zip (local header or an empty archive's end record), or a pickle's PROTO opcode."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return True  # zip checkpoints and TorchScript archives; the reader tells them apart
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


FORMAT = Format(
    name="pytorch",
    reader="deploygate.artifacts.pytorch",
    extensions=(".pt", ".pth", ".bin", ".ckpt"),
    sniff=sniff,
    detected=("torchscript",),
    pickles=True,
    caps=("MAX_MEMBERS", "MAX_CENTRAL_DIRECTORY", "MAX_COMPRESSION_RATIO"),
)
