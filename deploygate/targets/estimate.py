"""Latency on the target device, estimated with a roofline calibrated on the host.

    time = max(FLOPs / (device compute x efficiency), bytes moved / device bandwidth)

* efficiency, CPU targets: measured on the host. The probe's latency and the host's own peak
  (``calibrate.py``) say what fraction of its peak the model reached there; the same fraction is
  assumed on the target's CPU. Without a measurement, an assumed 50% and a wider band.
* efficiency, accelerators (GPUs, NPUs; ``compute_precision`` other than fp32): a CPU's
  efficiency says nothing about a GPU, so an assumed 25% of the dense fp16 figure; int8 TOPS
  count half (a float model does not run at int8 speed unless quantized), sparse TOPS half
  again. Each graph node also costs a kernel launch (5 us).
* the bandwidth term applies only when the working set (weights + peak activations + KV cache)
  exceeds the device's last-level cache (``cache``, 4 MiB when the catalog has no figure):
  a model that stays in cache is limited by compute.
* the band: x0.5-x2 calibrated on CPUs; x0.25-x4 uncalibrated or int8/sparse accelerators;
  x0.33-x3 fp16 accelerators; its upper end widens by 1/coverage when shapes were missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploygate.manifest.model import Device
from deploygate.targets.calibrate import HostPeaks
from deploygate.targets.workload import Workload

DEFAULT_CACHE_BYTES = 4 * 2**20
"""Last-level cache assumed for devices without a ``cache`` figure (edge CPUs: 1-4 MB)."""
UNCALIBRATED_EFFICIENCY = 0.50
"""Fraction of CPU peak an onnxruntime graph reaches when nothing was measured (the benchmark in
benchmarks/estimate_accuracy.py measured 26-100% on an x86 host, geometric mean ~60%)."""
ACCELERATOR_EFFICIENCY = 0.25
"""Fraction of an accelerator's dense fp16 peak a batch-1 inference graph reaches."""
ACCELERATOR_LAUNCH_S = 5e-6
"""Per-node kernel-launch cost on accelerators (small graphs are launch-bound)."""
ACCELERATOR_GFLOPS_PER_CORE = 100e9
"""Without ``compute_precision``, a device quoting more than this per CPU core has an accelerator."""
MIN_EFFICIENCY = 1e-4
"""Floor for a calibrated efficiency (overhead-dominated tiny models)."""
MIN_COVERAGE = 0.9
"""Below this fraction of nodes counted, an estimate is not made: the part not counted could be
most of the work (silero-vad keeps its compute in If branches; a 4-FLOP count is not a model)."""

# precision -> (factor to the dense-fp16 equivalent for float models, for int8 models)
_PRECISION_DERATE = {"fp32": (1.0, 1.0), "fp16": (1.0, 1.0), "int8": (0.5, 1.0),
                     "int8-sparse": (0.25, 0.5)}
BANDS = {"calibrated": (0.5, 2.0), "uncalibrated": (0.25, 4.0), "fp16": (1 / 3, 3.0),
         "int8": (0.25, 4.0), "int8-sparse": (0.25, 4.0)}
"""Uncertainty band per method: (low, high) multipliers of the central estimate."""


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
    bound: str = "compute"
    """Which roofline term decided it: compute or memory."""
    efficiency: float = UNCALIBRATED_EFFICIENCY
    """Fraction of the device's peak compute assumed."""
    calibrated: bool = False
    """Whether the efficiency came from a measurement on the host."""
    per: str = "inference"
    """``inference`` or ``token``."""

    def to_json(self) -> dict[str, Any]:
        """The report's target-latency figures."""
        return {"ms": self.ms, "low_ms": self.low_ms, "high_ms": self.high_ms,
                "method": self.method, "device": self.device, "bound": self.bound,
                "efficiency": self.efficiency, "calibrated": self.calibrated, "per": self.per}


def is_accelerator(device: Device) -> bool:
    """Whether ``compute`` is a GPU/NPU figure rather than CPU fp32 peak."""
    if device.compute_precision is not None:
        return device.compute_precision != "fp32"
    return bool(device.compute and device.cores
                and device.compute / device.cores > ACCELERATOR_GFLOPS_PER_CORE)


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


def estimate_target(workload: Workload, device: Device, *, measured_ms: float | None = None,
                    host: HostPeaks | None = None, threads: int = 1,
                    int8_weights: bool = False) -> TargetEstimate | None:
    """Roofline latency on ``device``; None when the device has no compute figure or too little
    of the workload could be counted (``not_estimable``).

    ``measured_ms`` (the host's latency with ``threads`` threads) and ``host`` calibrate CPU
    targets; without them the efficiency is assumed and the band is wider. A CPU target whose
    peak is no higher than the host's is never estimated faster than the host measured.
    """
    if not device.compute or not_estimable(workload) is not None:
        return None
    launch_s = 0.0
    if is_accelerator(device):
        precision = device.compute_precision or "fp16"
        derate = _PRECISION_DERATE.get(precision, (1.0, 1.0))[1 if int8_weights else 0]
        efficiency, calibrated = ACCELERATOR_EFFICIENCY, False
        peak = device.compute * derate
        band = BANDS.get(precision, BANDS["fp16"])
        launch_s = ACCELERATOR_LAUNCH_S * workload.nodes
        how = (f"assumed {efficiency:.0%} of the {precision} peak"
               + (f" x{derate:g} for a {'int8' if int8_weights else 'float'} model"
                  if derate != 1 else "")
               + " (a CPU measurement does not carry to accelerators)")
    elif measured_ms is not None and host is not None:
        efficiency, calibrated = host_efficiency(workload, measured_ms, host, threads), True
        peak, band = device.compute, BANDS["calibrated"]
        how = (f"calibrated on this host: {measured_ms:.3g} ms with {threads} thread(s) is "
               f"{efficiency:.1%} of its {host.flops_at(threads) / 1e9:.3g} GFLOPS peak")
    else:
        efficiency, calibrated = UNCALIBRATED_EFFICIENCY, False
        peak, band = device.compute, BANDS["uncalibrated"]
        how = f"uncalibrated: assumed {efficiency:.0%} of peak (nothing measured on the host)"
    compute_s = workload.flops / (peak * efficiency)
    cache = device.cache or DEFAULT_CACHE_BYTES
    memory_s = 0.0
    if device.memory_bandwidth and workload.working_set > cache:
        memory_s = workload.bytes_moved / device.memory_bandwidth
    bound = "memory" if memory_s > compute_s else "compute"
    ms = (max(compute_s, memory_s) + launch_s) * 1000.0
    low, high = band
    floor_ms = 0.0
    if calibrated and measured_ms is not None and host is not None \
            and device.compute <= host.flops_at(threads):
        # The target is slower than the host that measured this: it cannot be faster than that.
        floor_ms = measured_ms
        if ms < floor_ms:
            ms = floor_ms
            how += f"; held at the host's {measured_ms:.3g} ms (the target's peak is lower)"
    if 0 < workload.coverage < 1:
        high /= workload.coverage
        how += f"; shapes known for {workload.coverage:.0%} of nodes"
    method = f"roofline, {bound}-bound; {how}"
    return TargetEstimate(ms, max(ms * low, floor_ms), ms * high, method, device.id, bound,
                          efficiency, calibrated, workload.per)
