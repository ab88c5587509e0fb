"""Published device measurements (benchmarks/data) and the fit of the runtime-path calibration.

Shared by refit_calibration.py (writes deploygate/targets/calibration.json) and
estimate_accuracy.py (compares estimates with the published rows, leaving rows, devices,
architectures or whole runtimes out of the fit).

The fit, per runtime: a launch cost per kernel, the host CPU clock it holds at (TensorRT, whose
kernels the host CPU launches: a device stating its CPU clock launches at launch x host clock /
its clock) and a per-inference floor (on a grid), and per precision the fractions of peak
compute and of memory bandwidth (on a grid) that minimize the
squared log error of estimated against published latency. The band of a runtime is the 5th to
95th percentile of published / estimated over its held-out predictions (leaving out the row,
or its device), and no narrower than the assumed figures' error band while those predictions
are too few to span 90% (``MIN_BAND_PREDICTIONS``).
"""

from __future__ import annotations

import json
import math
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploygate.manifest.model import Device  # noqa: E402
from deploygate.targets.catalog import device_from_mapping, load_catalog  # noqa: E402
from deploygate.targets.estimate import engine_seconds, kernel_terms  # noqa: E402
from deploygate.targets.runtimes import (  # noqa: E402
    RuntimePath,
    calibration_for,
    HOST_LAUNCHED_RUNTIMES,
    choose_path,
)
from deploygate.targets.workload import Workload, onnx_workload  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
COMPUTE_EFFICIENCIES = np.round(np.arange(0.02, 1.0001, 0.02), 2)
MEMORY_EFFICIENCIES = np.round(np.arange(0.05, 1.0001, 0.05), 2)
LAUNCH_US = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
FLOOR_MS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
HOST_GHZ = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
"""The host clock a runtime's launch cost holds at, where its kernels are launched by the host
CPU and some fitted device states its CPU clock (``cpu_ghz``): what the datacenter GPU servers,
whose host clocks the rows do not give, launch like."""
BAND_QUANTILES = (0.05, 0.95)
MIN_BAND_PREDICTIONS = 19
"""Held-out predictions a runtime's band needs to stand on its own: a new value falls between
the least and the greatest of n earlier ones with probability (n - 1) / (n + 1), which reaches
the 90% the band is for at n = 19. With fewer (onnxruntime: 4 rows, 8 predictions), the band is
widened to at least the assumed figures' error band (``new_runtime_band``), measured on every
row."""
SHARED_COMPUTE = True
"""One compute efficiency per runtime (the same fraction of each precision's peak) rather than
one per precision, unless the runtime's precisions were measured on the same models and devices
(``paired``: AI Hub's float and w8a8 assets, the TensorRT BERT demo's fp16 and int8 engines),
which separates the precision from the architecture and the harness. Without such pairs a
per-precision figure learns the harness, not the engine: with TensorRT int8 seen only in
MLPerf's tuned runs, it put TensorRT int8 YOLO 2-3x too fast."""
UNCALIBRATED_BAND = [0.25, 4.0]
"""The band where no published row measures the assumed figures' error: an LLM decode step, and
a measured runtime at a precision it was not measured at (see ``new_runtime_band``)."""
UNCALIBRATED = {"compute_efficiency": 0.25, "memory_efficiency": 0.5, "launch_us": 5.0,
                "floor_ms": 0.1, "band": UNCALIBRATED_BAND}
"""Assumed figures for a runtime or precision without published measurements."""


@dataclass
class Row:
    """One published measurement with what the estimate needs."""

    data: dict[str, Any]
    device: Device
    path: RuntimePath
    workload: Workload
    busy: np.ndarray
    """Kernel seconds on the (compute, memory) efficiency grid."""
    launches: int

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def published_ms(self) -> float:
        return float(self.data["published_ms"])

    @property
    def runtime(self) -> str:
        return self.path.runtime

    @property
    def precision(self) -> str:
        return self.path.precision

    @property
    def architecture(self) -> str:
        """The model family (ResNet-18 and -50 are one; YOLOv8 and YOLO11 are one)."""
        recipe = str(self.data["onnx_recipe"])
        for family in ("resnet", "mobilenet", "squeezenet", "vit", "yolo", "fcn", "bert"):
            if recipe.startswith(family):
                return family
        return recipe

    @property
    def device_class(self) -> str:
        return str(self.data["device_class"])


