"""Which devices meet a model's constraints: memory fit, estimated latency against the budget,
and cost per 1,000 inferences; the cheapest device that meets them all first."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploygate.artifacts.base import ArtifactInfo
from deploygate.manifest.model import Device, ModelSpec
from deploygate.probe.result import LatencyResult
from deploygate.targets.calibrate import HostPeaks
from deploygate.targets.cost import usd_per_1k
from deploygate.targets.assess import device_estimate
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import MemoryEstimate
from deploygate.targets.workload import Workload


@dataclass(frozen=True)
class DeviceAdvice:
    """One device judged against one model's constraints."""

    device: Device
    """The device."""
    fits: bool
    """Whether the estimated serving memory fits the device's memory."""
    headroom_bytes: int
    """Device memory left after the model (negative when it does not fit)."""
    estimate: TargetEstimate | None
    """Estimated latency at the manifest's percentile (None: the device has no compute figure)."""
    latency: str
    """pass, fail, inconclusive (budget inside the band), unknown, or n/a (no budget)."""
    usd_per_1k: float | None
    """Cost of 1,000 inferences (None: no price or no latency)."""
    cost: str
    """pass, fail, unknown, or n/a (no ceiling)."""
    kind_matches: bool
    """Whether the device's kind is the target's kind (edge/cloud)."""
    within_budget: bool = True
    """Whether the central latency estimate is within the budget (True without a budget)."""

    @property
    def meets_all(self) -> bool:
        """Fits, right kind, latency and cost within their limits (a central estimate under the
        budget counts, even when the band straddles it)."""
        latency_ok = self.latency in ("pass", "n/a") or (self.latency == "inconclusive"
                                                         and self.within_budget)
        return self.fits and self.kind_matches and latency_ok and self.cost in ("pass", "n/a")

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``deploygate advise --format json``."""
        return {"device": self.device.id, "name": self.device.name, "kind": self.device.kind,
                "meets_all": self.meets_all, "fits": self.fits,
                "headroom_bytes": self.headroom_bytes, "kind_matches": self.kind_matches,
                "latency": self.latency,
                "estimate": self.estimate.to_json() if self.estimate else None,
                "usd_per_1k": self.usd_per_1k, "cost": self.cost,
                "price_per_hour": self.device.price_per_hour}


@dataclass(frozen=True)
class ModelAdvice:
    """Every device ranked for one model."""

    spec: ModelSpec
    """The model's manifest entry."""
    memory: MemoryEstimate | None
    """Estimated serving memory (None when the artifact could not be read)."""
    devices: tuple[DeviceAdvice, ...] = ()
    """Ranked: devices meeting every constraint first, cheapest first."""
    calibration: str = ""
    """How latency was estimated: calibrated on a host measurement, or from the published fit."""
    error: str | None = None
    """Why the model could not be advised on, when it could not."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Caveats (partial shape coverage, uncounted ops)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``deploygate advise --format json``."""
        return {"name": self.spec.name,
                "target": {"kind": self.spec.target.kind, "device": self.spec.target.device},
                "budget_ms": self.spec.latency.budget_ms if self.spec.latency else None,
                "max_usd_per_1k": self.spec.cost.max_usd_per_1k if self.spec.cost else None,
                "memory_bytes": self.memory.total if self.memory else None,
                "calibration": self.calibration, "error": self.error, "notes": list(self.notes),
                "devices": [d.to_json() for d in self.devices]}


def _latency_verdict(estimate: TargetEstimate | None, budget: float | None) -> str:
    if budget is None:
        return "n/a"
    return "unknown" if estimate is None else estimate.verdict(budget)


