"""The one place that wires the stages: manifest -> artifacts -> probe -> checks -> report."""

from __future__ import annotations


from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from deploygate.targets.cost import CostEstimate, estimate_cost
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import estimate_memory
from deploygate.targets.workload import Workload

if TYPE_CHECKING:
    from deploygate.targets.advise import AdviceReport, ModelAdvice


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
    on_device: str | None = None
    """The device this gate runs on (--on-device / DEPLOYGATE_DEVICE): for models targeting
    it, the measurement is the target's latency and nothing is estimated."""


@dataclass(frozen=True)
class AdviseOptions:
    """What `deploygate advise` was asked to do."""

    manifest: Path
    """The manifest file."""
    models: tuple[str, ...] = ()
    """Only these models (all when empty)."""
    probe: bool = True
    """Whether to measure latency on this host to calibrate the estimates."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while it works."""


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
    if options.on_device and options.on_device not in manifest.devices \
            and options.on_device not in load_catalog():
        findings.append(Finding("DG100", Severity.ERROR,
                                f"--on-device {options.on_device}: not a catalog device or a key of "
                                "`devices` (see `deploygate devices`)", Location(manifest.display)))
    reports = tuple(_check_model(manifest, spec, options) for spec in selected)
    return Report(shown, reports, tuple(_locate(manifest, f) for f in findings),
                  strict=options.strict, host=host_info())


def run_advise(options: AdviseOptions) -> AdviceReport:
    """Rank every catalog and manifest device for each model (never raises for user errors)."""
    from deploygate.targets.advise import AdviceReport

    shown = display_path(options.manifest)
    loaded = load_manifest(options.manifest, shown)
    if loaded.manifest is None:
        return AdviceReport(shown, findings=loaded.findings)
    manifest = loaded.manifest
    selected, findings = _select(manifest, options.models)
    devices = {**load_catalog(), **manifest.devices}
    return AdviceReport(shown, tuple(_advise_model(manifest, spec, devices, options)
                                     for spec in selected), tuple(findings))


def _advise_model(manifest: Manifest, spec: ModelSpec, devices: dict[str, Device],
                  options: AdviseOptions) -> ModelAdvice:
    from deploygate.targets.advise import ModelAdvice, advise_model
    from deploygate.targets.workload import batch_size

    shown = display_path(spec.resolved_path)
    try:
        artifact = inspect_artifact(spec.resolved_path, display=shown, declared_format=spec.format)
    except DeploygateError as e:
        return ModelAdvice(spec, None, error=str(e))
    probe_findings: list[Finding] = []
    latency, skipped = _probe(manifest, spec, device_for(manifest, spec), artifact,
                              CheckOptions(manifest.file, probe=options.probe,
                                           progress=options.progress), probe_findings)
    host = None
    if latency is not None:
        from deploygate.targets.calibrate import host_peaks

        host = host_peaks()
    workload = _workload(spec, artifact, latency)
    advice = advise_model(spec, artifact, estimate_memory(artifact, workload=workload), workload,
                          devices, latency, host,
                          batch_size(artifact, spec.latency, latency.input_shapes if latency else None),
                          _int8_weights(artifact))
    notes = [f.message for f in probe_findings] + ([skipped] if skipped else [])
    return replace(advice, notes=advice.notes + tuple(notes))


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
    on_target = bool(options.on_device and device is not None and device.id == options.on_device)
    ctx = build_context(spec, manifest.display, artifact, device, latency, skipped,
                        on_target=on_target)
    findings.extend(run_checks(ctx))
    located = sorted((_locate(manifest, f) for f in findings), key=_line)
    return replace(report, artifact=artifact, latency=ctx.latency, estimates=estimates_json(ctx),
                   findings=tuple(located))


