"""Latency on the target device: a cost model of the engine that runs the model there.

A device is reached through a runtime path (``runtimes.py``: runtime, precision, the peak that
path reaches). The graph is counted as that engine runs it (``workload.Kernel``: element-wise
chains, Q/DQ pairs and layout ops folded into the kernel next to them, q.k -> softmax -> p.v
as one attention kernel), and every kernel costs the slower of its compute and its memory
traffic, and a launch:

    kernels = sum over kernels of
              max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory efficiency))
    time    = floor + kernels + launches x launch

* launch: the fitted cost of one kernel launch. TensorRT launches each kernel from the
  device's host CPU, so there it scales with that CPU's clock where the device states one
  (``cpu_ghz``: a Jetson's Cortex-A78AE at 1.7-2.2 GHz launches slower than the datacenter
  hosts the launch cost was fitted on).
* bytes are elements at the path's precision (2 bytes at fp16, 1 at int8). A kernel's
  activations stay on chip when they fit in half the device's last-level cache, the weights
  when all of them fit in it.
* the efficiencies, the launch cost and the floor of each path are fitted to published
  measurements (``calibration.json``, refitted by ``benchmarks/refit_calibration.py``); the
  band of each runtime is the spread of that fit's leave-one-out errors. A runtime without
  measurements gets assumed figures, in the band of those figures' errors on every published
  row (other runtimes'), and says so; an LLM decode step and an unmeasured precision of a
  measured runtime, which no row measures, get the wide x0.25-x4 band.
* CPU targets on onnxruntime with a host measurement are calibrated on the host instead: the
  probe's latency against the host's own peak (``calibrate.py``) gives the fraction of peak
  the model reaches, assumed on the target's CPU (band x0.5-x2). A CPU target whose peak is no
  higher than the host's is never estimated faster than the host measured.
* LLM checkpoints (no graph) are one decode step: the weights and the KV cache read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal


from deploygate.manifest.model import Device
from deploygate.targets.catalog import is_accelerator
from deploygate.targets.calibrate import HostPeaks
from deploygate.targets.runtimes import (
    PathCalibration,
    RuntimePath,
    calibration_for,
    choose_path,
    launch_seconds,
)
from deploygate.targets.workload import Per, Workload

DEFAULT_CACHE_BYTES = 4 * 2**20
"""Last-level cache assumed for devices without a ``cache`` figure (edge CPUs: 1-4 MB)."""
MIN_EFFICIENCY = 1e-4
"""Floor for a calibrated efficiency (overhead-dominated tiny models)."""
MIN_COVERAGE = 0.9
"""Below this fraction of nodes counted, an estimate is not made: the part not counted could be
most of the work (silero-vad keeps its compute in If branches; a 4-FLOP count is not a model)."""
HOST_CALIBRATED_BAND = (0.5, 2.0)
"""Band of the host-calibrated CPU estimate (a path's own band is in calibration.json, and a path
without published measurements gets its ``uncalibrated`` one)."""


Bound = Literal["compute", "memory"]
"""Which roofline term decides a latency estimate."""


@dataclass(frozen=True)
class TargetEstimate:
    """Estimated latency of one inference (one token for LLM decode) on the target."""

    ms: float
    """Central estimate in milliseconds."""
    low_ms: float
    """Lower end of the uncertainty band."""
    high_ms: float
    """Upper end of the uncertainty band."""
    method: str
    """How it was estimated, in words (calibration, efficiency, bound)."""
    device: str
    """The device id."""
    bound: Bound = "compute"
    """Which roofline term decided it: compute or memory."""
    efficiency: float = 0.0
    """Fraction of the path's peak compute used: fitted, assumed, or reached on this host."""
    calibrated: bool = False
    """Whether the efficiency was fitted to measurements (published ones, or this host's)."""
    per: Per = "inference"
    """``inference`` or ``token``."""
    runtime: str = ""
    """The runtime path's runtime (e.g. tensorrt)."""
    precision: str = ""
    """The runtime path's precision (e.g. int8)."""
    path_chosen: str = ""
    """How the path was chosen (the manifest, or the device's usual path), in words."""
    calibration: str = ""
    """Where the efficiencies and the band come from, in words."""
    host_calibration: dict[str, Any] | None = None
    """The host peaks a host-calibrated estimate used (``HostPeaks.to_json``), else None."""

    def verdict(self, budget_ms: float) -> Literal["pass", "fail", "inconclusive"]:
        """The band against a budget: fail when even its low end is over it, inconclusive when
        the budget lies inside it, else pass."""
        if self.low_ms > budget_ms:
            return "fail"
        return "inconclusive" if self.high_ms > budget_ms else "pass"

    def to_json(self) -> dict[str, Any]:
        """The report's target-latency figures."""
        return {"ms": self.ms, "low_ms": self.low_ms, "high_ms": self.high_ms,
                "method": self.method, "device": self.device, "bound": self.bound,
                "efficiency": self.efficiency, "calibrated": self.calibrated, "per": self.per,
                "runtime": self.runtime, "precision": self.precision,
                "path_chosen": self.path_chosen, "calibration": self.calibration,
                "host_calibration": self.host_calibration}


