"""The team's policy over the findings: waivers that expire, and coverage of every model file.

Waivers: ``waivers:`` in a manifest accepts one rule for one model until a date. A waived
finding is still reported, marked waived, and does not fail the gate; a waiver past its date is
itself an error, and one that waives nothing is a note, so waivers do not outlive their reason.

Coverage: a model file in the repository (found by extension and content, as `deploygate init`
finds them) that no manifest covers is a finding, so a model added without a manifest entry is
never waved through. Ignored files (``.gitignore``) are not looked at; with a base ref, only
files the change adds or modifies are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from deploygate.findings import Finding, Location, Severity, Waived
from deploygate.manifest.model import MANIFEST_NAMES, Manifest
from deploygate.report import ModelReport
from deploygate.rules import Outcome, Rule

if TYPE_CHECKING:
    from deploygate.init import FoundModel

DG108 = Rule("DG108", "model-not-covered", Outcome.VIOLATION,
             "A model file under a manifest's folder is covered by no manifest, so nothing gates it.",
             "Add it to a manifest's `models` (`deploygate init` drafts an entry), or delete it.",
             level="warning")
DG109 = Rule("DG109", "waiver-expired", Outcome.VIOLATION,
             "A waiver in the manifest is past its `until` date.",
             "Fix what it waived, or renew it with a new date and a reason that still holds.")
DG110 = Rule("DG110", "waiver-unused", Outcome.VIOLATION,
             "A waiver in the manifest matches no finding.",
             "Remove it: what it waived no longer happens.", level="note")



def today() -> date:
    """The date waivers are judged on (UTC, so every runner agrees)."""
    return datetime.now(timezone.utc).date()


def apply_waivers(manifest: Manifest, reports: Iterable[ModelReport],
                  on: date | None = None) -> tuple[tuple[ModelReport, ...], list[Finding]]:
    """``reports`` with waived findings marked, and the findings about the waivers themselves."""
    on = on or today()
    findings: list[Finding] = []
    active = []
    for w in manifest.waivers:
        if w.until < on:
            findings.append(Finding(DG109.id, Severity.ERROR,
                                    f"the waiver of {w.rule} for {w.model} ended on {w.until} "
                                    f"({w.reason}); fix what it waived, or renew it with a new "
                                    "date", Location(manifest.display, f"{w.key}.until"), w.model))
        else:
            active.append(w)
    used = set()
    out = []
    for report in reports:
        marked = []
        for f in report.findings:
            match = next((w for w in active if w.rule == f.rule and w.model == report.name), None)
            if match is not None and f.severity is not Severity.NOTE:
                used.add(match.key)
                f = replace(f, waived=Waived(match.reason, match.until.isoformat()))
            marked.append(f)
        out.append(replace(report, findings=tuple(marked)))
    checked = {r.name for r in out}
    findings += [Finding(DG110.id, Severity.NOTE,
                         f"the waiver of {w.rule} for {w.model} matches no finding; remove it",
                         Location(manifest.display, w.key), w.model)
                 for w in active if w.key not in used and w.model in checked]
    return tuple(out), findings


def find_manifests(root: Path) -> list[Path]:
    """Every manifest file under ``root`` (version-control folders and virtualenvs skipped)."""
    from deploygate.init import walk_repository

    return [here / name for here, files in walk_repository(root) for name in files
            if name in MANIFEST_NAMES]


def _covers(model_path: Path, found: Path) -> bool:
    return found == model_path or model_path in found.parents or found in model_path.parents


def check_coverage(manifests: list[Manifest], display: Callable[[Path], str], *,
                   changed: set[str] | None = None, listed: set[str] | None = None) -> list[Finding]:
    """A finding per model file under the manifests' folders that no manifest covers.

    A manifest governs the folder it sits in and everything below it: one at the repository
    root watches the whole repository, one in ``services/chat`` watches that service (so a
    monorepo's other folders, test data and examples stay out of its report). Every manifest
    in the repository counts as covering, not only the ones checked. ``manifests`` share one
    repository root. ``changed`` (repository-relative paths) limits it
    to files a change added or modified; ``listed`` (what git tracks or would add) leaves
    ignored files out; ``display`` names a file as the user would type it.
    """
    from deploygate.manifest.load import load_manifest

    policy = {m.coverage for m in manifests}
    if not manifests or policy == {"off"}:
        return []
    severity = Severity.ERROR if "required" in policy else Severity.WARNING
    findings = []
    for root in sorted({m.root for m in manifests}):
        covered = [spec.resolved_path for m in manifests for spec in m.models]
        given = {m.file for m in manifests}
        for file in find_manifests(root):
            if file.resolve() not in given:
                other = load_manifest(file, str(file)).manifest
                covered += [spec.resolved_path for spec in other.models] if other else []
        for folder, model in _models_under(root, [m.file.parent for m in manifests if m.root == root]):
            path = (folder / model.path).resolve()
            relative = path.relative_to(root.resolve()).as_posix()
            if listed is not None and not _listed(relative, listed):
                continue
            if changed is not None and not _listed(relative, changed):
                continue
            if any(_covers(c.resolve(), path) for c in covered):
                continue
            why = "required by `coverage: required`" if severity is Severity.ERROR else \
                "an error with `coverage: required` or --strict"
            findings.append(Finding(
                DG108.id, severity,
                f"{relative} ({model.format}) is in no manifest, so nothing gates it; add it to "
                f"`models` or delete it ({why})",
                Location(display(path), uri=relative)))
    return findings


def _models_under(root: Path, folders: list[Path]) -> Iterator[tuple[Path, FoundModel]]:
    """The model files under each of ``folders`` (those inside another one walked once)."""
    from deploygate.init import find_models

    resolved = sorted({f.resolve() for f in folders}, key=lambda f: len(f.parts))
    walked: list[Path] = []
    for folder in resolved:
        if any(folder.is_relative_to(w) for w in walked):
            continue
        walked.append(folder)
        for model in find_models(folder, inputs=False):
            yield folder, model


def _listed(relative: str, paths: set[str]) -> bool:
    """Whether ``relative`` (a file, or a folder of shards) is in ``paths``."""
    prefix = relative.rstrip("/") + "/"
    return relative in paths or any(p.startswith(prefix) for p in paths)
