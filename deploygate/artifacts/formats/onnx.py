"""ONNX: a protobuf ModelProto, its weights inline or in external-data files beside it."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format


def sniff(head: bytes, size: int) -> bool:
    """Protobuf field 1 (``ir_version``, a varint) comes first in a ModelProto."""
    return head[:1] == b"\x08"


FORMAT = Format(
    name="onnx",
    reader="deploygate.artifacts.onnx",
    extensions=(".onnx",),
    sniff=sniff,
    weak_magic=True,
    # External data may carry any name; the model names its files (``companions``), and
    # ``.data`` and ``.onnx_data`` are what onnx.save_model and torch.onnx.export write.
    data_extensions=(".data", ".onnx_data"),
    companions="external_locations",
    caps=("PROTOBUF_LIMIT", "MAX_GRAPH_DEPTH", "MAX_TENSOR_ELEMENTS", "MAX_NODES"),
)
