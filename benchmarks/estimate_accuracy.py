"""How far target-latency estimates are from published measurements, for what the fit has not seen.

    python benchmarks/estimate_accuracy.py [--rows] [--measurements FILE] [--held-out FILE]

Every row of benchmarks/data/device-measurements.json (or FILE, same format, its graphs in
benchmarks/data/published-graphs.tar.xz) is estimated by deploygate's engine model with a
calibration fitted WITHOUT it (row, device, arch, runtime), beside two references (fit, baseline):

* fit        the shipped fit (every row seen: in-sample, for reference only);
* row        leave one row out;
* device     leave every row of the row's device out (a device the fit has not seen);
* arch       leave every row of the row's architecture out (ResNet, YOLO, BERT, ...);
* runtime    leave the whole runtime out: the assumed figures a new runtime gets, in the band
             their errors on the other runtimes' rows give;
* baseline   the previous estimator in this run: unfused fp32 bytes, an assumed 25% of the
             dense fp16 peak on accelerators, 5 us per ONNX node (the x16 band it showed).

Then every row of benchmarks/data/held-out-measurements.json (published rows the calibration
never saw, on graphs in the same archive: devices absent from the fit, the Jetson Orin NX
16GB, and an A30 and a Snapdragon X Elite declared in their rows as a manifest declares a
device, and YOLO at int8 on TensorRT) is estimated with the shipped calibration and its band,
as `deploygate check` would.

The band of a held-out row is computed the way the shipped band is (held-out errors by row
and by device), but only on the rows the fit did see (nested): no row predicts
itself or sets its own band. Printed per device class: rows, share within 2x of
the published value, share inside the band, share inside a band no wider than x4 (the aim),
median band width (high / low), and the geometric mean error factor. ratio = published / estimated.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _published import (  # noqa: E402
    DATA,
    Row,
    bands,
    calibration,
    fit,
    load_rows,
    log_error,
    new_runtime_band,
    predict_ms,
)

from deploygate.targets.runtimes import calibration_for, load_calibration  # noqa: E402

KEYS: dict[str, Callable[[Row], str]] = {
    "row": lambda r: r.id, "device": lambda r: r.device.id,
    "arch": lambda r: r.architecture, "runtime": lambda r: r.runtime,
}


AIM_BAND = 4.0
"""The widest band (high / low) the aim counts: inside a band no wider than x4."""


def nested(rows: list[Row], key: Callable[[Row], str]) -> list[tuple[Row, float, list[float]]]:
    """Each row's held-out estimate and the band the held-out fit would report."""
    out = []
    for group in sorted({key(r) for r in rows}):
        train = [r for r in rows if key(r) != group]
        data = calibration(fit(train))
        train_bands = bands(train)
        for r in rows:
            if key(r) == group:
                # A runtime the held-out fit has no rows of is estimated with the assumed
                # figures, in the band their errors on the training rows give.
                band = train_bands.get(r.runtime) or new_runtime_band(train)
                out.append((r, predict_ms(r, data), band))
    return out


def shipped_band(shipped: dict[str, Any], row: Row) -> list[float]:
    """The band deploygate reports for ``row`` under the shipped calibration."""
    cal = calibration_for(row.path, shipped)
    return [cal.band[0], cal.band[1]]


def baseline_ms(row: Row) -> float:
    """The previous estimator: max(FLOPs / (peak x efficiency), unfused bytes / bandwidth) +
    5 us per node on accelerators; CPUs at an assumed 50% of the fp32 peak."""
    w, d = row.workload, row.device
    cpu = row.runtime == "onnxruntime"
    peak = row.path.peak if cpu else d.compute or row.path.peak
    if not cpu:
        derate = {"int8": (0.5, 1.0), "int8-sparse": (0.25, 0.5)}.get(
            d.compute_precision or "fp16", (1.0, 1.0))[1 if w.quantized else 0]
        peak *= derate
    efficiency = 0.5 if cpu else 0.25
    compute = w.flops / (peak * efficiency)
    cache = d.cache or 4 * 2**20
    memory = w.bytes_moved / d.memory_bandwidth if d.memory_bandwidth and \
        w.working_set > cache else 0.0
    return (max(compute, memory) + (0 if cpu else 5e-6 * w.nodes)) * 1000


