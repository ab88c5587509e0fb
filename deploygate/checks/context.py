"""What a check sees about one model."""

from __future__ import annotations

from dataclasses import dataclass

from deploygate.artifacts.base import ArtifactInfo
from deploygate.baseline import BaselineComparison
from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.model import Device, ModelSpec
from deploygate.probe.result import LatencyResult
from deploygate.rules import Rule
from deploygate.targets.cost import CostEstimate
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import MemoryEstimate
from deploygate.targets.workload import Workload


@dataclass(frozen=True)
class ModelContext:
    """One model's manifest entry and the facts gathered upstream."""

    spec: ModelSpec
    """The model's manifest entry, defaults merged."""
    manifest: str
    """The manifest as displayed, for locations."""
    artifact: ArtifactInfo
    """Inspection facts."""
    memory: MemoryEstimate
    """Estimated serving memory."""
    device: Device | None = None
    """The target device, when named."""
    latency: LatencyResult | None = None
    """Measured latency, when the probe ran."""
    probe_skipped: str | None = None
    """Why no latency was measured (e.g. ``--no-probe``), when it was not."""
    workload: Workload | None = None
    """FLOPs and bytes per inference, when the artifact allows counting them."""
    target: TargetEstimate | None = None
    """Estimated latency on the target device (None when measured there or not estimable)."""
    cost: CostEstimate | None = None
    """Cost of 1,000 inferences, when the model declares a ceiling or the device has a price."""
    baseline: BaselineComparison | None = None
    """The comparison with the base ref, when one was asked for."""

    def finding(self, rule: Rule, key: str, message: str,
                severity: Severity = Severity.ERROR) -> Finding:
        """A finding of ``rule`` (a constant declared beside the check) located at ``key``
        (relative to the model entry)."""
        path = f"{self.spec.key}.{key}" if key else self.spec.key
        return Finding(rule.id, severity, message, Location(self.manifest, path), self.spec.name)


def unjudged(on_inconclusive: str, what: str = "noise") -> tuple[Severity, str]:
    """What a latency the gate cannot judge does, by ``latency.on_inconclusive``: its severity
    and the words every such finding uses (``what`` is the cause, as the fix names it)."""
    if on_inconclusive == "fail":
        return Severity.ERROR, "this fails the gate (latency.on_inconclusive: fail)"
    return Severity.WARNING, ("NOT JUDGED: only a warning (latency.on_inconclusive: warn; set it "
                              f"to fail to make {what} fail the gate)")
