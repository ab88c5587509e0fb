"""The manifests' models as a GitHub Actions job matrix (``strategy.matrix: ${{ fromJSON(...) }}``).

One job per model, so a monorepo can gate each model in its own job, on a runner that sits on
the model's target device when the device names one (``runner_label``). GitHub refuses a
matrix of more than 256 jobs: past ``max_jobs`` models are sharded, several to a job, never
mixing manifests or runners, and a model named twice (a manifest given twice, or matched by
two globs) is gated once.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from typing import Any

from deploygate.errors import DG100
from deploygate.findings import Finding, Location, Severity
from deploygate.manifest.load import load_manifest
from deploygate.manifest.model import Device, Manifest, ModelSpec

DEFAULT_RUNNER = "ubuntu-latest"
"""The runner for models whose device has no ``runner_label``."""
MAX_JOBS = 256
"""GitHub's limit on the jobs one matrix may generate."""


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
            # On the device's own runner the measurement is the target's latency: the job
            # passes this to `check` as DEPLOYGATE_DEVICE (empty on a generic runner).
            "on-device": device.id if device and device.runner_label else "",
        })
    return entries


def shard(entries: list[dict[str, Any]], max_jobs: int = MAX_JOBS) -> list[dict[str, Any]] | None:
    """Jobs for ``entries``: one per model while they fit in ``max_jobs``, else shards.

    Every job has ``name``, ``manifest``, ``models`` (space-separated, as the action's
    ``models`` input takes them), ``runs-on`` and ``on-device``; a one-model job also keeps the model's
    ``model``, ``path``, ``target`` and ``device``. Shards group models of one manifest and one
    runner and device, in order. None when even one job per group is too many.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault((entry["manifest"], entry["runs-on"], entry["on-device"]), []).append(entry)
    if len(groups) > max_jobs:
        return None
    if len(entries) <= max_jobs:
        return [{"name": e["model"], **e, "models": e["model"]} for e in entries]
    counts = _shard_counts([len(g) for g in groups.values()], max_jobs)
    jobs = []
    for ((manifest, runner, on_device), group), count in zip(groups.items(), counts, strict=True):
        for i in range(count):
            # Spread evenly: 10 models in 3 shards are 3, 3, 4 rather than 4, 4, 2.
            part = group[i * len(group) // count:(i + 1) * len(group) // count]
            names = [e["model"] for e in part]
            jobs.append({"name": f"{names[0]} .. {names[-1]} ({len(names)} models)"
                                 if len(names) > 1 else names[0],
                         "manifest": manifest, "models": " ".join(names), "runs-on": runner,
                         "on-device": on_device,
                         **({k: part[0][k] for k in ("model", "path", "target", "device")}
                            if len(part) == 1 else {})})
    return jobs


def _shard_counts(sizes: list[int], max_jobs: int) -> list[int]:
    """How many jobs each group gets: every job used, the largest shards as small as can be."""
    counts = [1] * len(sizes)
    spare = [(-size, i) for i, size in enumerate(sizes) if size > 1]
    heapq.heapify(spare)
    for _ in range(max_jobs - len(sizes)):
        if not spare:
            break
        _, i = heapq.heappop(spare)
        counts[i] += 1
        if counts[i] < sizes[i]:  # its largest shard, negated, decides who splits next
            heapq.heappush(spare, (-math.ceil(sizes[i] / counts[i]), i))
    return counts


def build_matrix(files: list[tuple[Path, str]],
                 max_jobs: int = MAX_JOBS) -> tuple[dict[str, Any], list[Finding]]:
    """``{"include": [...]}`` for the manifests ``(file, display)``, and any findings."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    findings: list[Finding] = []
    seen: set[Path] = set()
    for file, display in files:
        if file.resolve() in seen:  # the same manifest twice: its models once
            continue
        seen.add(file.resolve())
        loaded = load_manifest(file, display)
        findings.extend(loaded.findings)
        if loaded.manifest is not None:
            for entry in matrix_entries(loaded.manifest):
                entries.setdefault((entry["manifest"], entry["model"]), entry)
    jobs = shard(list(entries.values()), max_jobs)
    if jobs is None:
        findings.append(Finding(DG100.id, Severity.ERROR,
                                f"the models need more than {max_jobs} jobs even sharded: they "
                                f"span more than {max_jobs} (manifest, runner) pairs; split the "
                                "matrix across workflows", Location(files[0][1])))
        jobs = []
    return {"include": jobs}, findings
