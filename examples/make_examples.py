"""Regenerate the example model repositories' artifacts (deterministic; run from anywhere).

    python examples/make_examples.py

edge-detector/models/detector.onnx   a small conv net (weights as Constant nodes, symbolic batch)
classifier-too-big/models/           a sharded safetensors checkpoint over its declared limits
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(0)


def _weights(name: str, *shape: int) -> tuple[onnx.NodeProto, np.ndarray]:
    array = (RNG.standard_normal(shape) * 0.05).astype(np.float32)
    node = helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))
    return node, array


def make_detector(path: Path) -> None:
    """A 4-stage conv net on 1x3x224x224 images, weights in Constant nodes (as torch exports)."""
    nodes, channels, previous = [], [3, 16, 32, 64, 128], "image"
    for i, (cin, cout) in enumerate(zip(channels, channels[1:], strict=False)):
        w, _ = _weights(f"conv{i}.weight", cout, cin, 3, 3)
        b, _ = _weights(f"conv{i}.bias", cout)
        nodes += [w, b,
                  helper.make_node("Conv", [previous, w.output[0], b.output[0]], [f"conv{i}"],
                                   pads=[1, 1, 1, 1], strides=[2, 2]),
                  helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"])]
        previous = f"relu{i}"
    fc_w, _ = _weights("head.weight", 10, 128)
    fc_b, _ = _weights("head.bias", 10)
    nodes += [helper.make_node("GlobalAveragePool", [previous], ["pool"]),
              helper.make_node("Flatten", ["pool"], ["flat"]),
              fc_w, fc_b,
              helper.make_node("Gemm", ["flat", "head.weight", "head.bias"], ["scores"], transB=1)]
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 10])])
    # IR version 8 (opset 17's own), not the newest this onnx writes: every onnxruntime
    # deploygate supports (1.17 on) reads it, onnxruntime-gpu releases included.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="deploygate-examples", ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))


def make_classifier(folder: Path) -> None:
    """A 2-shard safetensors checkpoint (fp16, ~1.6M params) with its index and config."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = {f"encoder.layer.{i}.{kind}": RNG.standard_normal(shape).astype(np.float16)
              for i in range(4) for kind, shape in (("weight", (384, 384)), ("bias", (384,)))}
    layers["classifier.weight"] = RNG.standard_normal((1000, 384)).astype(np.float16)
    names = sorted(layers)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: layers[k] for k in keys}, str(folder / shard))
        weight_map.update({k: shard for k in keys})
    total = sum(a.nbytes for a in layers.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    (folder / "config.json").write_text(json.dumps(
        {"architectures": ["TinyClassifier"], "model_type": "bert", "hidden_size": 384,
         "num_hidden_layers": 4, "torch_dtype": "float16"}, indent=2) + "\n")


if __name__ == "__main__":
    make_detector(HERE / "edge-detector" / "models" / "detector.onnx")
    make_classifier(HERE / "classifier-too-big" / "models" / "classifier")
    print("examples regenerated")
