"""How far the probe's p50 is from a bare timing loop of the same runtime on the same model.

Run from the repository root (deploygate need not be installed):

    python benchmarks/probe_accuracy.py                  # every backend's built-in models
    python benchmarks/probe_accuracy.py --backend litert --rounds 7 --seconds 2
    python benchmarks/probe_accuracy.py model.onnx --dim batch=1 --rounds 7 --seconds 2

Each round times the probe (child process, its own session) and then a bare loop in this
process (a fresh session with the same threads and the same inputs, the runtime's call between
two ``perf_counter_ns`` calls), alternating so that drift of the host hits both alike. It prints
each side's median p50 over the rounds and their ratio; the target is within ±10%.

* onnxruntime: an 8x512 MLP and a two-convolution net (built here); ``session.run``.
* LiteRT (``[litert]``): MediaPipe's face detector from the corpus cache
  (``python benchmarks/backend_models.py fetch``), else a dense model built here; ``invoke()``.
* llama.cpp (``[llama]``): a 4-layer, 256-wide llama over llama.cpp's vocabulary from the corpus
  cache; one run is one decode step (evaluate the last token, sample greedily), as the probe
  times it; time to first token is printed beside it.

A backend whose runtime or model is missing here is skipped, and says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from _timing import time_loop  # noqa: E402
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
    return time_loop(lambda: session.run(None, feeds), warmup, seconds)


def compare(model: Path, spec: LatencySpec, threads: int, rounds: int) -> float:
    """Print one ONNX model's rounds and medians; return probe/bare."""
    signature = load_signature(model)
    feeds = synthesize_inputs(signature, spec, root=model.parent, base_dir=model.parent)
    shapes = {name: list(a.shape) for name, a in feeds.items()}
    print(f"{model.name} (onnxruntime): inputs {shapes}, threads {threads}, {rounds} rounds of "
          f"{spec.max_time_s:g} s each side")
    return alternate(model, spec, threads, rounds, "onnx",
                     lambda: bare_p50(model, feeds, threads, spec.warmup, spec.max_time_s))


def alternate(model: Path, spec: LatencySpec, threads: int, rounds: int, fmt: str,
              bare: Callable[[], float]) -> float:
    """Probe and bare loop in turn for ``rounds``; print the medians and return probe/bare."""
    probe_runs, bare_runs = [], []
    for i in range(rounds):
        result = probe_latency(model, spec, threads=threads, root=model.parent,
                               base_dir=model.parent, display=model.name, fmt=fmt)
        bare_ms = bare()
        probe_runs.append(result.p50_ms)
        bare_runs.append(bare_ms)
        extra = (f"   (probe ttft p50 {result.ttft.p50_ms:.2f} ms, "
                 f"{result.tokens_per_s or 0:.0f} tokens/s)" if result.ttft else "")
        print(f"  round {i + 1}: probe p50 {result.p50_ms:.4f} ms ({result.runs} runs)   "
              f"bare p50 {bare_ms:.4f} ms{extra}")
    probe_median, bare_median = statistics.median(probe_runs), statistics.median(bare_runs)
    ratio = probe_median / bare_median
    verdict = "within" if abs(ratio - 1) <= TARGET else "OUTSIDE"
    print(f"  median p50: probe {probe_median:.4f} ms, bare {bare_median:.4f} ms, "
          f"ratio {ratio:.3f} ({verdict} ±{TARGET:.0%})")
    return ratio