def load_rows(path: Path = DATA / "device-measurements.json") -> list[Row]:
    """The published rows with their workloads (graphs unpacked into a temporary folder)."""
    raw = json.loads(path.read_text("utf-8"))
    catalog = load_catalog()
    cache: dict[tuple[str, str], Workload] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(DATA / "published-graphs.tar.xz") as tar:
            tar.extractall(tmp, filter="data")
        for item in raw:
            key = (item["onnx_recipe"], json.dumps(item["input_shape"], sort_keys=True))
            if key not in cache:
                cache[key] = onnx_workload(Path(tmp) / f"{item['onnx_recipe']}.onnx",
                                           item["input_shape"])
            # A device the catalog lacks is declared in the row, as a manifest declares it.
            device = (device_from_mapping(item["device"], item["device_spec"], custom=True)
                      if "device_spec" in item else catalog[item["device"]])
            work = cache[key]
            runtime_path = choose_path(device, item["target_runtime"], item["target_precision"],
                                       work.quantized)
            assert runtime_path is not None
            busy, launches = _busy_grid(work, runtime_path, device)
            rows.append(Row(item, device, runtime_path, work, busy, launches))
    return rows


def _busy_grid(work: Workload, path: RuntimePath, device: Device) -> tuple[np.ndarray, int]:
    terms = np.array(kernel_terms(work, path, device), dtype=float)
    compute, memory, count = terms[:, 0], terms[:, 1], np.maximum(terms[:, 2], 1)
    grid = np.maximum(compute[:, None, None] / COMPUTE_EFFICIENCIES[None, :, None],
                      memory[:, None, None] / MEMORY_EFFICIENCIES[None, None, :])
    return (grid * count[:, None, None]).sum(axis=0), int(terms[:, 2].sum())


def fit(rows: Iterable[Row]) -> dict[str, Any]:
    """Fitted calibration entries by runtime (``calibration.json``'s ``runtimes`` without bands)."""
    by_runtime: dict[str, list[Row]] = {}
    for row in rows:
        by_runtime.setdefault(row.runtime, []).append(row)
    out: dict[str, Any] = {}
    for runtime, group in sorted(by_runtime.items()):
        best: tuple[float, dict[str, Any]] | None = None
        precisions = sorted({r.precision for r in group})
        shared = SHARED_COMPUTE and not paired(group)
        busy = np.stack([r.busy for r in group])
        published = np.log(np.array([r.published_ms / 1000 for r in group]))[:, None, None]
        launches = np.array([r.launches for r in group], dtype=float)
        masks = {p: np.array([r.precision == p for r in group]) for p in precisions}
        clocks = np.array([r.device.cpu_ghz or 0.0 for r in group])
        # Without a row on a device that states its CPU clock, the host clock is not fitted.
        hosts: tuple[float | None, ...] = HOST_GHZ if runtime in HOST_LAUNCHED_RUNTIMES \
            and clocks.any() else (None,)
        for host in hosts:
            scale = np.where(clocks > 0, (host or 1.0) / np.where(clocks > 0, clocks, 1.0), 1.0) \
                if host else np.ones(len(group))
            for launch in LAUNCH_US:
                launching = launches * launch * 1e-6 * scale
                for floor in FLOOR_MS:
                    squared = (published - np.log(floor / 1000 + launching[:, None, None]
                                                  + busy)) ** 2
                    # err[precision][compute, memory]: squared log errors summed over its rows
                    err = {p: squared[m].sum(axis=0) for p, m in masks.items()}
                    # One memory efficiency per runtime (the memory system does not change with
                    # the precision); one compute efficiency per precision, or one per runtime
                    # (the same fraction of each precision's peak) when SHARED_COMPUTE.
                    if shared:
                        summed = sum(err.values())
                        i, m = np.unravel_index(int(np.argmin(summed)), summed.shape)
                        j = int(m)
                        total, pick = float(summed[i, j]), {p: int(i) for p in err}
                    else:
                        per_memory = sum(e.min(axis=0) for e in err.values())
                        j = int(np.argmin(per_memory))
                        total = float(per_memory[j])
                        pick = {p: int(np.argmin(e[:, j])) for p, e in err.items()}
                    if best is None or total < best[0] - 1e-12:
                        best = (total, {
                            "launch_us": launch, "floor_ms": floor, "rows": len(group),
                            **({"host_ghz": host} if host else {}),
                            "memory_efficiency": float(MEMORY_EFFICIENCIES[j]),
                            "precisions": {p: {
                                "compute_efficiency": float(COMPUTE_EFFICIENCIES[pick[p]]),
                                "rows": sum(r.precision == p for r in group)}
                                for p in err}})
        assert best is not None
        out[runtime] = best[1]
    return out


