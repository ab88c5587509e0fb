"""Inspection cost must not grow with the weights: a 14 GB safetensors checkpoint vs a 14 MB one
with the same tensors, and an ONNX model with 4 GB vs 4 MB of external data. Sparse files make
the big ones cost no disk. Targets: big/small <= 1.3x; peak memory < 400 MB.

    python benchmarks/inspect_scaling.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, installed, median_ms, peak_rss  # noqa: E402

TENSORS = 200


def write_safetensors(path: Path, total_bytes: int) -> None:
    """A header for TENSORS fp16 tensors adding up to ``total_bytes``; the data is a hole."""
    per_tensor = total_bytes // TENSORS // 2 * 2
    header, offset = {}, 0
    for i in range(TENSORS):
        header[f"layers.{i}.weight"] = {"dtype": "F16", "shape": [per_tensor // 2],
                                        "data_offsets": [offset, offset + per_tensor]}
        offset += per_tensor
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        f.truncate(8 + len(blob) + offset)


def write_onnx_external(folder: Path, total_bytes: int) -> Path:
    """An ONNX model whose TENSORS initializers live in one sparse external-data file."""
    import onnx
    from onnx import TensorProto, helper

    per_tensor = total_bytes // TENSORS // 4 * 4
    inits, nodes, previous = [], [], "x"
    for i in range(TENSORS):
        t = onnx.TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[per_tensor // 4])
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "weights.bin"), ("offset", str(i * per_tensor)),
                           ("length", str(per_tensor))):
            t.external_data.add(key=key, value=value)
        inits.append(t)
        nodes.append(helper.make_node("Add", [previous, f"w{i}"], [f"y{i}"]))
        previous = f"y{i}"
    graph = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", 1, [per_tensor // 4])],
                              [helper.make_tensor_value_info(previous, 1, [per_tensor // 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "model.onnx"
    onnx.save_model(model, str(path))
    with (folder / "weights.bin").open("wb") as f:
        f.truncate(TENSORS * per_tensor)
    return path


def main() -> None:
    """Build the four artifacts, inspect each several times alternated, print medians and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    exe = installed("deploygate")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = {}
        for label, size in (("safetensors 14 GB", 14 * 10**9), ("safetensors 14 MB", 14 * 10**6)):
            path = root / (label.replace(" ", "_") + ".safetensors")
            write_safetensors(path, size)
            cases[label] = path
        for label, size in (("onnx external 4 GB", 4 * 10**9), ("onnx external 4 MB", 4 * 10**6)):
            folder = root / label.replace(" ", "_")
            folder.mkdir()
            cases[label] = write_onnx_external(folder, size)
        commands: dict[str, Sequence[str]] = {
            label: [exe, "inspect", "--format", "json", str(p)] for label, p in cases.items()}
        times = alternate(commands, rounds)
        peaks = {label: peak_rss(argv) for label, argv in commands.items()}
    print(f"{'artifact':<22}{'median ms':>10}{'peak MB':>9}   ({rounds} rounds, alternated)")
    for label in commands:
        print(f"{label:<22}{median_ms(times[label]):>10.1f}{peaks[label] / 1e6:>9.0f}")
    for big, small in (("safetensors 14 GB", "safetensors 14 MB"),
                       ("onnx external 4 GB", "onnx external 4 MB")):
        ratio = median_ms(times[big]) / median_ms(times[small])
        print(f"{big} / {small.split()[-2]} MB = {ratio:.2f} (target <= 1.30)")
    print(f"max peak memory = {max(peaks.values()) / 1e6:.0f} MB (target < 400 MB)")


if __name__ == "__main__":
    main()