def compare_litert(tmp: Path, threads: int, rounds: int, seconds: float) -> float | None:
    """The LiteRT backend against a bare ``invoke()`` loop; None when LiteRT is missing."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        print("litert: skipped (pip install 'deploygate[litert]')")
        return None
    from deploygate.probe.backends.litert import input_signature

    pins = _backend_models()
    model = pins.cached(pins.FACE_DETECTION)
    if model is None:
        from tests.fixtures.tflite_models import dense_model

        print("litert: MediaPipe's face detector is not cached; using a 512x512 dense model")
        model = dense_model(tmp / "dense.tflite", inputs=512, outputs=512)
    spec = LatencySpec(warmup=5, max_time_s=seconds, timeout_s=120)

    def bare() -> float:
        interpreter = Interpreter(model_path=str(model), num_threads=threads,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN)
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()
        feeds = synthesize_inputs(input_signature(details), spec, root=tmp, base_dir=tmp)
        for d in details:
            interpreter.set_tensor(d["index"], feeds[d["name"]])
        return time_loop(interpreter.invoke, spec.warmup, seconds)

    print(f"{model.name} (litert): threads {threads}, {rounds} rounds of {seconds:g} s each side")
    return alternate(model, spec, threads, rounds, "tflite", bare)


def compare_llama(tmp: Path, threads: int, rounds: int, seconds: float) -> float | None:
    """The llama.cpp backend's per-token p50 against a bare decode loop; None when missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        print("llama.cpp: skipped (pip install 'deploygate[llama]')")
        return None
    from tests.fixtures.gguf_models import tiny_llama

    pins = _backend_models()
    vocab = pins.cached(pins.LLAMA_VOCAB)
    if vocab is None:
        print("llama.cpp: skipped (python benchmarks/backend_models.py fetch)")
        return None
    model = tiny_llama(tmp / "llama-4x256.gguf", vocab, embd=256, layers=4, heads=8,
                       kv_heads=4, ff=768)
    spec = LatencySpec(warmup=1, max_time_s=seconds, timeout_s=300, prompt_tokens=128,
                       new_tokens=64)

    def bare() -> float:
        # In a fresh process, as the probe's child is, so that no model this process loaded
        # before shares its memory or its garbage.
        done = subprocess.run([sys.executable, __file__, "--bare-llama", str(model),
                               str(threads), str(seconds)], capture_output=True, text=True,
                              timeout=600, check=True)
        return float(done.stdout.split()[-1])

    print(f"{model.name} (llama.cpp, per decoded token): threads {threads}, {rounds} rounds of "
          f"{seconds:g} s each side")
    return alternate(model, spec, threads, rounds, "gguf", bare)


def bare_llama(model: Path, threads: int, seconds: float, prompt_count: int = 128,
               new_tokens: int = 64) -> float:
    """Median ms of a bare llama.cpp decode step: the probe's settings, timed in a plain loop."""
    import llama_cpp

    from deploygate.probe.backends.llama import prompt_tokens

    llm: Any = llama_cpp.Llama(model_path=str(model), n_gpu_layers=0,
                               n_ctx=prompt_count + new_tokens, n_batch=prompt_count,
                               n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)
    prompt = prompt_tokens(llm, prompt_count)
    steps: list[int] = []

    def generate(keep: bool) -> None:
        llm.reset()
        llm.eval(prompt)
        token = llm.sample(temp=0.0)
        for _ in range(new_tokens - 1):
            start = time.perf_counter_ns()
            llm.eval([token])
            token = llm.sample(temp=0.0)
            if keep:
                steps.append(time.perf_counter_ns() - start)

    generate(False)
    end = time.perf_counter_ns() + int(seconds * 1e9)
    while time.perf_counter_ns() < end or len(steps) < 3 * (new_tokens - 1):
        generate(True)
    return statistics.median(steps) / 1e6


def _backend_models() -> Any:
    sys.path.insert(0, str(Path(__file__).parent))
    import backend_models

    return backend_models


def main(argv: list[str] | None = None) -> int:
    """Compare the probe with a bare loop on the given models, or on the built-in ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="ONNX files (default: built-in)")
    parser.add_argument("--backend", choices=["onnxruntime", "litert", "llama.cpp", "all"],
                        default="all", help="which backends' built-in models (default: all)")
    parser.add_argument("--dim", action="append", default=[], help="NAME=SIZE, repeatable")
    # One thread by default: on a shared CI host, several threads add scheduler noise that
    # swamps the few percent this benchmark looks for.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per side per round")
    parser.add_argument("--bare-llama", nargs=3, metavar=("MODEL", "THREADS", "SECONDS"),
                        help=argparse.SUPPRESS)  # the llama.cpp bare loop's own process
    args = parser.parse_args(argv)
    if args.bare_llama:
        model, threads, seconds = args.bare_llama
        print(bare_llama(Path(model), int(threads), float(seconds)))
        return 0

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
        ratios: list[float | None] = []
        if args.backend in ("onnxruntime", "all") or args.models:
            ratios += [compare(p.resolve(), spec, args.threads, args.rounds) for p in paths]
        if not args.models and args.backend in ("litert", "all"):
            ratios.append(compare_litert(Path(tmp), args.threads, args.rounds, args.seconds))
        if not args.models and args.backend in ("llama.cpp", "all"):
            ratios.append(compare_llama(Path(tmp), args.threads, args.rounds, args.seconds))
    return 0 if all(abs(r - 1) <= TARGET for r in ratios if r is not None) else 1


if __name__ == "__main__":
    raise SystemExit(main())