def host_efficiency(workload: Workload, measured_ms: float, host: HostPeaks, threads: int) -> float:
    """Fraction of the host's peak (at ``threads``) the measured run reached."""
    ideal_s = workload.flops / host.flops_at(threads)
    return min(max(ideal_s / (measured_ms / 1000.0), MIN_EFFICIENCY), 1.0)


def not_estimable(workload: Workload) -> str | None:
    """Why ``workload`` is too incompletely counted to estimate from, or None when it is not."""
    if workload.coverage >= MIN_COVERAGE and workload.flops > 0:
        return None
    why = (f"shapes known for {workload.coverage:.0%} of nodes (at least {MIN_COVERAGE:.0%} "
           f"needed), {workload.flops:.3g} FLOPs counted")
    if workload.uncounted_ops:
        why += "; ops without a cost model: " + ", ".join(workload.uncounted_ops)
    unknown = [a for a in workload.assumptions if "unknown" in a or " = " in a]
    if unknown:
        why += "; " + "; ".join(unknown)
    return why


def kernel_terms(workload: Workload, path: RuntimePath,
                 device: Device) -> list[tuple[float, float, int]]:
    """Per kernel at 100% efficiency: (compute seconds, memory seconds, runs per inference).

    Bytes are elements at the path's precision; a kernel's activations stay on chip when they
    fit in half the last-level cache, the weights when all of them fit in it. An LLM decode
    step (no graph) is one term: weights and KV cache at their stored size.
    """
    if not workload.kernels:
        return [(workload.flops / path.peak, _whole_memory_seconds(workload, device), 0)]
    bandwidth = device.memory_bandwidth or math.inf
    cache = device.cache or DEFAULT_CACHE_BYTES
    size = path.element_bytes
    weights_stay = sum(k.weights * k.count for k in workload.kernels) * size <= cache
    terms = []
    for k in workload.kernels:
        acts = k.activations * size
        moved = (acts if acts > cache / 2 else 0.0) + (0.0 if weights_stay else k.weights * size)
        terms.append((k.flops / path.peak, moved / bandwidth, k.count))
    return terms


def _whole_memory_seconds(workload: Workload, device: Device) -> float:
    """Seconds to move the workload's bytes once at the device's bandwidth; 0 when its working
    set fits in the last-level cache or the device states no bandwidth."""
    if not device.memory_bandwidth or workload.working_set <= (device.cache or DEFAULT_CACHE_BYTES):
        return 0.0
    return workload.bytes_moved / device.memory_bandwidth


def _widened(high: float, how: str, workload: Workload) -> tuple[float, str]:
    """The band's upper end and the method, widened by ``1 / coverage`` when shapes were
    missing for some nodes."""
    if 0 < workload.coverage < 1:
        return high / workload.coverage, f"{how}; shapes known for {workload.coverage:.0%} of nodes"
    return high, how


def engine_seconds(workload: Workload, path: RuntimePath, cal: PathCalibration,
                   device: Device) -> tuple[float, Bound, int]:
    """Seconds per inference on ``path`` (floor, launches and kernels), the bound that
    dominated (compute or memory) and the number of kernel launches."""
    terms = kernel_terms(workload, path, device)
    compute = sum(c * max(n, 1) for c, _, n in terms) / cal.compute_efficiency
    memory = sum(m * max(n, 1) for _, m, n in terms) / cal.memory_efficiency
    busy = sum(max(c / cal.compute_efficiency, m / cal.memory_efficiency) * max(n, 1)
               for c, m, n in terms)
    launches = sum(n for _, _, n in terms)
    seconds = cal.floor_s + busy + launches * launch_seconds(cal, path.runtime, device)
    return seconds, "memory" if memory > compute else "compute", launches


