"""The one place that wires the stages: manifest -> artifacts -> probe -> checks -> report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts import ArtifactInfo, inspect_artifact
from deploygate.baseline import (
    BaselineComparison, BaseRepository, Change, RefChoice, choose_ref, locate_base, removed_models,
)
from deploygate.checks import run_checks
from deploygate.checks.context import ModelContext, unjudged
from deploygate.checks.regression import check_removed
from deploygate.errors import BaselineError, DeploygateError
from deploygate.findings import Finding, Location, Severity
from deploygate.host import host_info
from deploygate.manifest.load import load_manifest
from deploygate.manifest.model import Device, LatencySpec, Manifest, ModelSpec
from deploygate.probe.ab import ABLatency
from deploygate.probe.result import LatencyResult
from deploygate.report import ModelReport, Report
from deploygate.rules import Outcome, Rule
from deploygate.targets.catalog import is_accelerator, load_catalog
from deploygate.targets.memory import estimate_memory
from deploygate.errors import DG100, DG107

if TYPE_CHECKING:
    from deploygate.targets.assess import Assessment
    from deploygate.targets.advise import AdviceReport, ModelAdvice


DEFAULT_TIME_BUDGET_S = 1800.0
"""A whole ``check`` (every manifest, model, probe and A/B probe) stops judging after this."""

DG112 = Rule("DG112", "time-budget-spent", Outcome.CANNOT_JUDGE,
             "The check's overall time budget was spent before this model (or its probe) was "
             "judged.",
             "Raise --time-budget, or split the models over jobs (`deploygate matrix`).")


@dataclass(frozen=True)
class OptionNames:
    """How messages name the options a caller set: the CLI passes its flags (``--model``); the
    defaults are the options' own field names."""

    models: str = "models"
    base: str = "base"
    on_device: str = "on_device"
    time_budget: str = "time_budget_s"


@dataclass(frozen=True)
class CheckOptions:
    """What `deploygate check` was asked to do."""

    manifest: Path
    """The manifest file."""
    models: tuple[str, ...] = ()
    """Only these models (all when empty)."""
    skip_probe: str | None = None
    """None: measure latency; else why it is not measured, in the caller's words (the CLI
    names its flag), which the report gives wherever a latency is missing."""
    manifests: tuple[Path, ...] = ()
    """Further manifests judged into the same report (`check -m A -m B`)."""
    strict: bool = False
    """Whether warnings fail the gate."""
    base: str | None = None
    """Git ref to compare with (overrides ``baseline.ref``)."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while the gate works."""
    on_device: str | None = None
    """The device this gate runs on (--on-device / DEPLOYGATE_DEVICE): for models targeting
    it, the measurement is the target's latency and nothing is estimated."""
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    """Seconds the whole check may take (--time-budget); past it, what is left is not judged."""
    deadline: float | None = None
    """``time.monotonic()`` when the budget is spent; set by :func:`run_check`."""
    names: OptionNames = OptionNames()
    """How messages name these options (the CLI: its flags)."""


@dataclass(frozen=True)
class AdviseOptions:
    """What `deploygate advise` was asked to do."""

    manifest: Path
    """The manifest file."""
    models: tuple[str, ...] = ()
    """Only these models (all when empty)."""
    skip_probe: str | None = None
    """None: measure latency on this host to calibrate the estimates; else why not, in the
    caller's words (a note on each model's advice)."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while it works."""
    names: OptionNames = OptionNames()
    """How messages name these options (the CLI: its flags)."""


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_check(options: CheckOptions) -> Report:
    """Run the gate on every manifest and return one report (never raises for user errors)."""
    if options.deadline is None:
        options = replace(options, deadline=time.monotonic() + options.time_budget_s)
    files = (options.manifest, *options.manifests)
    parts = [_check_manifest(file, options) for file in files]
    known = {spec.name for _, manifest in parts if manifest for spec in manifest.models}
    findings: list[Finding] = []
    # Unknown model names are judged only when every manifest loaded (else any might hold it).
    if all(manifest is not None for _, manifest in parts):
        shown = parts[0][0].manifest
        findings = [Finding(DG107.id, Severity.ERROR,
                            f"{options.names.models} {name}: no such model in the manifest"
                            f"{'s' * (len(files) > 1)} (models: {', '.join(sorted(known))})",
                            Location(shown)) for name in options.models if name not in known]
    findings += _coverage([manifest for _, manifest in parts if manifest is not None], options)
    report = Report.combine([report for report, _ in parts], strict=options.strict,
                            host=host_info())
    return replace(report, findings=tuple(findings) + report.findings)


