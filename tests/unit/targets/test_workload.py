"""FLOPs, bytes and activation memory counted from onnx.helper graphs and LLM configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dataclasses import replace

import onnx
import pytest
from onnx import TensorProto, helper

from deploygate.artifacts.base import TensorSpec
from deploygate.manifest.model import InputSpec, LatencySpec
from deploygate.artifacts.llm import UNKNOWN_CONTEXT_TOKENS
from deploygate.targets.workload import (
    batch_size,
    llm_workload,
    onnx_workload,
    pinned_shapes,
)
from tests.fixtures import workload_models as onnx_models
from tests.fixtures.factories import LLAMA_7B_PARAMS, llm_7b_fp16, small_onnx


def test_mlp_counts_matmuls_and_elementwise(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(width=256, depth=2), tmp_path / "mlp.onnx")
    w = onnx_workload(path, {"x": [4, 256]})
    matmuls = 2 * (2 * 4 * 256 * 256)
    elementwise = 2 * 2 * 4 * 256  # Add and Relu per layer, one FLOP per element
    assert w.flops == matmuls + elementwise
    assert w.weights_bytes == 2 * (256 * 256 + 256) * 4
    assert w.coverage == 1.0
    # Live set peaks with two [4, 256] fp32 tensors alive (producer and consumer).
    assert w.activation_bytes == 2 * 4 * 256 * 4
    assert w.bytes_moved > w.weights_bytes


def test_symbolic_batch_unpinned_counts_nothing_and_says_so(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(), tmp_path / "mlp.onnx")
    w = onnx_workload(path)
    assert w.coverage == 0.0 and w.flops == 0.0
    assert w.uncounted_ops == ()  # the ops have cost models; only shapes were missing


def test_flops_scale_with_the_pinned_batch(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(), tmp_path / "mlp.onnx")
    assert onnx_workload(path, {"x": [8, 256]}).flops == 8 * onnx_workload(path, {"x": [1, 256]}).flops


def test_conv_and_pooling(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.conv(batch=1, size=32), tmp_path / "conv.onnx")
    w = onnx_workload(path)
    conv = 2 * (8 * 32 * 32) * (3 * 3 * 3)
    maxpool = (8 * 16 * 16) * 4
    gap = 8 * 16 * 16
    assert w.flops == conv + maxpool + gap
    assert w.weights_bytes == 8 * 3 * 3 * 3 * 4


def test_lstm_counts_gates_per_step(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.lstm(seq=10, batch=2, inputs=16, hidden=32),
                            tmp_path / "lstm.onnx")
    w = onnx_workload(path)
    per_step = 2 * 4 * 32 * (16 + 32) + 3 * 4 * 32
    assert w.flops == 10 * 2 * per_step
    assert w.coverage == 1.0


def test_batched_matmul_attention_pair(tmp_path: Path) -> None:
    b, h, s, d = 2, 4, 16, 8
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
         helper.make_node("MatMul", ["q", "kt"], ["scores"]),
         helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
         helper.make_node("MatMul", ["p", "v"], ["y"])], "attn",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [b, h, s, d]) for n in "qkv"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, h, s, d])])
    path = onnx_models.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                            tmp_path / "attn.onnx")
    w = onnx_workload(path)
    assert w.flops == 2 * (2 * b * h * s * s * d) + 5 * b * h * s * s


def test_unknown_op_is_listed_and_lowers_coverage(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Mystery", ["r"], ["y"], domain="example.custom")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("example.custom", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save_model(model, str(path))
    w = onnx_workload(path)
    assert w.uncounted_ops == ("example.custom.Mystery",)
    assert w.coverage == 0.5 and w.flops == 8


def test_weights_in_external_data_are_counted_without_loading_them(tmp_path: Path) -> None:
    model = onnx_models.mlp(batch=1, width=64, depth=1)
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").write_bytes(b"")  # never read: only the graph's dims are used
    w = onnx_workload(tmp_path / "ext.onnx")
    assert w.weights_bytes == (64 * 64 + 64) * 4


def test_examples_detector_counts_fully() -> None:
    path = Path(__file__).resolve().parents[3] / "examples" / "edge-detector" / "models" / "detector.onnx"
    w = onnx_workload(path, {"image": [1, 3, 224, 224]})
    assert w.coverage == 1.0
    assert 90e6 < w.flops < 110e6  # four strided 3x3 convs on 224x224: ~98 MFLOPs
    assert w.weights_bytes == pytest.approx(path.stat().st_size, rel=0.01)


def test_pinned_shapes_from_the_manifest() -> None:
    art = small_onnx(inputs=(TensorSpec("x", "float32", ("batch", 3, "h", "h")),
                             TensorSpec("ids", "int64", (1, None))))
    spec = LatencySpec(dims={"batch": 2, "h": 64}, inputs={"ids": InputSpec(shape=(1, 7))})
    shapes, assumed = pinned_shapes(art, spec)
    assert shapes == {"x": [2, 3, 64, 64], "ids": [1, 7]}
    assert assumed == ()
    shapes, assumed = pinned_shapes(art, None)
    assert shapes["x"] == [1, 3, 1, 1] and assumed == ("batch = 1", "h = 1", "ids[1] = 1")
    assert batch_size(art, spec, shapes) == 2
    assert batch_size(art, None, {"x": [4, 3, 8, 8]}) == 4
    assert batch_size(art, None) == 1


def test_llm_decode_per_token() -> None:
    art = llm_7b_fp16()
    shape = art.llm
    assert shape is not None and shape.head_dim == 128 and shape.context == 4096
    w = llm_workload(art, shape)
    assert w.per == "token"
    assert w.kv_cache_bytes == 2 * 32 * 32 * 128 * 2 * 4096
    assert w.bytes_moved == art.weights_bytes + w.kv_cache_bytes
    attention = 4 * 32 * 32 * 128 * 4096  # q.k and p.v over the context, every layer and head
    assert w.flops == 2 * LLAMA_7B_PARAMS + attention
    assert w.prefill_flops == 2 * LLAMA_7B_PARAMS * 4096


def test_llm_gqa_and_full_context_without_serving() -> None:
    """No serving block: the KV cache is sized at the model's whole maximum context, no cap
    (a 128k-token model serves 128k tokens unless serving.context_tokens says less)."""
    art = llm_7b_fp16()
    details = dict(art.details, num_key_value_heads=8, max_position_embeddings=131072,
                   torch_dtype="bfloat16")
    long = replace(art, details=details)
    shape = long.llm
    assert shape is not None and shape.kv_heads == 8 and shape.context == 131072
    assert shape.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    w = llm_workload(long, shape)
    assert w.kv_cache_bytes == shape.kv_bytes_per_token * 131072
    assert "the model's maximum" in w.assumptions[0]


def test_llm_unknown_context_is_assumed_and_said() -> None:
    art = llm_7b_fp16()
    details = {k: v for k, v in art.details.items() if k != "max_position_embeddings"}
    shape = replace(art, details=details).llm
    assert shape is not None and shape.max_context == 0
    assert shape.context == UNKNOWN_CONTEXT_TOKENS
    w = llm_workload(art, shape)
    assert f"{UNKNOWN_CONTEXT_TOKENS} assumed" in w.assumptions[0]


def test_llm_shape_from_gguf_metadata() -> None:
    art = llm_7b_fp16()
    gguf = replace(art, format="gguf", bytes_by_dtype={"q4_0": 3_800_000_000},
                   details={"architecture": "llama", "context_length": 2048, "block_count": 32,
                            "embedding_length": 4096, "head_count": 32, "head_count_kv": 32})
    shape = gguf.llm
    assert shape is not None and shape.context == 2048 and shape.kv_dtype_bytes == 2


def test_no_llm_config_no_shape() -> None:
    assert small_onnx().llm is None


def test_if_counts_its_costliest_branch(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.branchy(width=64, heavy=3), tmp_path / "if.onnx")
    w = onnx_workload(path)
    assert w.flops == 3 * 2 * 64 * 64  # the three-MatMul branch, not the one-MatMul branch
    assert w.coverage == 1.0
    assert any("costlier branch counted" in a for a in w.assumptions)


def test_loop_counts_its_body_times_a_constant_trip_count(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.looped(trips=5), tmp_path / "loop.onnx")
    w = onnx_workload(path)
    assert w.flops == 5 * 2 * 64 * 64
    assert any("x 5 trips" in a for a in w.assumptions)


def test_loop_with_unknown_trip_count_counts_once_and_says_so(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.looped(trips=None), tmp_path / "loop.onnx")
    w = onnx_workload(path)
    assert w.flops == 2 * 64 * 64
    assert w.coverage < 1.0
    assert any("trip count unknown" in a for a in w.assumptions)


def test_a_fused_engine_folds_elementwise_ops_into_their_kernels(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(width=256, depth=2), tmp_path / "mlp.onnx")
    w = onnx_workload(path, {"x": [4, 256]})
    # Two MatMul kernels; the Adds, Relus and the Identity ride along with them.
    assert len(w.kernels) == 2
    assert all(k.flops == 2 * 4 * 256 * 256 for k in w.kernels)
    assert all(k.activations == 2 * 4 * 256 and k.weights == 256 * 256 for k in w.kernels)
    assert not w.quantized


def test_attention_is_one_kernel_whose_scores_never_reach_memory(tmp_path: Path) -> None:
    seq, width = 64, 32
    path = onnx_models.save(onnx_models.attention(seq, width), tmp_path / "attn.onnx")
    w = onnx_workload(path)
    (fused,) = [k for k in w.kernels if k.attention]
    assert fused.flops >= 2 * (2 * seq * seq * width)  # q.k and p.v
    # q, k^T, v and the output travel; the seq x seq score matrix does not.
    assert fused.activations == 4 * seq * width
    assert len(w.kernels) == 5  # q, k, v and output projections + the attention kernel


def test_a_qdq_graph_is_quantized_and_its_dequantized_weights_are_weights(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["wq", "s"], ["w"]),
         helper.make_node("QuantizeLinear", ["x", "s"], ["xq"]),
         helper.make_node("DequantizeLinear", ["xq", "s"], ["xd"]),
         helper.make_node("MatMul", ["xd", "w"], ["y"])], "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        [onnx.numpy_helper.from_array(np.zeros((64, 64), dtype=np.int8), "wq"),
         onnx.numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    w = onnx_workload(onnx_models.save(model, tmp_path / "qdq.onnx"))
    assert w.quantized
    (kernel,) = w.kernels  # Q/DQ folded: one MatMul reading int8 weights
    assert kernel.weights == 64 * 64 and kernel.activations == 2 * 64


def test_two_softmaxes_sharing_one_score_matmul_are_counted_once(tmp_path: Path) -> None:
    # A hostile (or merely odd) graph: one q.k feeds two softmax -> p.v chains.
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["q", "kt"], ["s"]),
         helper.make_node("Softmax", ["s"], ["p1"], axis=-1),
         helper.make_node("Softmax", ["s"], ["p2"], axis=-1),
         helper.make_node("MatMul", ["p1", "v"], ["y1"]),
         helper.make_node("MatMul", ["p2", "v"], ["y2"])], "shared",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)
         for n, shape in (("q", [1, 8, 4]), ("kt", [1, 4, 8]), ("v", [1, 8, 4]))],
        [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [1, 8, 4]),
         helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 8, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    w = onnx_workload(onnx_models.save(model, tmp_path / "shared.onnx"))
    assert sum(k.attention for k in w.kernels) == 1
    assert len(w.kernels) == 3  # one attention kernel, the second softmax and its p.v
    assert sum(k.flops for k in w.kernels) == pytest.approx(w.flops)


def test_dims_no_machine_could_hold_are_unknown_not_an_overflow(tmp_path: Path) -> None:
    dims = [2**62] * 20  # multiplies past the float range
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    w = onnx_workload(onnx_models.save(model, tmp_path / "huge.onnx"))
    assert w.coverage == 0.0 and w.flops == 0.0


def test_an_external_trip_count_is_never_read(tmp_path: Path) -> None:
    model = onnx_models.looped(trips=5)
    (trips,) = [t for t in model.graph.initializer if t.name == "trips"]
    trips.ClearField("raw_data")
    trips.ClearField("int64_data")
    trips.data_location = onnx.TensorProto.EXTERNAL
    entry = trips.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    path = tmp_path / "loop.onnx"
    onnx.save_model(model, str(path))
    w = onnx_workload(path)
    assert any("trip count unknown" in a for a in w.assumptions)


def test_estimates_use_the_image_size_the_model_states(tmp_path: Path) -> None:
    """With no probe, an export's metadata imgsz sizes the estimate's image, said as such."""
    from deploygate.artifacts import inspect_artifact
    from tests.fixtures import probe_models

    path = probe_models.image_model(tmp_path / "m.onnx", {"imgsz": "[24, 40]"},
                                    ("height", "width"))
    art = inspect_artifact(path, display="m.onnx")
    shapes, notes = pinned_shapes(art, None)
    assert shapes == {"image": [1, 3, 24, 40]}
    assert notes == ("batch = 1", "height = 24 (model metadata imgsz)",
                     "width = 40 (model metadata imgsz)")
    shapes, _ = pinned_shapes(art, LatencySpec(dims={"height": 8, "width": 8}))
    assert shapes == {"image": [1, 3, 8, 8]}
