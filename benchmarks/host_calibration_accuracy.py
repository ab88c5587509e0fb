"""How far the roofline estimate is from a measurement: the host predicted as if it were a target.

    PYTHONPATH=. python benchmarks/host_calibration_accuracy.py

For the example models and a few onnx.helper-built models of different shapes, it measures the
host's latency (a bare onnxruntime loop: several rounds, the median of round medians) and
compares it with three predictions made from the host's own microbenchmarked peaks:

* peak      the roofline at 100% of peak: the floor no run can beat;
* fit       no host measurement: the onnxruntime/fp32 path fitted to the published rows
            (calibration.json: Raspberry Pi figures; what `advise --no-probe` shows for a CPU);
* loo       calibrated with the efficiency measured on the *other* models (their geometric
            mean, leave-one-out): a proxy for carrying one measurement's efficiency to a
            different workload, the step every calibrated target estimate takes.

ratio = measured / predicted (1.0 is exact; 2.0 means the estimate was twice too optimistic).
The band deploygate reports is x0.5-x2 host-calibrated, and the fitted path's own band
(calibration.json) without a host measurement.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _timing import time_loop  # noqa: E402
from deploygate.host import usable_cores  # noqa: E402
from deploygate.manifest.model import Device  # noqa: E402
from deploygate.targets.calibrate import measure_host_peaks  # noqa: E402
from deploygate.targets.estimate import estimate_target  # noqa: E402
from deploygate.targets.workload import Workload, onnx_workload  # noqa: E402

ROUNDS = 5
RUN_S = 0.4  # per round
RNG = np.random.default_rng(0)


def _init(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.05).astype(np.float32), name)


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], inits: list[onnx.TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "bench", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlp(batch: int, width: int, depth: int) -> onnx.ModelProto:
    """MatMul + Add + Relu layers: compute-bound at large batch, memory-bound at batch 1."""
    nodes, inits, prev = [], [], "x"
    for i in range(depth):
        inits += [_init(f"w{i}", width, width), _init(f"b{i}", width)]
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"h{i}"])]
        prev = f"h{i}"
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
                  [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [batch, width])], inits)


def convnet(size: int, channels: int) -> onnx.ModelProto:
    """Three 3x3 convs (stride 1) with ReLU on a [1, 3, size, size] image."""
    nodes, inits, prev, cin = [], [], "x", 3
    for i in range(3):
        inits.append(_init(f"w{i}", channels, cin, 3, 3))
        nodes += [helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        prev, cin = f"r{i}", channels
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                  [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], inits)


def lstm(seq: int, batch: int, hidden: int) -> onnx.ModelProto:
    """One LSTM layer: sequential, small GEMMs."""
    return _model([helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=hidden)],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, hidden])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                  [_init("W", 1, 4 * hidden, hidden), _init("R", 1, 4 * hidden, hidden)])


def measure(path: Path, shapes: dict[str, list[int]], threads: int) -> float:
    """Median of round medians of a bare onnxruntime loop, in ms."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {i.name: RNG.random(shapes[i.name], dtype=np.float32) for i in session.get_inputs()}
    medians = [time_loop(lambda: session.run(None, feed), 5 if i == 0 else 0, RUN_S)
               for i in range(ROUNDS)]
    return statistics.median(medians)


def cases(tmp: Path) -> list[tuple[str, Path, dict[str, list[int]]]]:
    """(name, model file, input shapes) for every model measured."""
    out = []
    for path in sorted(ROOT.glob("examples/*/models/**/*.onnx")):
        out.append((f"example:{path.stem}", path, {"image": [1, 3, 224, 224]}))
    built = {
        "mlp b1 w1024 x4": (mlp(1, 1024, 4), {"x": [1, 1024]}),
        "mlp b64 w1024 x4": (mlp(64, 1024, 4), {"x": [64, 1024]}),
        "conv 128px 32ch": (convnet(128, 32), {"x": [1, 3, 128, 128]}),
        "lstm s64 b4 h256": (lstm(64, 4, 256), {"x": [64, 4, 256]}),
    }
    for name, (model, shapes) in built.items():
        path = tmp / (name.replace(" ", "_") + ".onnx")
        onnx.save_model(model, str(path))
        out.append((name, path, shapes))
    return out


def main() -> None:
    """Measure, predict and print the ratios."""
    threads = usable_cores()  # what the probe would run: affinity and cgroup quota
    peaks = measure_host_peaks()
    host = Device("host", "edge", memory=2**40, memory_bandwidth=peaks.bandwidth,
                  compute=peaks.flops, cores=threads, compute_precision="fp32")
    print(f"host: {peaks.cpu}, {threads} threads, peak {peaks.flops / 1e9:.1f} GFLOPS (numpy "
          f"matmul), {peaks.bandwidth / 1e9:.1f} GB/s (copy), onnxruntime {ort.__version__}")
    rows: list[tuple[str, Workload, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, shapes in cases(Path(tmp)):
            rows.append((name, onnx_workload(path, shapes), measure(path, shapes, threads)))
    eff = {name: (w.flops / peaks.flops) / (ms / 1000) for name, w, ms in rows}
    print(f"\n{'model':<22}{'MFLOP':>9}{'MB moved':>10}{'measured':>10}{'eff':>7}"
          f"{'peak':>14}{'fit':>14}{'loo':>14}")
    print(f"{'':<22}{'':>9}{'':>10}{'ms':>10}{'':>7}{'ms (ratio)':>14}{'ms (ratio)':>14}"
          f"{'ms (ratio)':>14}")
    log_errors: dict[str, list[float]] = {"peak": [], "fit": [], "loo": []}
    for name, w, ms in rows:
        others = [e for n, e in eff.items() if n != name]
        loo_eff = math.exp(statistics.fmean(math.log(e) for e in others))
        # Predicting with efficiency e is calibrating on a run that took flops/(peak*e).
        loo_ms = (w.flops / (peaks.flops * loo_eff)) * 1000
        preds = {
            "peak": estimate_target(w, host, measured_ms=w.flops / peaks.flops * 1000,
                                    host=peaks, threads=threads),
            "fit": estimate_target(w, host),
            "loo": estimate_target(w, host, measured_ms=loo_ms, host=peaks, threads=threads),
        }
        cells = []
        for key, est in preds.items():
            assert est is not None
            ratio = ms / est.ms
            log_errors[key].append(abs(math.log(ratio)))
            cells.append(f"{est.ms:8.3g} ({ratio:4.2g})")
        print(f"{name:<22}{w.flops / 1e6:9.1f}{w.bytes_moved / 1e6:10.2f}{ms:10.3g}"
              f"{eff[name]:7.1%}" + "".join(f"{c:>14}" for c in cells))
    print("\ngeometric-mean error factor (1.0 = exact):  " + "  ".join(
        f"{k} x{math.exp(statistics.fmean(v)):.2f}" for k, v in log_errors.items()))


if __name__ == "__main__":
    main()
