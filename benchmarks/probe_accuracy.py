"""How far the probe's p50 is from a bare onnxruntime timing loop on the same model.

Run from the repository root (deploygate need not be installed):

    python benchmarks/probe_accuracy.py                  # two small built-in models
    python benchmarks/probe_accuracy.py model.onnx --dim batch=1 --rounds 7 --seconds 2

Each round times the probe (child process, its own session) and then a bare loop in this
process (a fresh session with the same threads, the same inputs, ``session.run`` between two
``perf_counter_ns`` calls), alternating so that drift of the host hits both alike. It prints
each side's median p50 over the rounds and their ratio; the target is within ±10%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from deploygate.manifest.model import LatencySpec  # noqa: E402
from deploygate.probe import parse_dim_option, probe_latency  # noqa: E402
from deploygate.probe.inputs import load_signature, synthesize_inputs  # noqa: E402

TARGET = 0.10
"""Largest relative difference of the medians counted as agreement."""


def build_mlp(path: Path, width: int = 512, layers: int = 4) -> Path:
    """A batch-8 MLP (MatMul + Relu) with weights in Constant nodes."""
    rng = np.random.default_rng(0)
    nodes, last = [], "x"
    for i in range(layers):
        weight = (rng.standard_normal((width, width)) / width ** 0.5).astype(np.float32)
        nodes.append(helper.make_node("Constant", [], [f"w{i}"],
                                      value=numpy_helper.from_array(weight, f"w{i}_v")))
        nodes.append(helper.make_node("MatMul", [last, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [f"r{i}"]))
        last = f"r{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", width])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["rows", width])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def build_convnet(path: Path) -> Path:
    """Two 3x3 convolutions on a [batch, 3, h, w] image, weights in Constant nodes."""
    rng = np.random.default_rng(0)
    nodes = []
    channels = [3, 16, 16]
    last = "image"
    for i in range(2):
        weight = rng.standard_normal((channels[i + 1], channels[i], 3, 3)).astype(np.float32)
        nodes.append(helper.make_node("Constant", [], [f"w{i}"],
                                      value=numpy_helper.from_array(weight * 0.1, f"w{i}_v")))
        nodes.append(helper.make_node("Conv", [last, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        last = f"r{i}"
    graph = helper.make_graph(
        nodes, "convnet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["batch", 16, "h", "w"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def bare_p50(model: Path, feeds: dict[str, np.ndarray], threads: int, warmup: int,
             seconds: float) -> float:
    """Median ms of a plain timing loop on a fresh session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while True:
        start = time.perf_counter_ns()
        session.run(None, feeds)
        stop = time.perf_counter_ns()
        samples.append(stop - start)
        if stop >= end and len(samples) >= 10:
            break
    return statistics.median(samples) / 1e6


def compare(model: Path, spec: LatencySpec, threads: int, rounds: int) -> float:
    """Print one model's rounds and medians; return probe/bare."""
    signature = load_signature(model)
    feeds = synthesize_inputs(signature, spec, root=model.parent, base_dir=model.parent)
    shapes = {name: list(a.shape) for name, a in feeds.items()}
    print(f"{model.name}: inputs {shapes}, threads {threads}, {rounds} rounds of "
          f"{spec.max_time_s:g} s each side")
    probe_runs, bare_runs = [], []
    for i in range(rounds):
        result = probe_latency(model, spec, threads=threads, root=model.parent,
                               base_dir=model.parent, display=model.name)
        bare = bare_p50(model, feeds, threads, spec.warmup, spec.max_time_s)
        probe_runs.append(result.p50_ms)
        bare_runs.append(bare)
        print(f"  round {i + 1}: probe p50 {result.p50_ms:.4f} ms ({result.runs} runs)   "
              f"bare p50 {bare:.4f} ms")
    probe_median, bare_median = statistics.median(probe_runs), statistics.median(bare_runs)
    ratio = probe_median / bare_median
    verdict = "within" if abs(ratio - 1) <= TARGET else "OUTSIDE"
    print(f"  median p50: probe {probe_median:.4f} ms, bare {bare_median:.4f} ms, "
          f"ratio {ratio:.3f} ({verdict} ±{TARGET:.0%})")
    return ratio


def main(argv: list[str] | None = None) -> int:
    """Compare the probe with a bare loop on the given models, or on two built-in ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="ONNX files (default: built-in)")
    parser.add_argument("--dim", action="append", default=[], help="NAME=SIZE, repeatable")
    # One thread by default: on a shared CI host, several threads add scheduler noise that
    # swamps the few percent this benchmark looks for.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per side per round")
    args = parser.parse_args(argv)

    dims = dict(parse_dim_option(d) for d in args.dim)
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.models or [build_mlp(Path(tmp) / "mlp.onnx"),
                                build_convnet(Path(tmp) / "convnet.onnx")]
        if not args.models:
            # the MLP at 8 rows; the convnet's symbolic image pinned to 1x3x640x640
            dims.setdefault("rows", 8)
            dims.setdefault("batch", 1)
            dims.setdefault("h", 640)
            dims.setdefault("w", 640)
        spec = LatencySpec(dims=dims, warmup=5, max_time_s=args.seconds, timeout_s=120)
        print(f"onnxruntime {ort.__version__}, python {sys.version.split()[0]}")
        ratios = [compare(p.resolve(), spec, args.threads, args.rounds) for p in paths]
    return 0 if all(abs(r - 1) <= TARGET for r in ratios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