def estimate_target(workload: Workload, device: Device, *, measured_ms: float | None = None,
                    host: HostPeaks | None = None, threads: int = 1,
                    int8_weights: bool = False, runtime: str | None = None,
                    precision: str | None = None,
                    target_threads: int | None = None) -> TargetEstimate | None:
    """Latency on ``device`` along its runtime path; None when the device has no compute
    figure or too little of the workload could be counted (``not_estimable``).

    ``runtime`` and ``precision`` choose the path (``target.runtime``/``target.precision``);
    omitted, the device's usual one. ``measured_ms`` (the host's latency with ``threads``
    threads) and ``host`` calibrate onnxruntime CPU targets; ``target_threads`` (the threads
    the model will use on the target, when fewer than its cores) scales the target's CPU peak
    there, never the host measurement. Raises ValueError when the device has no such path.
    """
    if not device.compute or not_estimable(workload) is not None:
        return None
    path = choose_path(device, runtime, precision, workload.quantized or int8_weights)
    if path is None:
        return None
    cal = calibration_for(path, per=workload.per)
    cpu = path.runtime == "onnxruntime" and not is_accelerator(device)
    if cpu and measured_ms is not None and host is not None:
        return _host_calibrated(workload, device, path, measured_ms, host, threads,
                                target_threads)
    seconds, bound, launches = engine_seconds(workload, path, cal, device)
    ms = seconds * 1000.0
    low, high = cal.band
    how = cal.source
    launch = launch_seconds(cal, path.runtime, device)
    if launch != cal.launch_s:
        how += (f"; {launch * 1e6:.3g} us a launch on the device's {device.cpu_ghz:g} GHz CPU "
                f"({cal.launch_s * 1e6:g} us at the fit's {cal.host_ghz:g} GHz host)")
    high, how = _widened(high, how, workload)
    kernels = f" over {launches} kernels" if launches else ""
    method = (f"{path.runtime}/{path.precision} ({path.chosen}); engine model{kernels}, "
              f"{bound}-bound; {how}")
    return TargetEstimate(ms, ms * low, ms * high, method, device.id, bound,
                          cal.compute_efficiency, cal.calibrated, workload.per, path.runtime,
                          path.precision, path.chosen, how)


def _host_calibrated(workload: Workload, device: Device, path: RuntimePath, measured_ms: float,
                     host: HostPeaks, threads: int,
                     target_threads: int | None = None) -> TargetEstimate:
    """A CPU target at the fraction of peak the model reached on the host."""
    efficiency = host_efficiency(workload, measured_ms, host, threads)
    # The peak is named once: the calibration's own when it was measured at these threads.
    host_peak = ("its peak" if host.flops_at(threads) == host.flops
                 else f"its {host.flops_at(threads) / 1e9:.3g} GFLOPS peak")
    how = (f"calibrated on this host: {measured_ms:.3g} ms with {threads} "
           f"thread{'s' * (threads != 1)} is {efficiency:.1%} of {host_peak} ({host.describe()})")
    peak = path.peak
    if target_threads and device.cores and target_threads < device.cores:
        peak = path.peak * target_threads / device.cores
        how += f"; {target_threads} of the device's {device.cores} cores"
    compute_s = workload.flops / (peak * efficiency)
    memory_s = _whole_memory_seconds(workload, device)
    bound: Bound = "memory" if memory_s > compute_s else "compute"
    ms = max(compute_s, memory_s) * 1000.0
    low, high = HOST_CALIBRATED_BAND
    floor_ms = 0.0
    if peak <= host.flops_at(threads):
        # The target is slower than the host that measured this: it cannot be faster than that.
        floor_ms = measured_ms
        if ms < floor_ms:
            ms = floor_ms
            how += f"; held at the host's {measured_ms:.3g} ms (the target's peak is lower)"
    high, how = _widened(high, how, workload)
    method = f"{path.runtime}/{path.precision} ({path.chosen}); roofline, {bound}-bound; {how}"
    return TargetEstimate(ms, max(ms * low, floor_ms), ms * high, method, device.id, bound,
                          efficiency, True, workload.per, path.runtime, path.precision,
                          path.chosen, how, host.to_json())
