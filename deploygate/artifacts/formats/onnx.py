"""ONNX: a protobuf ModelProto, its weights inline or in external-data files beside it."""

from __future__ import annotations

from deploygate.artifacts.formats.base import Format
from deploygate.limits import Limit

READER = "deploygate.artifacts.onnx"
"""The module that reads the format and defines its caps."""


def sniff(head: bytes, size: int) -> bool:
    """Protobuf field 1 (``ir_version``, a varint) comes first in a ModelProto."""
    return head[:1] == b"\x08"


FORMAT = Format(
    name="onnx",
    reader=READER,
    extensions=(".onnx",),
    sniff=sniff,
    weak_magic=True,
    # External data may carry any name; the model names its files (``companions``), and
    # ``.data`` and ``.onnx_data`` are what onnx.save_model and torch.onnx.export write.
    data_extensions=(".data", ".onnx_data"),
    companions="external_locations",
    caps=(
        Limit(READER, "PROTOBUF_LIMIT", "bytes",
              "ONNX files over protobuf's limit are refused by size, never read."),
        Limit(READER, "MAX_GRAPH_DEPTH", "levels",
              "Subgraph nesting walked (protobuf's own parser stops near 32 graph levels)."),
        Limit(READER, "MAX_TENSOR_ELEMENTS", "elements",
              "Elements one ONNX tensor may declare; more is a corrupt or hostile header."),
        Limit(READER, "MAX_NODES", "items",
              "Nodes in a graph, subgraphs and functions, counted on the wire before protobuf parses."),
    ),
)
