"""The one place that wires the stages: manifest -> artifacts -> probe -> checks -> report."""

from __future__ import annotations


from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from deploygate.artifacts import ArtifactInfo, inspect_artifact
from deploygate.checks import run_checks
from deploygate.checks.context import ModelContext
from deploygate.errors import DeploygateError
from deploygate.findings import Finding, Location, Severity
from deploygate.host import host_info
from deploygate.manifest.load import load_manifest
from deploygate.manifest.model import Device, LatencySpec, Manifest, ModelSpec
from deploygate.probe.result import LatencyResult
from deploygate.report import ModelReport, Report
from deploygate.targets.catalog import load_catalog
from deploygate.targets.memory import estimate_memory


@dataclass(frozen=True)
class CheckOptions:
    """What `deploygate check` was asked to do."""

    manifest: Path
    """The manifest file."""
    models: tuple[str, ...] = ()
    """Only these models (all when empty)."""
    probe: bool = True
    """Whether to measure latency."""
    strict: bool = False
    """Whether warnings fail the gate."""
    base: str | None = None
    """Git ref to compare with (overrides ``baseline.ref``)."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while the gate works."""


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_check(options: CheckOptions) -> Report:
    """Run the gate and return its report (never raises for user errors)."""
    shown = display_path(options.manifest)
    loaded = load_manifest(options.manifest, shown)
    if loaded.manifest is None:
        return Report(shown, findings=loaded.findings, strict=options.strict, host=host_info())
    manifest = loaded.manifest
    selected, findings = _select(manifest, options.models)
    reports = tuple(_check_model(manifest, spec, options) for spec in selected)
    return Report(shown, reports, tuple(_locate(manifest, f) for f in findings),
                  strict=options.strict, host=host_info())


def _select(manifest: Manifest, names: tuple[str, ...]) -> tuple[list[ModelSpec], list[Finding]]:
    known = {m.name: m for m in manifest.models}
    findings = [Finding("DG107", Severity.ERROR,
                        f"--model {name}: no such model in the manifest (models: {', '.join(known)})",
                        Location(manifest.display)) for name in names if name not in known]
    selected = [m for m in manifest.models if not names or m.name in names]
    return selected, findings


def device_for(manifest: Manifest, spec: ModelSpec) -> Device | None:
    """The target device of ``spec``, from the manifest's devices or the catalog."""
    if spec.target.device is None:
        return None
    return manifest.devices.get(spec.target.device) or load_catalog().get(spec.target.device)


def _check_model(manifest: Manifest, spec: ModelSpec, options: CheckOptions) -> ModelReport:
    device = device_for(manifest, spec)
    report = ModelReport(spec.name, spec.target, device, latency_spec=spec.latency)
    shown = display_path(spec.resolved_path)
    say = options.progress or (lambda _msg: None)
    say(f"{spec.name}: inspecting {shown}")
    try:
        artifact = inspect_artifact(spec.resolved_path, display=shown, declared_format=spec.format)
    except DeploygateError as e:
        finding = Finding(e.rule, Severity.ERROR, str(e), Location(manifest.display, f"{spec.key}.path"),
                          spec.name)
        return replace(report, findings=(_locate(manifest, finding),))
    findings: list[Finding] = []
    if artifact.contains_code:
        findings.append(Finding("DG207", Severity.WARNING,
                                f"{shown} is a TorchScript archive: loading it runs the code inside; "
                                "review it or ship weights as safetensors",
                                Location(manifest.display, f"{spec.key}.path"), spec.name))
    latency, skipped = _probe(manifest, spec, device, artifact, options, findings)
    ctx = ModelContext(spec, manifest.display, artifact, estimate_memory(artifact), device, latency,
                       skipped)
    findings.extend(run_checks(ctx))
    estimates = {"memory_bytes": ctx.memory.total, "weights_bytes": ctx.memory.weights,
                 "overhead_bytes": ctx.memory.overhead}
    located = sorted((_locate(manifest, f) for f in findings), key=_line)
    return replace(report, artifact=artifact, latency=latency, estimates=estimates,
                   findings=tuple(located))


def _probe(manifest: Manifest, spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
           options: CheckOptions, findings: list[Finding]) -> tuple[LatencyResult | None, str | None]:
    """Measure latency when asked and possible; failures become findings."""
    if spec.latency is None:
        return None, None
    if not options.probe:
        return None, "the probe was skipped (--no-probe)"
    if not artifact.runnable:
        return None, f"{artifact.format} models are not probed (onnxruntime runs ONNX only)"
    from deploygate.probe import default_threads, probe_latency

    threads = spec.latency.threads or (device.cores if device and device.cores else None) \
        or default_threads()
    try:
        result = probe_latency(spec.resolved_path, spec.latency, threads=threads, root=manifest.root,
                               base_dir=manifest.file.parent, display=display_path(spec.resolved_path),
                               progress=options.progress)
    except DeploygateError as e:
        key = f"{spec.key}.{e.path}" if e.path else f"{spec.key}.latency"
        findings.append(Finding(e.rule, Severity.ERROR, str(e), Location(manifest.display, key),
                                spec.name))
        return None, "the probe failed"
    return result, None


def _line(finding: Finding) -> int:
    return finding.location.line or 0 if finding.location else 0


@dataclass(frozen=True)
class ProbeOptions:
    """What `deploygate probe` was asked to do."""

    model: Path
    """The ONNX model file."""
    spec: LatencySpec
    """Latency settings built from the flags."""
    threads: int | None = None
    """intra-op threads; default: the host's cores."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while measuring."""


def run_probe(options: ProbeOptions) -> tuple[ArtifactInfo, LatencyResult]:
    """Inspect and probe one model without a manifest; raises DeploygateError on failure."""
    from deploygate.errors import ProbeError
    from deploygate.manifest.load import find_repository_root
    from deploygate.probe import default_threads, probe_latency

    shown = display_path(options.model)
    artifact = inspect_artifact(options.model, display=shown)
    if not artifact.runnable:
        raise ProbeError(f"{artifact.format} models are not probed (onnxruntime runs ONNX only)",
                         file=shown)
    cwd = Path.cwd()
    result = probe_latency(options.model, options.spec, threads=options.threads or default_threads(),
                           root=find_repository_root(cwd), base_dir=cwd, display=shown,
                           progress=options.progress)
    return artifact, result


def _locate(manifest: Manifest, finding: Finding) -> Finding:
    """Resolve a finding's key path to line and column in the manifest."""
    loc = finding.location
    if loc is None or loc.path is None or loc.line is not None:
        return finding
    mark = manifest.mark(loc.path)
    if mark is None:
        return finding
    return replace(finding, location=replace(loc, line=mark[0], column=mark[1]))


