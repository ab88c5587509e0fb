"""Peak memory of `deploygate check --no-probe` and `inspect` on a large inline ONNX model.

The model keeps its weights inside the .onnx file (no external data), so whatever parses it
holds them. Target: check --no-probe peaks within 2.5x the file size. The baseline measured in
the same run is the interpreter with deploygate's CLI, onnx and numpy imported (what any run
costs before it reads a byte of the model).

    python benchmarks/onnx_memory.py [--mib 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import peak_rss  # noqa: E402

MANIFEST = """\
version: 1
models:
  - name: big
    path: big.onnx
    target: {kind: cloud, device: aws-g5.xlarge}
    limits: {max_size: 2GB}
    latency: {budget_ms: 1000, dims: {batch: 1}}
"""


def write_model(path: Path, mib: int) -> int:
    """An MLP of square float32 MatMuls whose weights, inline, add up to about ``mib`` MiB."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width = 2048  # one 2048x2048 float32 matrix is 16 MiB
    layers = max(1, mib // 16)
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "x"
    for i in range(layers):
        w = rng.standard_normal((width, width), dtype=np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"h{i}"]))
        nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
        x = f"r{i}"
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / ".git").mkdir()  # the repository root the manifest's paths stay inside
        size = write_model(folder / "big.onnx", args.mib)
        (folder / "deploy-constraints.yaml").write_text(MANIFEST)
        cli = [sys.executable, "-m", "deploygate"]
        baseline = peak_rss([sys.executable, "-c", "import deploygate.cli, onnx, numpy"])
        check = peak_rss([*cli, "check", "--no-probe", "--format", "json",
                          "--manifest", str(folder / "deploy-constraints.yaml")])
        inspect = peak_rss([*cli, "inspect", str(folder / "big.onnx")])
        # The same check once more, its report kept: the graph was still analysed.
        report = json.loads(subprocess.run(
            [*cli, "check", "--no-probe", "--format", "json", "--manifest",
             str(folder / "deploy-constraints.yaml")], capture_output=True, text=True).stdout)
        workload = report["models"][0]["estimates"]["workload"]
    mib = 1 << 20
    print(f"model file: {size / mib:.0f} MiB inline ONNX")
    print(f"baseline (imports only): {baseline / mib:.0f} MiB")
    for name, peak in (("check --no-probe", check), ("inspect", inspect)):
        print(f"{name}: peak {peak / mib:.0f} MiB = {peak / size:.2f}x the file, "
              f"{(peak - baseline) / size:.2f}x above the baseline")
    print(f"check's workload: {workload['flops']:.3g} FLOPs, coverage {workload['coverage']:.0%}")
    print(f"target: check --no-probe <= 2.50x the file -> {'met' if check <= 2.5 * size else 'MISSED'}")


if __name__ == "__main__":
    main()
