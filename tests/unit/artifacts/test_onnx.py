"""ONNX reader: parameter and byte counts against independent counts, and refusals."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

from deploygate.artifacts import onnx as onnx_reader
from deploygate.errors import ArtifactError
from tests.fixtures.onnx_models import (
    conv_net_model,
    conv_net_weights,
    external_data_model,
    external_data_weights,
    if_model,
    if_model_weights,
    save_with_external_data,
)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    # Raw serialization: onnx.save_model would rewrite external-data entries we set on purpose.
    path.write_bytes(model.SerializeToString())
    return path


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], initializer: Sequence[onnx.TensorProto] = (),
           **kwargs: object) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializer))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], **kwargs)


def _bytes(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for a in arrays.values():
        totals[str(a.dtype)] = totals.get(str(a.dtype), 0) + a.nbytes
    return totals


def test_conv_net_constant_nodes_and_initializers(tmp_path: Path) -> None:
    path = _save(conv_net_model(), tmp_path / "net.onnx")
    weights = conv_net_weights()

    info = onnx_reader.inspect(path, "net.onnx")

    assert info.params == sum(a.size for a in weights.values())
    assert info.bytes_by_dtype == _bytes(weights)
    assert info.size_bytes == os.path.getsize(path)
    assert info.files == ("net.onnx",)
    assert info.runnable
    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [
        ("x", "float32", ("batch", 3, "h", "w"))]
    assert [(t.name, t.dtype, t.shape) for t in info.outputs] == [("y", "float32", ("batch", 4))]
    assert info.details["opsets"] == {"ai.onnx": 17}
    assert info.details["node_count"] == 7
    assert info.details["has_external_data"] is False
    assert info.details["custom_domains"] == []


def test_fp16_weights(tmp_path: Path) -> None:
    path = _save(conv_net_model(np.float16), tmp_path / "net16.onnx")
    weights = conv_net_weights(np.float16)

    info = onnx_reader.inspect(path, "net16.onnx")

    assert info.params == sum(a.size for a in weights.values())
    assert info.bytes_by_dtype == {"float16": sum(a.nbytes for a in weights.values())}
    assert info.inputs[0].dtype == "float16"


def test_if_subgraph_weights_are_counted(tmp_path: Path) -> None:
    path = _save(if_model(), tmp_path / "if.onnx")
    weights = if_model_weights()

    info = onnx_reader.inspect(path, "if.onnx")

    assert info.params == sum(a.size for a in weights.values())
    assert info.bytes_by_dtype == _bytes(weights)
    assert info.details["subgraph_count"] == 2
    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [
        ("cond", "bool", ()), ("x", "float32", (2,))]


def test_loop_body_weights_are_counted(tmp_path: Path) -> None:
    step = np.arange(6, dtype=np.float32).reshape(2, 3)
    body_init = np.ones(3, np.float32)
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["step"], value=numpy_helper.from_array(step)),
         helper.make_node("ReduceSum", ["step"], ["s"], keepdims=0, axes=None),
         helper.make_node("Add", ["acc_in", "body_init"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])],
        initializer=[numpy_helper.from_array(body_init, "body_init")])
    model = _model(
        [helper.make_node("Loop", ["n", "", "acc"], ["out"], body=body)],
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("acc", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3])])
    path = _save(model, tmp_path / "loop.onnx")

    info = onnx_reader.inspect(path, "loop.onnx")

    assert info.params == step.size + body_init.size
    assert info.bytes_by_dtype == {"float32": step.nbytes + body_init.nbytes}
    assert info.details["subgraph_count"] == 1
    assert [t.dtype for t in info.inputs] == ["int64", "float32"]


def test_nested_subgraphs_are_walked(tmp_path: Path) -> None:
    inner_w = np.ones((2, 2), np.float32)
    inner = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(inner_w))],
        "inner", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 2])])
    outer = helper.make_graph(
        [helper.make_node("If", ["cond"], ["o"], then_branch=inner, else_branch=inner)],
        "outer", [], [helper.make_tensor_value_info("o", TensorProto.FLOAT, [2, 2])])
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=outer, else_branch=inner)],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])

    info = onnx_reader.inspect(_save(model, tmp_path / "nested.onnx"), "nested.onnx")

    assert info.params == 3 * inner_w.size  # the inner graph appears three times
    assert info.details["subgraph_count"] == 4


def test_constant_value_attributes(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Constant", [], ["a"], value_float=1.5),
         helper.make_node("Constant", [], ["b"], value_floats=[1.0, 2.0, 3.0]),
         helper.make_node("Constant", [], ["c"], value_int=7),
         helper.make_node("Constant", [], ["d"], value_ints=[1, 2]),
         helper.make_node("Constant", [], ["e"], value_strings=["ab", "cde"])],
        [], [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abcde"])

    info = onnx_reader.inspect(_save(model, tmp_path / "c.onnx"), "c.onnx")

    assert info.params == 1 + 3 + 1 + 2 + 2
    assert info.bytes_by_dtype == {"float32": 4 * 4, "int64": 3 * 8, "string": 5}
    assert info.outputs[0].shape is None


def test_int64_input_and_initializers_listed_as_inputs(tmp_path: Path) -> None:
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    model = _model(
        [helper.make_node("Gather", ["table", "ids"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
         # Old exporters list every initializer as a graph input too.
         helper.make_tensor_value_info("table", TensorProto.FLOAT, [10, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 4])],
        [numpy_helper.from_array(table, "table")], ir_version=3)
    path = _save(model, tmp_path / "emb.onnx")

    info = onnx_reader.inspect(path, "emb.onnx")

    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [
        ("ids", "int64", ("batch", "seq"))]
    assert info.params == table.size
    assert info.details["ir_version"] == 3


def test_symbolic_and_unnamed_dims(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)  # rank unknown
    model = _model([helper.make_node("Identity", ["x"], ["y"])], [x], [y])

    info = onnx_reader.inspect(_save(model, tmp_path / "d.onnx"), "d.onnx")

    assert info.inputs[0].shape == ("batch", None, 3)
    assert info.outputs[0].shape is None
    assert info.inputs[0].to_json()["shape"] == ["batch", None, 3]


def test_sparse_initializer_counts_dense_shape(tmp_path: Path) -> None:
    dense_shape = [6, 5]
    values = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([0, 7, 29], np.int64), "sp_indices")
    sparse = helper.make_sparse_tensor(values, indices, dense_shape)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["sp"], ["y"])], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dense_shape)],
        sparse_initializer=[sparse])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    info = onnx_reader.inspect(_save(model, tmp_path / "sp.onnx"), "sp.onnx")

    assert info.params == int(np.prod(dense_shape))
    assert info.bytes_by_dtype == {"float32": 4 * int(np.prod(dense_shape))}
    assert info.inputs == ()


def test_model_local_function_with_constant(tmp_path: Path) -> None:
    scale = np.full((4,), 2.0, np.float32)
    function = helper.make_function(
        "local.fn", "Scale", ["x"], ["y"],
        [helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(scale)),
         helper.make_node("Mul", ["x", "s"], ["y"])],
        opset_imports=[helper.make_opsetid("", 17)])
    graph = helper.make_graph(
        [helper.make_node("Scale", ["x"], ["y"], domain="local.fn")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    model = helper.make_model(
        graph, functions=[function],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)])

    info = onnx_reader.inspect(_save(model, tmp_path / "fn.onnx"), "fn.onnx")

    assert info.params == scale.size
    assert info.details["function_count"] == 1
    assert info.details["opsets"] == {"ai.onnx": 17, "local.fn": 1}
    assert info.details["custom_domains"] == []  # a local function needs no custom-op library


def test_custom_domain_is_reported(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))

    info = onnx_reader.inspect(_save(model, tmp_path / "custom.onnx"), "custom.onnx")

    assert info.details["custom_domains"] == ["com.example"]


def test_int4_counts_packed_bytes(tmp_path: Path) -> None:
    q = helper.make_tensor("q", TensorProto.INT4, [3, 3], [1] * 9)
    model = _model([helper.make_node("Identity", ["q"], ["y"])], [],
                   [helper.make_tensor_value_info("y", TensorProto.INT4, [3, 3])], [q])

    info = onnx_reader.inspect(_save(model, tmp_path / "q.onnx"), "q.onnx")

    assert info.params == 9
    assert info.bytes_by_dtype == {"int4": 5}  # nine 4-bit values fill five bytes


def test_external_data_one_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    save_with_external_data(external_data_model(), path)
    weights = external_data_weights()

    info = onnx_reader.inspect(path, "m.onnx")

    assert info.params == sum(a.size for a in weights.values())
    assert info.bytes_by_dtype == _bytes(weights)
    assert info.size_bytes == os.path.getsize(path) + os.path.getsize(tmp_path / "weights.bin")
    assert info.files == ("m.onnx", "weights.bin")
    assert info.details["has_external_data"] is True


def test_external_data_two_files(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    save_with_external_data(external_data_model(), path, location=None)
    weights = external_data_weights()

    info = onnx_reader.inspect(path, "m.onnx")

    assert info.params == sum(a.size for a in weights.values())
    assert info.size_bytes == os.path.getsize(path) + sum(
        os.path.getsize(tmp_path / name) for name in weights)
    assert sorted(info.files) == ["m.onnx", *sorted(weights)]


def test_external_data_in_subfolder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "m.onnx"
    save_with_external_data(external_data_model(), path, location="data/w.bin")

    info = onnx_reader.inspect(path, "m.onnx")

    assert info.files == ("m.onnx", "data/w.bin")
    assert info.size_bytes == os.path.getsize(path) + os.path.getsize(tmp_path / "data/w.bin")


def _external_model(location: str, *, offset: int = 0, length: int | None = 16) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    set_external_data(weight, location, offset=offset, length=length)
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    return _model([helper.make_node("Identity", ["w"], ["y"])], [],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [weight])


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "data/../../x.bin",
                                      "..\\secret.bin", "C:/secret.bin", "data\\w.bin",
                                      "\\\\server\\share\\w.bin", "w\x00.bin", ""])
def test_unsafe_external_locations_are_refused(tmp_path: Path, location: str) -> None:
    path = _save(_external_model(location), tmp_path / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG208"
    assert (repr(location) if location else "no location") in caught.value.message
    assert caught.value.file == "m.onnx"


def test_external_symlink_to_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\0" * 16)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").symlink_to(outside)
    path = _save(_external_model("w.bin"), folder / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG208"
    assert "'w.bin'" in caught.value.message


def test_external_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.bin").write_bytes(b"\0" * 16)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "data").symlink_to(tmp_path / "elsewhere")
    path = _save(_external_model("data/w.bin"), folder / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG208"
    assert "'data/w.bin'" in caught.value.message


@pytest.mark.parametrize(("offset", "length"), [(8, 16), (0, None), (20, None)])
def test_external_data_past_end_of_file_is_refused(tmp_path: Path, offset: int,
                                                   length: int | None) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 12)  # the tensor needs 16
    path = _save(_external_model("w.bin", offset=offset, length=length), tmp_path / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG208"
    assert "'w.bin'" in caught.value.message


def test_external_length_disagreeing_with_shape_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 64)
    path = _save(_external_model("w.bin", length=32), tmp_path / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG202"
    assert "'w'" in caught.value.message


def test_missing_external_file(tmp_path: Path) -> None:
    path = _save(_external_model("weights.bin"), tmp_path / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG201"
    assert "'weights.bin'" in caught.value.message


def test_unsafe_location_refused_before_any_file_is_touched(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    good = numpy_helper.from_array(np.zeros(4, np.float32), "good")
    set_external_data(good, "missing.bin", offset=0, length=16)
    good.ClearField("raw_data")
    good.data_location = TensorProto.EXTERNAL
    model = _external_model("../secret.bin")
    model.graph.initializer.insert(0, good)
    path = _save(model, tmp_path / "m.onnx")
    touched: list[object] = []
    monkeypatch.setattr("deploygate.artifacts.onnx.os.lstat", lambda p: touched.append(p))

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG208"  # not DG201 for the missing file listed first
    assert touched == []


@pytest.mark.parametrize("value", ["-1", "abc", "１"])
def test_bad_external_offset_is_corrupt(tmp_path: Path, value: str) -> None:
    model = _external_model("w.bin")
    entry = next(e for e in model.graph.initializer[0].external_data if e.key == "offset")
    entry.value = value
    path = _save(model, tmp_path / "m.onnx")

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "m.onnx")

    assert caught.value.rule == "DG202"
    assert "offset" in caught.value.message


@pytest.mark.parametrize("content", [b"\x08\x07\xff\xff\xff", b"\x08" + b"\xff" * 40,
                                     b"not a model at all"])
def test_garbage_is_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "bad.onnx")

    assert caught.value.rule == "DG202"
    assert "\n" not in caught.value.message
    assert "re-export" in caught.value.message


def test_deep_subgraph_nesting_is_refused(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_reader, "MAX_GRAPH_DEPTH", 3)
    graph = helper.make_graph([], "leaf", [], [])
    for level in range(5):
        graph = helper.make_graph(
            [helper.make_node("If", ["cond"], ["y"], then_branch=graph, else_branch=graph)],
            f"level{level}", [], [])
    model = helper.make_model(graph)

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(_save(model, tmp_path / "deep.onnx"), "deep.onnx")

    assert caught.value.rule == "DG202"
    assert "nest" in caught.value.message


def test_model_without_graph_is_corrupt(tmp_path: Path) -> None:
    model = onnx.ModelProto(ir_version=8)

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(_save(model, tmp_path / "empty.onnx"), "empty.onnx")

    assert caught.value.rule == "DG202"
    assert "no graph" in caught.value.message


def test_file_over_the_protobuf_limit_is_refused_unread(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(conv_net_model(), tmp_path / "big.onnx")
    monkeypatch.setattr(onnx_reader, "PROTOBUF_LIMIT", 100)
    monkeypatch.setattr("deploygate.artifacts.onnx.onnx.load", lambda *a, **k: pytest.fail("file was read"))

    with pytest.raises(ArtifactError) as caught:
        onnx_reader.inspect(path, "big.onnx")

    assert caught.value.rule == "DG202"
    assert "external data" in caught.value.message


# -- classic ML (ai.onnx.ml): weights in node attributes ---------------------------------------

def _ml_model(node: onnx.NodeProto, features: int, outputs: list[onnx.ValueInfoProto]
              ) -> onnx.ModelProto:
    graph = helper.make_graph([node], "ml", [helper.make_tensor_value_info(
        "X", TensorProto.FLOAT, [None, features])], outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("ai.onnx.ml", 3)])


def test_logistic_regression_counts_its_coefficients(tmp_path: Path) -> None:
    # what skl2onnx writes for LogisticRegression: a LinearClassifier with the weights inline
    rng = np.random.default_rng(0)
    coef, intercept = rng.standard_normal((3, 4)), rng.standard_normal(3)
    node = helper.make_node("LinearClassifier", ["X"], ["label", "probabilities"],
                            domain="ai.onnx.ml", coefficients=coef.ravel().tolist(),
                            intercepts=intercept.tolist(), classlabels_ints=[0, 1, 2],
                            multi_class=1, post_transform="SOFTMAX")
    model = _ml_model(node, 4, [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                                helper.make_tensor_value_info("probabilities",
                                                              TensorProto.FLOAT, [None, 3])])
    onnx.checker.check_model(model)
    info = onnx_reader.inspect(_save(model, tmp_path / "logreg.onnx"), "logreg.onnx")
    assert info.params == coef.size + intercept.size == 15
    assert info.bytes_by_dtype == {"float32": 4 * 15}
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "logreg.onnx"))
    assert session.run(None, {"X": np.ones((2, 4), np.float32)})[1].shape == (2, 3)


def test_tree_ensemble_counts_thresholds_and_leaf_weights(tmp_path: Path) -> None:
    # one tree of depth 1: a split on feature 0 and two leaves
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0.0, 0.0],
        nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
        target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
        target_weights=[-1.0, 1.0], base_values=[0.25])
    model = _ml_model(node, 2, [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                              [None, 1])])
    onnx.checker.check_model(model)
    info = onnx_reader.inspect(_save(model, tmp_path / "tree.onnx"), "tree.onnx")
    assert info.params == 3 + 2 + 1  # nodes_values, target_weights, base_values


def test_svm_counts_support_vectors(tmp_path: Path) -> None:
    sv = np.arange(10, dtype=np.float32).reshape(5, 2)
    node = helper.make_node("SVMRegressor", ["X"], ["Y"], domain="ai.onnx.ml",
                            support_vectors=sv.ravel().tolist(), coefficients=[0.1] * 5,
                            rho=[0.3], n_supports=5, kernel_type="RBF",
                            kernel_params=[0.5, 0.0, 3.0])
    model = _ml_model(node, 2, [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                              [None, 1])])
    info = onnx_reader.inspect(_save(model, tmp_path / "svm.onnx"), "svm.onnx")
    assert info.params == sv.size + 5 + 1 + 3