def _coverage(manifests: list[Manifest], options: CheckOptions) -> list[Finding]:
    """Model files no manifest covers, per repository (only the changed ones, given a base)."""
    from deploygate.baseline import pull_request_base
    from deploygate.policy import check_coverage

    choice = (RefChoice(options.base, options.names.base) if options.base
              else pull_request_base(os.environ))
    findings: list[Finding] = []
    for root in sorted({m.root for m in manifests}):
        here = [m for m in manifests if m.root == root]
        if all(m.coverage == "off" for m in here):
            continue
        changed = None
        with BaseRepository(root, options.deadline) as repo:
            try:
                listed = repo.tracked_paths()
            except BaselineError:
                listed = None
            if choice is not None:
                try:
                    changed = repo.changed_paths(repo.resolve(choice))
                except BaselineError:
                    changed = None  # no base to diff with: every uncovered file is reported
        findings += check_coverage(here, _from_cwd, changed=changed, listed=listed)
    return findings


def _from_cwd(path: Path) -> str:
    """``path`` as typed from the working directory, ``../`` included (a file anywhere in the
    repository, wherever the gate runs)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _check_manifest(file: Path, options: CheckOptions) -> tuple[Report, Manifest | None]:
    """One manifest's report, and the manifest (None when it did not load)."""
    from deploygate.policy import apply_waivers

    shown = display_path(file)
    loaded = load_manifest(file, shown)
    if loaded.manifest is None:
        from deploygate.paths import find_repository_root

        root = find_repository_root(file.resolve().parent)
        return Report(shown, findings=tuple(_with_uri(f, root) for f in loaded.findings)), None
    manifest = loaded.manifest
    selected = [m for m in manifest.models if not options.models or m.name in options.models]
    findings: list[Finding] = []
    if options.on_device and options.on_device not in manifest.devices \
            and options.on_device not in load_catalog():
        findings.append(Finding(DG100.id, Severity.ERROR,
                                f"{options.names.on_device} {options.on_device}: not a catalog "
                                "device or a key of "
                                "`devices` (see `deploygate devices`)", Location(manifest.display)))
    given = RefChoice(options.base, options.names.base) if options.base else None
    choices = {spec.name: choose_ref(given, spec.baseline, os.environ) for spec in selected}
    # Opening the repository is lazy: without a ref, git is never touched.
    with BaseRepository(manifest.root, options.deadline) as base_repo:
        reports = tuple(replace(_check_model(manifest, spec, options, base_repo, choices[spec.name]),
                                manifest=manifest.display)
                        for spec in selected)
        findings.extend(check_removed(removed_models(manifest, base_repo, choices.values()),
                                      manifest.display))
    reports, waiver_findings = apply_waivers(manifest, reports)
    findings.extend(waiver_findings)
    return Report(shown, reports, tuple(_locate(manifest, f) for f in findings)), manifest


def _with_uri(finding: Finding, root: Path) -> Finding:
    """``finding`` with its file also named relative to the repository root (for SARIF, GitLab)."""
    loc = finding.location
    if loc is None or loc.uri is not None:
        return finding
    try:
        uri = Path(loc.file).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return finding
    return replace(finding, location=replace(loc, uri=uri))


def run_advise(options: AdviseOptions) -> AdviceReport:
    """Rank every catalog and manifest device for each model (never raises for user errors)."""
    from deploygate.targets.advise import AdviceReport

    shown = display_path(options.manifest)
    loaded = load_manifest(options.manifest, shown)
    if loaded.manifest is None:
        return AdviceReport(shown, findings=loaded.findings)
    manifest = loaded.manifest
    selected, findings = _select(manifest, options.models, options.names.models)
    devices = {**load_catalog(), **manifest.devices}
    deadline = time.monotonic() + DEFAULT_TIME_BUDGET_S  # advise's probes share one budget too
    return AdviceReport(shown, tuple(_advise_model(manifest, spec, devices, options, deadline)
                                     for spec in selected), tuple(findings))


