"""Small ONNX models built with onnx.helper for workload and estimate tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _init(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Check and save ``model`` at ``path``."""
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


def mlp(batch: int | str = "batch", width: int = 256, depth: int = 2) -> onnx.ModelProto:
    """``depth`` x (MatMul + Add + Relu) on [batch, width]."""
    nodes, inits, prev = [], [], "x"
    for i in range(depth):
        inits += [_init(f"w{i}", width, width), _init(f"b{i}", width)]
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"mm{i}"]),
                  helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"]),
                  helper.make_node("Relu", [f"add{i}"], [f"h{i}"])]
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(nodes, "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, width])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def conv(batch: int | str = 1, size: int = 32) -> onnx.ModelProto:
    """Conv 3->8 (3x3, pad 1) + MaxPool 2x2 + GlobalAveragePool on [batch, 3, size, size]."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["y"])]
    graph = helper.make_graph(
        nodes, "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 1, 1])],
        [_init("w", 8, 3, 3, 3)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def lstm(seq: int = 10, batch: int = 2, inputs: int = 16, hidden: int = 32) -> onnx.ModelProto:
    """One forward LSTM layer."""
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=hidden)], "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, 1, batch, hidden])],
        [_init("W", 1, 4 * hidden, inputs), _init("R", 1, 4 * hidden, hidden)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
