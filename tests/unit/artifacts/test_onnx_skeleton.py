"""One ONNX parse: the reader hands later stages a graph skeleton, and they never re-read the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deploygate.artifacts import inspect_artifact
from deploygate.artifacts.onnx import SKELETON_KEEP_BYTES
from deploygate.targets.workload import estimate_workload, graph_workload
from tests.fixtures import workload_models


def _reshaping_mlp(path: Path) -> Path:
    """A large MatMul weight, then a Reshape whose target shape is a small int64 initializer."""
    w = numpy_helper.from_array(np.ones((256, 256), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 16, 16], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Reshape", ["h", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16, 16])], [w, shape])
    return workload_models.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                                path)


def test_the_skeleton_keeps_structure_and_small_constants_but_not_weights(tmp_path: Path) -> None:
    path = _reshaping_mlp(tmp_path / "m.onnx")
    info = inspect_artifact(path, display="m.onnx")
    assert info.graph is not None and info.details["node_count"] == 2
    skeleton = onnx.ModelProto.FromString(info.graph.skeleton)
    by_name = {t.name: t for t in skeleton.graph.initializer}
    assert list(by_name["w"].dims) == [256, 256] and not by_name["w"].raw_data
    assert numpy_helper.to_array(by_name["shape"]).tolist() == [-1, 16, 16]
    assert len(info.graph.skeleton) < SKELETON_KEEP_BYTES < path.stat().st_size
    assert info.params == 256 * 256 + 3  # counted from the real weights before stripping


def test_the_workload_from_the_skeleton_equals_the_full_graphs(tmp_path: Path) -> None:
    path = _reshaping_mlp(tmp_path / "m.onnx")
    full = onnx.shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    expected = graph_workload(full)
    info = inspect_artifact(path, display="m.onnx")
    got = estimate_workload(info)
    assert got is not None
    assert (got.flops, got.weights_bytes, got.activation_bytes, got.coverage) == \
        (expected.flops, expected.weights_bytes, expected.activation_bytes, expected.coverage)
    assert got.flops == 2 * 4 * 256 * 256


def test_the_workload_never_reopens_the_model(tmp_path: Path) -> None:
    path = workload_models.save(workload_models.mlp(batch=1), tmp_path / "mlp.onnx")
    info = inspect_artifact(path, display="mlp.onnx")
    path.unlink()  # whatever later stages need, they have from the one parse
    workload = estimate_workload(info)
    assert workload is not None and workload.flops > 0 and workload.coverage == 1.0


def test_external_data_locations_are_graph_facts(tmp_path: Path) -> None:
    model = workload_models.mlp(batch=1, width=256)
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    info = inspect_artifact(tmp_path / "ext.onnx", display="ext.onnx")
    assert info.graph is not None and info.graph.external_data == ("ext.data",)