def _advise_model(manifest: Manifest, spec: ModelSpec, devices: dict[str, Device],
                  options: AdviseOptions, deadline: float) -> ModelAdvice:
    from deploygate.targets.advise import ModelAdvice, advise_model
    from deploygate.targets.assess import int8_weights, workload_for
    from deploygate.targets.workload import batch_size

    shown = display_path(spec.resolved_path)
    try:
        artifact = inspect_artifact(spec.resolved_path, display=shown, declared_format=spec.format,
                                    allow_globals=frozenset(spec.security.allow_globals))
    except DeploygateError as e:
        return ModelAdvice(spec, None, error=str(e))
    probe_findings: list[Finding] = []
    latency, skipped = _probe(manifest, spec, device_for(manifest, spec), artifact,
                              CheckOptions(manifest.file, skip_probe=options.skip_probe,
                                           progress=options.progress, deadline=deadline),
                              probe_findings)
    workload = workload_for(spec, artifact, latency)
    host = None
    if latency is not None and latency.on_cpu and workload is not None:
        from deploygate.targets.calibrate import host_peaks_for

        host = host_peaks_for(workload.flops, latency.p50_ms, latency.threads)
    advice = advise_model(spec, artifact,
                          estimate_memory(artifact, workload=workload, serving=spec.serving),
                          workload, devices, latency, host,
                          batch_size(artifact, spec.latency, latency.input_shapes if latency else None),
                          int8_weights(artifact))
    notes = [f.message for f in probe_findings] + ([skipped] if skipped else [])
    return replace(advice, notes=advice.notes + tuple(notes))


def _select(manifest: Manifest, names: tuple[str, ...],
            given_as: str) -> tuple[list[ModelSpec], list[Finding]]:
    known = {m.name: m for m in manifest.models}
    findings = [Finding(DG107.id, Severity.ERROR,
                        f"{given_as} {name}: no such model in the manifest (models: {', '.join(known)})",
                        Location(manifest.display)) for name in names if name not in known]
    selected = [m for m in manifest.models if not names or m.name in names]
    return selected, findings


def device_for(manifest: Manifest, spec: ModelSpec) -> Device | None:
    """The target device of ``spec``, from the manifest's devices or the catalog."""
    if spec.target.device is None:
        return None
    return manifest.devices.get(spec.target.device) or load_catalog().get(spec.target.device)


def _check_model(manifest: Manifest, spec: ModelSpec, options: CheckOptions,
                 base_repo: BaseRepository, choice: RefChoice | None) -> ModelReport:
    device = device_for(manifest, spec)
    report = ModelReport(spec.name, spec.target, device, latency_spec=spec.latency)
    shown = display_path(spec.resolved_path)
    if _remaining(options) <= 0:
        finding = _budget_spent(options, manifest, spec, "before this model was inspected")
        return replace(report, findings=(_locate(manifest, finding),))
    say = options.progress or (lambda _msg: None)
    say(f"{spec.name}: inspecting {shown}")
    try:
        artifact = inspect_artifact(spec.resolved_path, display=shown, declared_format=spec.format,
                                    allow_globals=frozenset(spec.security.allow_globals))
    except DeploygateError as e:
        finding = Finding(e.rule, Severity.ERROR, str(e), Location(manifest.display, f"{spec.key}.path"),
                          spec.name)
        return replace(report, findings=(_locate(manifest, finding),))
    findings: list[Finding] = []
    latency, skipped = _probe(manifest, spec, device, artifact, options, findings)
    on_target = measured_on_target(options.on_device, device, latency)
    comparison = _compare(manifest, spec, device, artifact, options, base_repo, choice)
    ctx = build_context(spec, manifest.display, artifact, device, latency, skipped,
                        on_target=on_target, baseline=comparison)
    findings.extend(run_checks(ctx))
    located = sorted((_locate(manifest, f) for f in findings), key=_line)
    return replace(report, artifact=artifact, latency=ctx.latency, estimates=assessment(ctx),
                   baseline=comparison, findings=tuple(located))


def measured_on_target(on_device: str | None, device: Device | None,
                       latency: LatencyResult | None) -> bool:
    """Whether the probe's measurement is the target's own latency: this runner is the target
    device (``--on-device``), and the model ran on that device's processor, a GPU execution
    provider for an accelerator and the CPU for a CPU device. A CPU run on a GPU runner says
    nothing of the GPU: the target is then estimated, as from any other host."""
    if not on_device or device is None or device.id != on_device:
        return False
    return latency is None or latency.on_cpu != is_accelerator(device)


def _threads(spec: ModelSpec, device: Device | None) -> int:
    """Threads asked for: the manifest's, else the target device's cores, else the host's
    (the probe itself uses no more than the host's usable cores)."""
    from deploygate.host import usable_cores

    latency = spec.latency
    return (latency.threads if latency else None) \
        or (device.cores if device and device.cores else None) or usable_cores()