def advise_device(spec: ModelSpec, device: Device, memory: MemoryEstimate,
                  workload: Workload | None, latency: LatencyResult | None,
                  host: HostPeaks | None, batch: int = 1, int8_weights: bool = False) -> DeviceAdvice:
    """Judge ``device`` for the model: memory, estimated latency, cost."""
    budget = spec.latency.budget_ms if spec.latency else None
    # The manifest's runtime path applies to its own device; others run their usual path.
    # The estimate is check's (assess.device_estimate), and, a device running the model alone,
    # also what the cost is paid for.
    own = device.id == spec.target.device
    estimate = device_estimate(device, workload, latency, int8_weights=int8_weights,
                               runtime=spec.target.runtime if own else None,
                               precision=spec.target.precision if own else None, host=host)
    cost_usd = (usd_per_1k(device.price_per_hour, estimate.ms, batch)
                if estimate is not None and device.price_per_hour is not None else None)
    if spec.cost is None:
        cost = "n/a"
    elif cost_usd is None:
        cost = "unknown"
    else:
        cost = "pass" if cost_usd <= spec.cost.max_usd_per_1k else "fail"
    return DeviceAdvice(device, memory.total <= device.memory, device.memory - memory.total,
                        estimate, _latency_verdict(estimate, budget), cost_usd, cost,
                        device.kind == spec.target.kind,
                        budget is None or (estimate is not None and estimate.ms <= budget))


def rank(advice: list[DeviceAdvice]) -> tuple[DeviceAdvice, ...]:
    """Devices meeting every constraint first; then by cost, then by estimated latency."""
    def key(a: DeviceAdvice) -> tuple[bool, bool, float, float]:
        return (not a.meets_all, not a.fits,
                a.usd_per_1k if a.usd_per_1k is not None else math.inf,
                a.estimate.ms if a.estimate is not None else math.inf)
    return tuple(sorted(advice, key=key))


def advise_model(spec: ModelSpec, artifact: ArtifactInfo, memory: MemoryEstimate,
                 workload: Workload | None, devices: Mapping[str, Device],
                 latency: LatencyResult | None = None, host: HostPeaks | None = None,
                 batch: int = 1, int8_weights: bool = False) -> ModelAdvice:
    """Every device in ``devices`` judged and ranked for one model."""
    judged = [advise_device(spec, d, memory, workload, latency, host, batch, int8_weights)
              for d in devices.values()]
    if workload is None:
        calibration = "no workload could be counted: latency and cost unknown"
    elif latency is not None and latency.on_cpu and host is not None:
        calibration = (f"CPU devices calibrated on this host's measurement "
                       f"(its median run, {latency.p50_ms:.3g} ms, "
                       f"{latency.threads} threads); other runtime paths fitted to published "
                       "measurements")
    elif latency is not None and not latency.on_cpu:
        calibration = ("every runtime path fitted to published measurements; none calibrated on "
                       f"this host, {latency.off_cpu()}")
    else:
        calibration = ("every runtime path fitted to published measurements; none calibrated on "
                       "this host (nothing was measured here)")
    notes = []
    if workload is not None and workload.coverage < 1:
        notes.append(f"shapes known for {workload.coverage:.0%} of nodes")
    if workload is not None and workload.uncounted_ops:
        notes.append("no cost model for " + ", ".join(workload.uncounted_ops))
    if workload is not None and workload.per == "token":
        notes.append(f"latency is per generated token at a {workload.context_tokens}-token context")
    return ModelAdvice(spec, memory, rank(judged), calibration, notes=tuple(notes))


@dataclass(frozen=True)
class AdviceReport:
    """``deploygate advise``: every selected model's ranked devices."""

    manifest: str
    """The manifest as displayed."""
    models: tuple[ModelAdvice, ...] = ()
    """Per model, manifest order."""
    findings: tuple[Any, ...] = ()
    """Manifest-level findings (an invalid manifest, an unknown --model)."""

    @property
    def exit_code(self) -> int:
        """0, or 2 when the manifest or a model could not be read."""
        from deploygate.findings import exit_code

        unreadable = any(m.error for m in self.models)
        return max(exit_code(self.findings), 2 if unreadable else 0)

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        from deploygate.findings import finding_json

        return {"manifest": self.manifest, "models": [m.to_json() for m in self.models],
                "findings": [finding_json(f) for f in self.findings]}

