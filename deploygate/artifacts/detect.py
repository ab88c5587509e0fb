"""Format detection from content (magic bytes), never from the file name alone."""

from __future__ import annotations

import struct
from pathlib import Path

from deploygate.artifacts.lfs import MAX_POINTER_BYTES, looks_like_pointer, pointer_error
from deploygate.errors import ArtifactError
from deploygate.artifacts.base import DG205
from deploygate.errors import DG202

HEAD_BYTES = 64
# A file name is only a hint: used to pick a parser (which then reports corruption) when the
# content matches no known format.
EXTENSION_HINTS = {
    ".onnx": "onnx",
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".bin": "pytorch",
    ".ckpt": "pytorch",
    ".tflite": "tflite",
}


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of ``path``."""
    with path.open("rb") as f:
        return f.read(n)


def sniff(head: bytes, size: int) -> str | None:
    """The format the leading bytes show, or None. ``size`` is the file's size in bytes."""
    if looks_like_pointer(head):
        return "lfs-pointer"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "pytorch"  # zip checkpoints and TorchScript archives; the reader tells them apart
    if len(head) >= 9:
        # before pickles: a safetensors header of 640, 896, 1152 or 1408 bytes has a length
        # prefix starting 0x80 0x02..0x05, exactly like a pickle's PROTO opcode
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pytorch"  # a pickle: legacy torch.save files start with one
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    if head[:1] == b"\x08":
        return "onnx"  # protobuf field 1 (ir_version, varint) comes first in ModelProto
    return None


def detect_format(path: Path, display: str) -> str:
    """The format of the file at ``path`` (``display`` names it in errors)."""
    size = path.stat().st_size
    if size == 0:
        raise ArtifactError("the file is empty; commit the real model file", file=display,
                            rule=DG202)
    found = sniff(read_head(path), size)
    if found == "lfs-pointer":
        raise pointer_error(display, read_head(path, MAX_POINTER_BYTES))
    if found is not None:
        return found
    hint = EXTENSION_HINTS.get(path.suffix.lower())
    if hint is not None:
        return hint
    raise ArtifactError(
        "not a model format deploygate reads (ONNX, safetensors, GGUF, PyTorch, TFLite); "
        "export to ONNX or safetensors", file=display, rule=DG205)