def build_context(spec: ModelSpec, manifest: str, artifact: ArtifactInfo, device: Device | None,
                  latency: LatencyResult | None, skipped: str | None = None, *,
                  on_target: bool = False,
                  baseline: BaselineComparison | None = None) -> ModelContext:
    """Everything the checks judge about one model: facts plus the targets stage's estimates.

    ``on_target`` says the latency was measured on the target device itself, so it is the
    target's figure and nothing is estimated.
    """
    from deploygate.targets.assess import assess

    if latency is not None and on_target and device is not None:
        latency = replace(latency, measured_on=device.id)
    found = assess(spec, artifact, device, latency, skipped, on_target=on_target)
    return ModelContext(spec, manifest, artifact, found.memory, device, latency, skipped,
                        workload=found.workload, target=found.target, cost=found.cost,
                        baseline=baseline)


def assessment(ctx: ModelContext) -> Assessment:
    """The report's ``estimates``: memory (with headroom), workload, target latency, cost."""
    from deploygate.targets.assess import Assessment

    return Assessment(ctx.memory, ctx.workload, ctx.target, ctx.cost,
                      device_memory=ctx.device.memory if ctx.device is not None else None)


def estimates_json(ctx: ModelContext) -> dict[str, Any]:
    """The report's ``estimates`` object for ``ctx``."""
    estimates: dict[str, Any] = assessment(ctx).to_json()
    return estimates


def _probe(manifest: Manifest, spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
           options: CheckOptions, findings: list[Finding]) -> tuple[LatencyResult | None, str | None]:
    """Measure latency when asked and possible; failures become findings."""
    if spec.latency is None:
        return None, None
    if options.skip_probe is not None:
        return None, options.skip_probe
    if not artifact.runnable:
        return None, _not_runnable(artifact)
    from deploygate.probe import BACKEND_MISSING, probe_latency

    threads = _threads(spec, device)
    latency_spec = _within_budget(spec.latency, options)
    if latency_spec is None:
        findings.append(_budget_spent(options, manifest, spec, "before its probe"))
        return None, "the check's time budget was spent"
    try:
        result = probe_latency(spec.resolved_path, latency_spec, threads=threads, root=manifest.root,
                               base_dir=manifest.file.parent, display=display_path(spec.resolved_path),
                               fmt=artifact.format, progress=options.progress)
    except DeploygateError as e:
        key = f"{spec.key}.{e.path}" if e.path else f"{spec.key}.latency"
        missing = e.rule == BACKEND_MISSING
        # A budget nobody can measure here follows latency.on_inconclusive, as DG407 does.
        severity, effect = unjudged(latency_spec.on_inconclusive, "this") if missing else \
            (Severity.ERROR, "")
        findings.append(Finding(e.rule, severity, f"{e}; {effect}" if effect else str(e),
                                Location(manifest.display, key), spec.name))
        return None, "its probe backend is not installed" if missing else "the probe failed"
    return result, None


def _not_runnable(artifact: ArtifactInfo) -> str:
    """Why ``artifact`` gets no latency measurement."""
    from deploygate.probe.backends import not_probed_reason

    return not_probed_reason(artifact.format)


def _remaining(options: CheckOptions) -> float:
    return float("inf") if options.deadline is None else options.deadline - time.monotonic()


def _within_budget(spec: LatencySpec, options: CheckOptions) -> LatencySpec | None:
    """``spec`` with its measuring time and hard timeout cut to what the check has left."""
    left = _remaining(options)
    if left <= 1:
        return None
    return replace(spec, timeout_s=min(spec.timeout_s, left),
                   max_time_s=min(spec.max_time_s, left / 2))


def _budget_spent(options: CheckOptions, manifest: Manifest, spec: ModelSpec,
                  when: str) -> Finding:
    return Finding(DG112.id, Severity.ERROR,
                   f"the check's time budget of {options.time_budget_s:g} s was spent {when}; "
                   f"nothing about it was judged (raise {options.names.time_budget}, or split the "
                   "models over jobs)", Location(manifest.display, spec.key), spec.name)


def _line(finding: Finding) -> int:
    return finding.location.line or 0 if finding.location else 0


@dataclass(frozen=True)
class ProbeOptions:
    """What `deploygate probe` was asked to do."""

    model: Path
    """The model file (ONNX, TFLite or GGUF)."""
    spec: LatencySpec
    """Latency settings built from the flags."""
    threads: int | None = None
    """intra-op threads; default: the host's cores."""
    progress: Callable[[str], None] | None = None
    """Receives short status lines while measuring."""


