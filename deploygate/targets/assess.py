"""The targets stage for one model: workload, memory, latency on the target, and cost.

Pure estimates from the facts upstream (manifest entry, artifact, host measurement); the checks
judge them and the reports show them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import ArtifactInfo
from deploygate.manifest.model import Device, ModelSpec
from deploygate.probe.result import LatencyResult
from deploygate.targets.cost import CostEstimate, estimate_cost
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import MemoryEstimate, estimate_memory
from deploygate.targets.workload import Workload

if TYPE_CHECKING:
    from deploygate.targets.calibrate import HostPeaks


@dataclass(frozen=True)
class Assessment:
    """What the targets stage estimates about one model."""

    memory: MemoryEstimate
    """Serving memory: weights, activations, KV cache, runtime overhead."""
    workload: Workload | None = None
    """FLOPs and bytes per inference, when countable."""
    target: TargetEstimate | None = None
    """Latency on the target device (None when measured there or not estimable)."""
    cost: CostEstimate | None = None
    """Cost of 1,000 inferences, when asked for or the device has a price."""
    device_memory: int | None = None
    """The target device's memory, when it names one (the headroom is measured against it)."""

    @property
    def headroom(self) -> int | None:
        """Device memory left after serving, when the device is known (negative: does not fit)."""
        return None if self.device_memory is None else self.device_memory - self.memory.total

    def to_json(self) -> dict[str, Any]:
        """The report's ``estimates`` object."""
        estimates = self.memory.to_json(self.device_memory)
        if self.workload is not None:
            estimates["workload"] = self.workload.to_json()
        if self.target is not None:
            estimates["target_latency_ms"] = self.target.ms
            estimates["target_latency"] = self.target.to_json()
        if self.cost is not None:
            estimates["cost"] = self.cost.to_json()
            if self.cost.usd_per_1k is not None:
                estimates["usd_per_1k"] = self.cost.usd_per_1k
        return estimates


def assess(spec: ModelSpec, artifact: ArtifactInfo, device: Device | None,
           latency: LatencyResult | None, skipped: str | None = None, *,
           on_target: bool = False) -> Assessment:
    """Workload, memory, target latency and cost of one model."""
    workload = workload_for(spec, artifact, latency)
    memory = estimate_memory(artifact, workload=workload, serving=spec.serving)
    target = None if on_target else target_estimate(spec, device, artifact, workload, latency)
    cost = cost_for(spec, device, artifact, workload, latency, skipped, target, on_target)
    return Assessment(memory, workload, target, cost,
                      device_memory=device.memory if device is not None else None)


def workload_for(spec: ModelSpec, artifact: ArtifactInfo,
              latency: LatencyResult | None) -> Workload | None:
    """FLOPs and bytes per inference at the probe's shapes (else the manifest's pinned dims)."""
    from google.protobuf.message import DecodeError

    from deploygate.targets.workload import estimate_workload, pinned_shapes

    assumed: tuple[str, ...] = ()
    if latency is not None and latency.input_shapes:
        shapes = dict(latency.input_shapes)
    else:
        shapes, assumed = pinned_shapes(artifact, spec.latency)
    try:
        return estimate_workload(artifact, shapes, assumed, spec.serving)
    except (OSError, ValueError, DecodeError):
        # Inspection already judged the file; a graph that cannot be counted only leaves the
        # estimates out (the checks that need them say what is missing).
        return None


def int8_weights(artifact: ArtifactInfo) -> bool:
    """Whether most weight bytes are 8-bit or smaller integers (int8 accelerator peaks apply)."""
    small = sum(n for dtype, n in artifact.bytes_by_dtype.items()
                if dtype.lower().startswith(("int8", "uint8", "int4", "uint4", "q")))
    return small * 2 > artifact.weights_bytes > 0


def target_estimate(spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
                     workload: Workload | None, latency: LatencyResult | None
                     ) -> TargetEstimate | None:
    """The latency on the model's target device, along the manifest's runtime path."""
    if device is None:
        return None
    return device_estimate(device, workload, latency, int8_weights=int8_weights(artifact),
                           runtime=spec.target.runtime, precision=spec.target.precision)


def device_estimate(device: Device, workload: Workload | None, latency: LatencyResult | None,
                    *, int8_weights: bool, runtime: str | None = None,
                    precision: str | None = None, host: HostPeaks | None = None
                    ) -> TargetEstimate | None:
    """The latency on ``device`` from the engine cost model (docs/targets.md), calibrated by the
    host measurement on a CPU device when there is one: its median run. Contention on a shared
    runner stretches the tail of the host's runs, not the fraction of peak the model reaches,
    so the tail is not carried to the device. ``host``: this machine's peaks, when the caller
    has them already (advise judges every device on one measurement)."""
    if workload is None or not device.compute:
        return None
    from deploygate.targets.catalog import is_accelerator
    from deploygate.targets.estimate import estimate_target

    measured_ms = None
    # Only a run on this host's CPU says how fast its processor runs the model: a run on a GPU
    # provider calibrates no CPU device.
    if latency is not None and latency.on_cpu and not is_accelerator(device):
        from deploygate.targets.calibrate import host_peaks_for

        measured_ms = latency.p50_ms
        host = host or host_peaks_for(workload.flops, measured_ms, latency.threads)
    else:
        host = None
    # The threads the model will run with there: what was asked for, even when this host
    # measured with fewer (the estimate scales, the measurement does not).
    asked = (latency.target_threads or latency.threads) if latency else None
    estimate = estimate_target(workload, device, measured_ms=measured_ms if host else None,
                               host=host, threads=latency.threads if latency else 1,
                               int8_weights=int8_weights, runtime=runtime, precision=precision,
                               target_threads=asked)
    if estimate is not None and latency is not None and not latency.on_cpu \
            and not is_accelerator(device):
        estimate = replace(estimate, method=f"{estimate.method}; not calibrated on this host, "
                           f"{latency.off_cpu()}")
    return estimate


def cost_for(spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
          workload: Workload | None, latency: LatencyResult | None, skipped: str | None,
          target: TargetEstimate | None, on_target: bool) -> CostEstimate | None:
    """Cost per 1,000 inferences from the mean latency on the target (estimated or measured)."""
    if spec.cost is None and (device is None or device.price_per_hour is None):
        return None
    from deploygate.targets.workload import batch_size

    batch = batch_size(artifact, spec.latency, latency.input_shapes if latency else None)
    ms: float | None
    if latency is not None and (on_target or target is None):
        where = f"measurement on {device.id}" if on_target and device else "host measurement"
        ms, source = latency.mean_ms, f"{where} (mean)"
    elif target is not None:
        # The device runs the model alone: its typical run, which the estimate is, is its mean.
        ms = target.ms
        source = f"{'calibrated' if target.calibrated else 'uncalibrated'} target estimate"
    else:
        ms, source = None, skipped or "no latency was measured or estimated"
    return estimate_cost(device, ms, source, batch)
