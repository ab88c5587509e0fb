"""The manifest's models as a GitHub Actions job matrix (``strategy.matrix: ${{ fromJSON(...) }}``).

One entry per model, so a monorepo can gate each model in its own job, on a runner that sits
on the model's target device when the device names one (``runner_label``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploygate.findings import Finding
from deploygate.manifest.load import load_manifest
from deploygate.manifest.model import Device, Manifest, ModelSpec

DEFAULT_RUNNER = "ubuntu-latest"
"""The runner for models whose device has no ``runner_label``."""


def _device(manifest: Manifest, spec: ModelSpec) -> Device | None:
    from deploygate.targets.catalog import load_catalog

    if spec.target.device is None:
        return None
    return manifest.devices.get(spec.target.device) or load_catalog().get(spec.target.device)


def matrix_entries(manifest: Manifest) -> list[dict[str, Any]]:
    """One matrix entry per model of ``manifest``, in manifest order."""
    entries = []
    for spec in manifest.models:
        device = _device(manifest, spec)
        entries.append({
            "model": spec.name,
            # Both paths relative to the repository root, where a CI job starts, whatever
            # folder `deploygate matrix` ran in.
            "manifest": manifest.file.relative_to(manifest.root).as_posix(),
            "path": spec.resolved_path.relative_to(manifest.root).as_posix(),
            "target": spec.target.kind,
            "device": spec.target.device,
            "runs-on": device.runner_label if device and device.runner_label else DEFAULT_RUNNER,
        })
    return entries


def build_matrix(files: list[tuple[Path, str]]) -> tuple[dict[str, Any], list[Finding]]:
    """``{"include": [...]}`` for the manifests ``(file, display)``, and any findings."""
    include: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for file, display in files:
        loaded = load_manifest(file, display)
        findings.extend(loaded.findings)
        if loaded.manifest is not None:
            include.extend(matrix_entries(loaded.manifest))
    return {"include": include}, findings