def summarize(name: str, results: list[tuple[Row, float, list[float]]]) -> None:
    """One line per device class and one for all rows."""
    classes = sorted({r.device_class for r, _, _ in results}) + ["all"]
    for cls in classes:
        sel = [(r, ms, b) for r, ms, b in results if cls in ("all", r.device_class)]
        ratios = [r.published_ms / ms for r, ms, _ in sel]
        within2 = sum(0.5 <= x <= 2 for x in ratios) / len(sel)
        inside = sum(b[0] <= x <= b[1] for x, (_, _, b) in zip(ratios, sel, strict=True)) / len(sel)
        # The aim's own test: inside a band that is no wider than x4.
        narrow = sum(b[0] <= x <= b[1] and b[1] / b[0] <= AIM_BAND
                     for x, (_, _, b) in zip(ratios, sel, strict=True)) / len(sel)
        width = statistics.median(b[1] / b[0] for _, _, b in sel)
        gm = math.exp(statistics.fmean(log_error(x) for x in ratios))
        print(f"{name:<10}{cls:<6}{len(sel):>5}{within2:>10.0%}{inside:>10.0%}{narrow:>10.0%}"
              f"{width:>9.2f}x{gm:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="store_true", help="print every row's estimates")
    parser.add_argument("--measurements", type=Path, default=DATA / "device-measurements.json")
    parser.add_argument("--held-out", type=Path, default=DATA / "held-out-measurements.json")
    args = parser.parse_args()
    rows = load_rows(args.measurements)
    shipped = load_calibration()
    print(f"{len(rows)} published rows ({args.measurements.name}); shipped calibration: "
          f"{shipped['dataset']}")
    results: dict[str, list[tuple[Row, float, list[float]]]] = {}
    results["fit"] = [(r, predict_ms(r, shipped), shipped_band(shipped, r)) for r in rows]
    for mode, key in KEYS.items():
        results[mode] = nested(rows, key)
    results["baseline"] = [(r, baseline_ms(r), [0.25, 4.0]) for r in rows]
    print(f"\n{'held out':<10}{'class':<6}{'rows':>5}{'within 2x':>10}{'in band':>10}"
          f"{'in x4':>10}{'band':>10}{'error':>10}")
    for mode, res in results.items():
        summarize(mode, res)
    test = load_rows(args.held_out) if args.held_out.is_file() else []
    if test:
        shipped_results = [(r, predict_ms(r, shipped), shipped_band(shipped, r)) for r in test]
        print(f"\nheld-out test set: {len(test)} published rows the fit never saw "
              f"({args.held_out.name}), shipped calibration")
        print(f"{'devices':<10}{'class':<6}{'rows':>5}{'within 2x':>10}{'in band':>10}"
              f"{'in x4':>10}{'band':>10}{'error':>10}")
        summarize("test", shipped_results)
        for device in sorted({r.device.id for r in test}):
            for precision in sorted({r.precision for r in test}):
                sel = [x for x in shipped_results
                       if x[0].device.id == device and x[0].precision == precision]
                if sel:
                    print(f"  {device} {precision}: " + ", ".join(
                        f"{r.data['model']} {r.published_ms:g} ms / {ms:.3g} ms" for r, ms, _ in sel))
    if args.rows:
        by_id = {mode: {r.id: (ms, b) for r, ms, b in res} for mode, res in results.items()}
        print(f"\n{'row':<34}{'path':<18}{'published':>10}" + "".join(
            f"{m:>10}" for m in results) + "   (ms; ratio published/estimated)")
        for r in rows:
            cells = "".join(f"{r.published_ms / by_id[m][r.id][0]:>10.2f}" for m in results)
            print(f"{r.id:<34}{r.runtime + '/' + r.precision:<18}{r.published_ms:>10.3g}{cells}")
    print("\nfitted (all rows): " + json.dumps(
        {k: {"launch_us": v["launch_us"], **({"host_ghz": v["host_ghz"]} if "host_ghz" in v else {}),
             "floor_ms": v["floor_ms"], "band": v["band"],
             "memory_efficiency": v["memory_efficiency"],
             **{p: e["compute_efficiency"] for p, e in v["precisions"].items()}}
         for k, v in shipped["runtimes"].items()}))


if __name__ == "__main__":
    main()
