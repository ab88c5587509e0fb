"""Runtime paths: the runtime and precision a model runs at on a device, the peak that path
reaches, and the calibration fitted to published measurements on that path.

A device is reached through one or more runtimes (``tensorrt`` on a Jetson's GPU, ``qnn`` on a
Snapdragon's Hexagon NPU, ``onnxruntime`` on a CPU), each at one or more precisions, and each
(runtime, precision) pair has its own peak: a T4 does 65 fp16 tensor TFLOPS and 130 int8 TOPS,
its CPU a small fraction of either. The catalog lists each device's paths (``paths``) with a
source per figure; ``runtime`` names the usual one. The manifest's ``target.runtime`` and
``target.precision`` choose; when omitted, the device's usual runtime is used, at int8 for a
quantized graph when the runtime has an int8 path, else at the runtime's first listed precision.

``calibration.json`` holds, per runtime, the launch cost of one kernel and the per-inference
floor, and per precision the fractions of peak compute and memory bandwidth a fused engine
reaches, fitted to published measurements by ``benchmarks/refit_calibration.py``; the band of
each runtime comes from that fit's leave-one-out errors, and a runtime without measurements gets
assumed figures in the band their errors on every published row give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from deploygate.manifest.model import Device
from deploygate.targets.catalog import is_accelerator

ELEMENT_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
"""Bytes per activation and weight element at each precision a target may name (the schema's
``target.precision``; the runtimes it may name are the schema's ``target.runtime``)."""
GENERIC_RUNTIME = "unspecified"
"""The runtime of a device declared with only ``compute`` and ``compute_precision``."""
HOST_LAUNCHED_RUNTIMES = frozenset({"tensorrt"})
"""Runtimes whose kernels the device's host CPU launches one by one (TensorRT enqueues each
kernel from the CPU): their launch cost scales with that CPU's clock (``Device.cpu_ghz``). QNN's
HTP runs its graph from the NPU's own scalar cores, and onnxruntime on a CPU is the CPU."""


def launch_seconds(cal: PathCalibration, runtime: str, device: Device) -> float:
    """One kernel launch on ``device``: the fitted launch cost at the calibration's host clock,
    scaled to the device's CPU clock where the runtime launches from the host and both clocks
    are known (a Jetson's 1.7 GHz Cortex-A78AE launches slower than a datacenter host)."""
    if runtime in HOST_LAUNCHED_RUNTIMES and cal.host_ghz and device.cpu_ghz:
        return cal.launch_s * cal.host_ghz / device.cpu_ghz
    return cal.launch_s


@dataclass(frozen=True)
class PathCalibration:
    """What a runtime path reaches, fitted to published measurements (or assumed)."""

    compute_efficiency: float
    """Fraction of the path's peak compute a kernel reaches."""
    memory_efficiency: float
    """Fraction of the device's memory bandwidth a kernel reaches."""
    launch_s: float
    """Cost of launching one engine kernel (on a host CPU at ``host_ghz``, where it is known)."""
    floor_s: float
    """Per-inference dispatch overhead (the fastest an inference can be)."""
    band: tuple[float, float]
    """(low, high) multipliers of the estimate: the leave-one-out spread of the fit."""
    source: str
    """Where the figures come from, in words."""
    calibrated: bool
    """Fitted to measurements on this runtime and precision (else assumed)."""
    host_ghz: float | None = None
    """The host CPU clock ``launch_s`` holds at, fitted: a device that states its CPU clock
    (``cpu_ghz``) launches at ``launch_s x host_ghz / cpu_ghz``; one that does not, at
    ``launch_s`` (like the datacenter GPU servers of the fit, whose host clocks are not known)."""


@dataclass(frozen=True)
class RuntimePath:
    """The runtime and precision a model runs at on a device, and the peak it uses."""

    runtime: str
    """e.g. tensorrt."""
    precision: str
    """e.g. int8."""
    peak: float
    """Operations per second at ``precision`` on this runtime's compute unit."""
    source: str
    """Where ``peak`` comes from."""
    chosen: str
    """How the path was chosen: ``manifest`` or the default rule, in words."""

    @property
    def element_bytes(self) -> float:
        """Bytes per activation and weight element at this precision."""
        return ELEMENT_BYTES.get(self.precision, 4.0)


def device_paths(device: Device) -> dict[str, dict[str, float]]:
    """The device's (runtime -> precision -> peak) paths; derived from ``compute`` and
    ``compute_precision`` for a device declared without ``paths``."""
    if device.paths:
        return device.paths
    if not device.compute:
        return {}
    precision = device.compute_precision or "fp32"
    if precision == "fp32" and not is_accelerator(device):
        return {"onnxruntime": {"fp32": device.compute}}
    if precision in ("fp32", "fp16"):
        return {GENERIC_RUNTIME: {"fp16": device.compute, "int8": device.compute * 2}}
    dense = device.compute / (2 if precision == "int8-sparse" else 1)
    return {GENERIC_RUNTIME: {"fp16": dense / 2, "int8": dense}}


def default_runtime(device: Device) -> str | None:
    """The device's usual runtime: the catalog's ``runtime``, else its first path."""
    paths = device_paths(device)
    if device.runtime in paths:
        return device.runtime
    return next(iter(paths), None)


def choose_path(device: Device, runtime: str | None = None, precision: str | None = None,
                quantized: bool = False) -> RuntimePath | None:
    """The path a model runs on ``device``; None when the device has no compute figure.

    Raises ValueError naming the device's paths when ``runtime`` or ``precision`` is not one.
    """
    paths = device_paths(device)
    if not paths:
        return None
    chosen = []
    if runtime is None:
        runtime = default_runtime(device)
        chosen.append(f"{runtime} (the device's usual runtime)")
    else:
        chosen.append(f"{runtime} (target.runtime)")
    assert runtime is not None
    if runtime not in paths:
        raise ValueError(f"device '{device.id}' has no '{runtime}' path; its paths: "
                         + ", ".join(f"{r}/{p}" for r, ps in paths.items() for p in ps))
    precisions = paths[runtime]
    if precision is None:
        if quantized and "int8" in precisions:
            precision, why = "int8", "the graph is quantized"
        else:
            precision, why = next(iter(precisions)), f"{runtime}'s usual precision"
        chosen.append(f"{precision} ({why})")
    else:
        chosen.append(f"{precision} (target.precision)")
    if precision not in precisions:
        raise ValueError(f"device '{device.id}' has no {precision} path on {runtime}; "
                         f"{runtime} runs at " + ", ".join(precisions))
    source = device.sources.get(f"paths.{runtime}.{precision}") \
        or device.sources.get("compute", "the device's compute figure")
    return RuntimePath(runtime, precision, precisions[precision], source, " at ".join(chosen))


@lru_cache(maxsize=1)
def load_calibration() -> dict[str, Any]:
    """The fitted calibration (``calibration.json``)."""
    text = resources.files("deploygate.targets").joinpath("calibration.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def calibration_for(path: RuntimePath, data: dict[str, Any] | None = None,
                    per: str = "inference") -> PathCalibration:
    """The fitted efficiencies, launch cost, floor and band of ``path`` (from ``data``, default
    calibration.json); the assumed defaults (and a wide band) for a runtime or precision without
    published measurements, and for an LLM decode step (``per="token"``): the published rows are
    whole-graph inferences, which say nothing of a decode loop's bandwidth."""
    data = data if data is not None else load_calibration()
    default = data["uncalibrated"]
    runtime = data["runtimes"].get(path.runtime)
    if runtime is None or not runtime["precisions"] or per == "token":
        what = "LLM decode" if per == "token" else ""
        assumed = (f"uncalibrated: no published {what + ' ' if what else ''}measurements on "
                   f"{path.runtime}; assumed {default['compute_efficiency']:.0%} of peak "
                   f"compute, {default['memory_efficiency']:.0%} of bandwidth")
        measured = default.get("new_runtime_band") if per == "inference" else None
        if measured is not None:
            # How far these assumed figures were from every published row, on three other
            # runtimes: the error a runtime without rows meets (benchmarks.md).
            band = _band(measured)
            assumed += (f"; band from their errors on {default['new_runtime_rows']} published "
                        "rows of other runtimes")
        else:
            band = _band(default["band"])
        return PathCalibration(
            default["compute_efficiency"], default["memory_efficiency"],
            default["launch_us"] * 1e-6, default["floor_ms"] * 1e-3, band, assumed, False)
    fitted = runtime["precisions"].get(path.precision)
    launch, floor = runtime["launch_us"] * 1e-6, runtime["floor_ms"] * 1e-3
    if fitted is None:
        # The same fraction of a different precision's peak: what the runtime reaches at the
        # precisions it was measured at, with the wide band of an unmeasured path.
        other, fitted = next(iter(runtime["precisions"].items()))
        return PathCalibration(
            fitted["compute_efficiency"], runtime["memory_efficiency"], launch, floor,
            _band(default["band"]),
            f"no published {path.runtime}/{path.precision} measurements: {path.runtime}'s "
            f"fitted {other} efficiencies applied to the {path.precision} peak, with the "
            "uncalibrated band", False, runtime.get("host_ghz"))
    return PathCalibration(
        fitted["compute_efficiency"], runtime["memory_efficiency"], launch, floor,
        _band(runtime["band"]),
        f"fitted to {fitted['rows']} published {path.runtime}/{path.precision} measurements "
        f"({data['dataset']}); band from held-out errors over {runtime['rows']} "
        f"{path.runtime} rows" + (", widened to the assumed figures' band (too few held-out "
                                  "predictions to span 90%)" if runtime.get("band_widened")
                                  else ""), True, runtime.get("host_ghz"))


def _band(pair: list[float]) -> tuple[float, float]:
    return float(pair[0]), float(pair[1])