def run_probe(options: ProbeOptions) -> tuple[ArtifactInfo, LatencyResult]:
    """Inspect and probe one model without a manifest; raises DeploygateError on failure."""
    from deploygate.errors import ProbeError
    from deploygate.paths import find_repository_root
    from deploygate.host import usable_cores
    from deploygate.probe import probe_latency

    shown = display_path(options.model)
    artifact = inspect_artifact(options.model, display=shown)
    if not artifact.runnable:
        raise ProbeError(_not_runnable(artifact), file=shown)
    spec = options.spec
    if spec.ttft_ms is not None or spec.tokens_per_s is not None:
        # Said before measuring: only llama.cpp times a first token or a decode rate.
        from deploygate.errors import UsageError
        from deploygate.probe import choose_backend

        backend = choose_backend(artifact.format, spec, shown)
        if backend.name != "llama.cpp":
            raise UsageError(f"--ttft-ms and --tokens-per-s judge LLMs measured with llama.cpp; "
                             f"{backend.name} measures {shown}")
    cwd = Path.cwd()
    result = probe_latency(options.model, options.spec,
                           threads=options.threads or usable_cores(),
                           root=find_repository_root(cwd), base_dir=cwd, display=shown,
                           fmt=artifact.format, progress=options.progress)
    return artifact, result


def _locate(manifest: Manifest, finding: Finding) -> Finding:
    """Resolve a finding's key path to line and column in the manifest, and its repository URI."""
    finding = _with_uri(finding, manifest.root)
    loc = finding.location
    if loc is None or loc.path is None or loc.line is not None:
        return finding
    span = manifest.span(loc.path)
    if span is None:
        return finding
    line, column, end_line, end_column = span
    return replace(finding, location=replace(loc, line=line, column=column, end_line=end_line,
                                             end_column=end_column))


def _compare(manifest: Manifest, spec: ModelSpec, device: Device | None, artifact: ArtifactInfo,
             options: CheckOptions, repo: BaseRepository,
             choice: RefChoice | None) -> BaselineComparison | None:
    """The baseline stage for one model: read the base from git, inspect it, A/B the latency."""
    if choice is None:
        if spec.baseline is None:
            return None
        return BaselineComparison(None, None, "skipped", reason=(
            f"no base ref: set baseline.ref, pass {options.names.base}, or run in a pull or "
            "merge request"))
    say = options.progress or (lambda _msg: None)
    say(f"{spec.name}: comparing with {choice.ref}")
    try:
        found = locate_base(manifest, spec, repo, repo.resolve(choice))
        if found.status != "compared" or found.base_path is None:
            return found
        files = repo.materialize(found.base_path, found.commit or "", found.ref or "")
    except BaselineError as e:
        return BaselineComparison(choice.ref, choice.source, "unavailable", reason=str(e))
    if files.pointers:
        unread = (f"the base is a Git LFS pointer ({', '.join(files.pointers)}) and "
               f"{files.pointer_reason or 'its content is not available'}; its size is the one "
               "the pointer records")
        return replace(found, size=Change(files.size_bytes, artifact.size_bytes),
                       size_from_lfs_pointers=True, skipped={"params": unread, "latency": unread})
    try:
        base = inspect_artifact(files.path, display=files.display,
                                declared_format=found.base_format,
                                allow_globals=frozenset(found.base_allow_globals or ()))
    except DeploygateError as e:
        return replace(found, status="skipped",
                       reason=f"the base version could not be inspected ({e})")
    latency, why = _probe_ab(manifest, spec, device, artifact, base, files.path, files.display,
                             options)
    return replace(found, base=base, size=Change(base.size_bytes, artifact.size_bytes),
                   params=Change(base.params, artifact.params), latency=latency,
                   skipped={"latency": why} if why else {})


def _probe_ab(manifest: Manifest, spec: ModelSpec, device: Device | None, head: ArtifactInfo,
              base: ArtifactInfo, base_file: Path, base_display: str,
              options: CheckOptions) -> tuple[ABLatency | None, str | None]:
    """Alternate base and head probes when ``max_latency_increase`` asks for them."""
    if spec.baseline is None or spec.baseline.max_latency_increase is None:
        return None, None
    if options.skip_probe is not None:
        return None, options.skip_probe
    for info in (head, base):
        if not info.runnable:
            return None, f"{info.path}: {_not_runnable(info)}"
    if base.format != head.format:
        return None, f"the base is {base.format} and the head {head.format}: not comparable"
    from deploygate.probe.ab import probe_ab

    latency_spec = _within_budget(spec.latency or LatencySpec(), options)
    if latency_spec is None:
        return None, "the check's time budget was spent before the A/B probe"
    try:
        return probe_ab(base_file, spec.resolved_path, latency_spec,
                        threads=_threads(spec, device), root=manifest.root,
                        base_dir=manifest.file.parent, base_display=base_display,
                        head_display=display_path(spec.resolved_path), fmt=head.format,
                        progress=options.progress), None
    except DeploygateError as e:
        return None, f"the A/B probe failed ({e})"