def build_context(spec: ModelSpec, manifest: str, artifact: ArtifactInfo, device: Device | None,
                  latency: LatencyResult | None, skipped: str | None = None, *,
                  on_target: bool = False) -> ModelContext:
    """Everything the checks judge about one model: workload, memory, target latency and cost.

    ``on_target`` says the latency was measured on the target device itself, so it is the
    target's figure and nothing is estimated.
    """
    if latency is not None and on_target and device is not None:
        latency = replace(latency, measured_on=device.id)
    workload = _workload(spec, artifact, latency)
    memory = estimate_memory(artifact, workload=workload)
    target = None if on_target else _target_estimate(spec, device, artifact, workload, latency)
    cost = _cost(spec, device, artifact, workload, latency, skipped, target, on_target)
    return ModelContext(spec, manifest, artifact, memory, device, latency, skipped,
                        workload=workload, target=target, cost=cost)


def estimates_json(ctx: ModelContext) -> dict[str, Any]:
    """The report's ``estimates``: memory (with headroom), workload, target latency, cost."""
    device = ctx.device
    estimates = ctx.memory.to_json(device.memory if device is not None else None)
    if ctx.workload is not None:
        estimates["workload"] = ctx.workload.to_json()
    if ctx.target is not None:
        estimates["target_latency_ms"] = ctx.target.ms
        estimates["target_latency"] = ctx.target.to_json()
    if ctx.cost is not None:
        estimates["cost"] = ctx.cost.to_json()
        if ctx.cost.usd_per_1k is not None:
            estimates["usd_per_1k"] = ctx.cost.usd_per_1k
    return estimates


def _workload(spec: ModelSpec, artifact: ArtifactInfo,
              latency: LatencyResult | None) -> Workload | None:
    """FLOPs and bytes per inference at the probe's shapes (else the manifest's pinned dims)."""
    from deploygate.targets.workload import estimate_workload, pinned_shapes

    assumed: tuple[str, ...] = ()
    if latency is not None and latency.input_shapes:
        shapes = dict(latency.input_shapes)
    else:
        shapes, assumed = pinned_shapes(artifact, spec.latency)
    from google.protobuf.message import DecodeError

    try:
        return estimate_workload(spec.resolved_path, artifact, shapes, assumed)
    except (OSError, ValueError, DecodeError):
        # Inspection already judged the file; a graph that cannot be counted only leaves the
        # estimates out (the checks that need them say what is missing).
        return None


def _int8_weights(artifact: ArtifactInfo) -> bool:
    """Whether most weight bytes are 8-bit or smaller integers (int8 accelerator peaks apply)."""
    small = sum(n for dtype, n in artifact.bytes_by_dtype.items()
                if dtype.lower().startswith(("int8", "uint8", "int4", "uint4", "q")))
    return small * 2 > artifact.weights_bytes > 0


def _target_estimate(spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
                     workload: Workload | None, latency: LatencyResult | None,
                     measured_ms: float | None = None) -> TargetEstimate | None:
    """The roofline estimate on the target, calibrated by the host measurement when there is one."""
    if device is None or workload is None or not device.compute:
        return None
    from deploygate.targets.estimate import estimate_target, is_accelerator

    host = None
    if latency is not None and not is_accelerator(device):
        from deploygate.targets.calibrate import host_peaks

        host = host_peaks()
        if measured_ms is None:
            measured_ms = latency.at(spec.latency.percentile if spec.latency else "p95")
    return estimate_target(workload, device, measured_ms=measured_ms if host else None, host=host,
                           threads=latency.threads if latency else 1,
                           int8_weights=_int8_weights(artifact))


def _cost(spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
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
        # Cost follows total time, so the estimate is redone from the mean, not the percentile.
        mean = _target_estimate(spec, device, artifact, workload, latency,
                                latency.mean_ms if latency else None) if latency else target
        ms = (mean or target).ms
        source = f"{'calibrated' if target.calibrated else 'uncalibrated'} target estimate"
    else:
        ms, source = None, skipped or "no latency was measured or estimated"
    return estimate_cost(device, ms, source, batch)


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


