"""Tiny real ONNX models for the probe tests, built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

OPSET = [h.make_opsetid("", 17)]


def _const(name: str, array: np.ndarray) -> onnx.NodeProto:
    return h.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name + "_v"))


def _save(graph: onnx.GraphProto, path: Path, opsets: list[onnx.OperatorSetIdProto] | None = None,
          check: bool = True) -> Path:
    model = h.make_model(graph, opset_imports=opsets or OPSET)
    model.ir_version = 8  # readable by every onnxruntime the project supports
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def image_model(path: Path) -> Path:
    """Conv + Relu + GlobalAveragePool on ``image [batch, 3, h, w]``; weights in Constant nodes."""
    rng = np.random.default_rng(1)
    nodes = [
        _const("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        _const("b", np.zeros(4, np.float32)),
        h.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("GlobalAveragePool", ["r"], ["out"]),
    ]
    graph = h.make_graph(
        nodes, "image",
        [h.make_tensor_value_info("image", T.FLOAT, ["batch", 3, "h", "w"])],
        [h.make_tensor_value_info("out", T.FLOAT, ["batch", 4, 1, 1])],
    )
    return _save(graph, path)


def initializer_input_model(path: Path) -> Path:
    """MatMul whose weight is an initializer that is also listed in graph.input (old exporters)."""
    weight = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    graph = h.make_graph(
        [h.make_node("MatMul", ["x", "w"], ["y"])], "init",
        [h.make_tensor_value_info("x", T.FLOAT, [None, 4]),
         h.make_tensor_value_info("w", T.FLOAT, [4, 2])],
        [h.make_tensor_value_info("y", T.FLOAT, [None, 2])],
        initializer=[weight],
    )
    return _save(graph, path)


def mode_switch_model(path: Path) -> Path:
    """``If mode == 42``: a 3-step recurrent Loop; else a Reshape of 8 values to [1, 3] (fails)."""
    hidden = 8
    weight = np.eye(hidden, dtype=np.float32) * 0.5
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]),
         h.make_node("MatMul", ["h_in", "w"], ["mm"]),
         h.make_node("Tanh", ["mm"], ["h_out"])],
        "step",
        [h.make_tensor_value_info("i", T.INT64, []),
         h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("h_in", T.FLOAT, [1, hidden])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []),
         h.make_tensor_value_info("h_out", T.FLOAT, [1, hidden])],
    )
    then_branch = h.make_graph(
        [_const("steps", np.array(3, np.int64)), _const("go", np.array(True)),
         h.make_node("Loop", ["steps", "go", "state"], ["then_out"], body=body)],
        "recurrent", [], [h.make_tensor_value_info("then_out", T.FLOAT, [1, hidden])],
    )
    else_branch = h.make_graph(
        [_const("bad_shape", np.array([1, 3], np.int64)),
         h.make_node("Reshape", ["state", "bad_shape"], ["else_out"], name="squeeze_state")],
        "fallback", [], [h.make_tensor_value_info("else_out", T.FLOAT, [1, 3])],
    )
    graph = h.make_graph(
        [_const("w", weight), _const("magic", np.array(42, np.int64)),
         h.make_node("Equal", ["mode", "magic"], ["is_magic"]),
         h.make_node("If", ["is_magic"], ["out"], then_branch=then_branch,
                     else_branch=else_branch)],
        "switch",
        [h.make_tensor_value_info("state", T.FLOAT, [1, hidden]),
         h.make_tensor_value_info("mode", T.INT64, [])],
        [h.make_tensor_value_info("out", T.FLOAT, [1, None])],
    )
    return _save(graph, path)


def gather_model(path: Path, rows: int = 5) -> Path:
    """Gather rows of a constant table by ``idx: int32 [n]``: indices >= rows fail at runtime."""
    table = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
    graph = h.make_graph(
        [_const("table", table), h.make_node("Gather", ["table", "idx"], ["out"], axis=0)],
        "gather",
        [h.make_tensor_value_info("idx", T.INT32, ["n"])],
        [h.make_tensor_value_info("out", T.FLOAT, ["n", 4])],
    )
    return _save(graph, path)


def endless_loop_model(path: Path) -> Path:
    """A Loop with no trip count whose condition stays true: one run never ends."""
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]),
         h.make_node("Add", ["v_in", "one"], ["v_out"])],
        "forever",
        [h.make_tensor_value_info("i", T.INT64, []),
         h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("v_in", T.FLOAT, [1])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []),
         h.make_tensor_value_info("v_out", T.FLOAT, [1])],
    )
    graph = h.make_graph(
        [_const("one", np.ones(1, np.float32)), _const("go", np.array(True)),
         # The carried value starts from the input, so no optimizer can fold the Loop away.
         h.make_node("Loop", ["", "go", "x"], ["v"], body=body)],
        "endless",
        [h.make_tensor_value_info("x", T.FLOAT, [1])],
        [h.make_tensor_value_info("v", T.FLOAT, [1])],
    )
    return _save(graph, path)


def custom_op_model(path: Path, domain: str = "com.example.ops") -> Path:
    """One node from a custom-op domain that only a native library could implement."""
    graph = h.make_graph(
        [h.make_node("FancyNorm", ["x"], ["y"], domain=domain)], "custom",
        [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, 4])],
    )
    return _save(graph, path, OPSET + [h.make_opsetid(domain, 1)], check=False)


def scalar_model(path: Path) -> Path:
    """``y = x * float(sr)`` with ``sr`` an int64 scalar (shape ())."""
    graph = h.make_graph(
        [h.make_node("Cast", ["sr"], ["srf"], to=T.FLOAT), h.make_node("Mul", ["x", "srf"], ["y"])],
        "scalar",
        [h.make_tensor_value_info("x", T.FLOAT, [1, "t"]),
         h.make_tensor_value_info("sr", T.INT64, [])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, "t"])],
    )
    return _save(graph, path)


def typed_model(path: Path, elem_type: int, shape: list[int | str | None] | None = None) -> Path:
    """Identity on one input of ``elem_type`` (shape [2, 3] unless given)."""
    graph = h.make_graph(
        [h.make_node("Identity", ["x"], ["y"])], "typed",
        [h.make_tensor_value_info("x", elem_type, [2, 3] if shape is None else shape)],
        [h.make_tensor_value_info("y", elem_type, [2, 3] if shape is None else shape)],
    )
    return _save(graph, path, check=False)