def paired(group: list[Row]) -> bool:
    """Whether every precision of a runtime was measured on a model and device also measured at
    another precision (AI Hub's float and w8a8 assets on one phone): only then does the data
    separate the precision's own efficiency from the harness that measured it."""
    def key(r: Row) -> tuple[str, str]:
        return r.device.id, str(r.data["onnx_recipe"]).removesuffix("_int8")

    precisions = {r.precision for r in group}
    if len(precisions) < 2:
        return False
    keys = {p: {key(r) for r in group if r.precision == p} for p in precisions}
    return all(keys[p] & set().union(*(keys[q] for q in precisions if q != p)) for p in precisions)


def calibration(runtimes: dict[str, Any], dataset: str = "published rows") -> dict[str, Any]:
    """A calibration document (the shape of calibration.json) from fitted runtimes."""
    return {"dataset": dataset, "uncalibrated": dict(UNCALIBRATED),
            "runtimes": {k: {"band": UNCALIBRATED["band"], **v} for k, v in runtimes.items()}}


def new_runtime_band(rows: list[Row]) -> list[float]:
    """The band of a runtime without published measurements, from measured errors: every row
    estimated with the assumed figures alone (nothing fitted, so no row sets its own figures),
    the 5th-95th percentile of published / estimated. How far the assumed figures were from
    three runtimes' measurements (a CPU, an NPU and GPUs) is what a fourth meets; a runtime
    left out of the rows gets the band of the others (estimate_accuracy.py, ``runtime``)."""
    assumed = calibration({})
    return band([r.published_ms / predict_ms(r, assumed) for r in rows])


def predict_ms(row: Row, data: dict[str, Any]) -> float:
    """The estimate for ``row`` under calibration ``data``, computed by deploygate itself."""
    seconds, _, _ = engine_seconds(row.workload, row.path, calibration_for(row.path, data),
                                   row.device)
    return seconds * 1000.0


HELD_OUT: tuple[Callable[[Row], str], ...] = (lambda r: r.id, lambda r: r.device.id)
"""What the band's held-out predictions leave out: the row, and its device. Leaving the
architecture out is estimate_accuracy.py's own line (how often that band still holds)."""


def held_out(rows: list[Row], key: Callable[[Row], str]) -> list[tuple[Row, float]]:
    """Each row predicted by a fit on the rows of other groups (``key``: id, device, ...)."""
    out = []
    for group in sorted({key(r) for r in rows}):
        train = [r for r in rows if key(r) != group]
        data = calibration(fit(train))
        out += [(r, predict_ms(r, data)) for r in rows if key(r) == group]
    return out


def band(ratios: list[float]) -> list[float]:
    """(low, high) multipliers covering the 5th-95th percentile of published / estimated."""
    if not ratios:
        return list(UNCALIBRATED_BAND)
    low, high = np.quantile(np.array(ratios), BAND_QUANTILES)
    return [round(min(float(low), 1.0), 3), round(max(float(high), 1.0), 3)]


def bands(rows: list[Row]) -> dict[str, list[float]]:
    """Each runtime's band from its held-out predictions: every row predicted by fits that left
    out the row, and by fits that left out its device (what a user's new device meets)."""
    ratios: dict[str, list[float]] = {}
    for key in HELD_OUT:
        for row, ms in held_out(rows, key):
            ratios.setdefault(row.runtime, []).append(row.published_ms / ms)
    out = {}
    for runtime, values in ratios.items():
        out[runtime] = band(values)
        if too_few_predictions(rows, runtime):
            # Too few to span 90%: at least the spread of the assumed figures' errors.
            assumed = new_runtime_band(rows)
            out[runtime] = [min(out[runtime][0], assumed[0]), max(out[runtime][1], assumed[1])]
    return out


def too_few_predictions(rows: list[Row], runtime: str) -> bool:
    """Whether ``runtime``'s band rests on fewer held-out predictions than can span 90%
    (each held-out fit of ``HELD_OUT`` predicts each of its rows once)."""
    return len(HELD_OUT) * sum(r.runtime == runtime for r in rows) < MIN_BAND_PREDICTIONS


def log_error(ratio: float) -> float:
    """|ln(published / estimated)|."""
    return abs(math.log(ratio))
