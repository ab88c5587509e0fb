"""The result of a run: per-model facts and findings. Reporters render it; nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from deploygate import __version__
from deploygate.artifacts.base import ArtifactInfo
from deploygate.baseline import BaselineComparison
from deploygate.checks.latency import DG401, DG402, DG404
from deploygate.checks.target import DG405, DG406, DG407
from deploygate.errors import DG403
from deploygate.findings import Finding, exit_code, finding_json
from deploygate.manifest.model import Device, LatencySpec, Target
from deploygate.probe.result import LatencyResult
from deploygate.probe.verdict import Verdict
from deploygate.targets.assess import Assessment



_LATENCY_FAILED = {DG401.id, DG405.id}
_LATENCY_INCONCLUSIVE = {DG402.id, DG406.id}
_LATENCY_UNJUDGED = {DG403.id, DG404.id, DG407.id}


@dataclass(frozen=True)
class ModelReport:
    """Everything the gate learned and judged about one model."""

    name: str
    """The model's name in the manifest."""
    target: Target
    """Declared target."""
    device: Device | None = None
    """The resolved device, when the target names one."""
    artifact: ArtifactInfo | None = None
    """Inspection facts; None when the artifact could not be read."""
    latency_spec: LatencySpec | None = None
    """The manifest's latency settings."""
    latency: LatencyResult | None = None
    """Measured latency; None when no probe ran."""
    estimates: Assessment | None = None
    """Derived figures: estimated memory, workload, target latency, cost; None when the
    artifact could not be read."""
    baseline: BaselineComparison | None = None
    """The comparison with the base ref, when one was asked for."""
    findings: tuple[Finding, ...] = ()
    """This model's findings."""
    manifest: str | None = None
    """The manifest that declares the model, as displayed (several can share one report)."""
    strict: bool = False
    """Whether warnings fail the gate: always the report's own (``Report`` sets it)."""

    @property
    def exit_code(self) -> int:
        """The exit code this model alone would cause: the run's rule, ``--strict`` included."""
        return exit_code(self.findings, self.strict)

    @property
    def passed(self) -> bool:
        """Whether this model passes the gate: the exit code's rule, ``--strict`` included, so
        every reporter shows the verdict the exit code gives."""
        return self.exit_code == 0

    @property
    def latency_verdict(self) -> Verdict | None:
        """pass, fail or inconclusive for the latency budget, read from the findings the
        latency checks made (the one place the verdict is taken); None when nothing judged it."""
        if self.latency_spec is None or self.latency_spec.budget_ms is None:
            return None
        rules = {f.rule for f in self.findings}
        if rules & _LATENCY_FAILED:
            return "fail"
        if rules & _LATENCY_INCONCLUSIVE:
            return "inconclusive"
        if rules & _LATENCY_UNJUDGED:
            return None
        judged = self.latency is not None or self.target_ms is not None
        return "pass" if judged else None

    @property
    def target_ms(self) -> float | None:
        """The estimated latency on the target device, when estimated."""
        target = self.estimates.target if self.estimates is not None else None
        return target.ms if target is not None else None

    @property
    def usd_per_1k(self) -> float | None:
        """The cost of 1,000 inferences, when known."""
        cost = self.estimates.cost if self.estimates is not None else None
        return cost.usd_per_1k if cost is not None else None

    def latency_json(self) -> dict[str, Any] | None:
        """The report's ``latency`` object, or None when nothing was measured."""
        if self.latency is None:
            return None
        spec = self.latency_spec or LatencySpec()
        return {"percentile": spec.percentile, "budget_ms": spec.budget_ms,
                "verdict": self.latency_verdict, "on_inconclusive": spec.on_inconclusive,
                "estimated_target_ms": self.target_ms,
                **self.latency.to_json()}


@dataclass(frozen=True)
class Report:
    """A whole run of the gate."""

    manifest: str
    """The manifest as displayed."""
    models: tuple[ModelReport, ...] = ()
    """Per-model results, manifest order."""
    findings: tuple[Finding, ...] = ()
    """Manifest-level findings (schema errors, unknown --model names)."""
    strict: bool = False
    """Whether warnings fail the gate."""
    host: dict[str, Any] = field(default_factory=dict)
    """Where this ran: CPU, cores, Python, onnxruntime."""
    manifests: tuple[str, ...] = ()
    """Every manifest judged, when there were several (``manifest`` then lists them all)."""

    def __post_init__(self) -> None:
        # One rule for every verdict: each model is judged under the report's --strict.
        models = tuple(m if m.strict == self.strict else replace(m, strict=self.strict)
                       for m in self.models)
        object.__setattr__(self, "models", models)

    @classmethod
    def combine(cls, parts: list[Report], *, strict: bool = False,
                host: dict[str, Any] | None = None) -> Report:
        """One report of several: models and findings in order, manifests listed once each."""
        shown = list(dict.fromkeys(name for part in parts
                                   for name in (part.manifests or (part.manifest,))))
        return cls(", ".join(shown), tuple(m for part in parts for m in part.models),
                   tuple(f for part in parts for f in part.findings), strict=strict,
                   host=host if host is not None else (parts[0].host if parts else {}),
                   manifests=tuple(shown) if len(shown) > 1 else ())

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        """Manifest-level findings followed by every model's."""
        return self.findings + tuple(f for m in self.models for f in m.findings)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 violation, 2 cannot judge (see DESIGN.md)."""
        return exit_code(self.all_findings, self.strict)

    @property
    def passed(self) -> bool:
        """Whether the gate passes."""
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        """The JSON report (schemas/report.schema.json)."""
        return {
            "tool": {"name": "deploygate", "version": __version__},
            "manifest": self.manifest,
            **({"manifests": list(self.manifests)} if self.manifests else {}),
            "passed": self.passed,
            "exit_code": self.exit_code,
            "strict": self.strict,
            "host": self.host,
            "models": [{
                "name": m.name,
                **({"manifest": m.manifest} if m.manifest is not None else {}),
                "passed": m.passed,
                "exit_code": m.exit_code,
                "target": {"kind": m.target.kind, "device": m.target.device},
                "artifact": m.artifact.to_json() if m.artifact else None,
                "latency": m.latency_json(),
                "estimates": m.estimates.to_json() if m.estimates is not None else {},
                "baseline": m.baseline.to_json() if m.baseline else None,
                "findings": [finding_json(f) for f in m.findings],
            } for m in self.models],
            "findings": [finding_json(f) for f in self.findings],
        }

