"""Facts about the machine running deploygate (cheap: no heavy imports)."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


def host_info() -> dict[str, Any]:
    """Facts about the machine running the gate (cheap: no heavy imports)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ort = version("onnxruntime")
    except PackageNotFoundError:
        ort = None
    return {"cpu": cpu_name(), "cores": os.cpu_count() or 1, "usable_cores": usable_cores(),
            "python": platform.python_version(), "onnxruntime": ort}


def usable_cores() -> int:
    """Cores this process can keep busy: its CPU affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """CPUs the cgroup quota allows this process (quota / period, the tightest of its cgroup
    and the cgroups above it; cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), None when none."""
    text = _read_small(self_cgroup)
    if text is None:
        return None
    limits: list[float] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers, path = parts[1], parts[2].strip().lstrip("/")
        if controllers == "":
            for base in (root, root / "unified"):
                limits += _limits_up(base, path, _v2_limit)
        elif "cpu" in controllers.split(","):
            for name in dict.fromkeys((controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu")):
                if (root / name).is_dir():
                    limits += _limits_up(root / name, path, _v1_limit)
                    break
    return min(limits) if limits else None


def _limits_up(base: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The limits found in ``base/path`` and each folder above it up to ``base``."""
    found = []
    folder = base / path if path else base
    while True:
        limit = read(folder)
        if limit is not None:
            found.append(limit)
        if folder == base or base not in folder.parents:
            return found
        folder = folder.parent


def _v2_limit(folder: Path) -> float | None:
    text = _read_small(folder / "cpu.max")
    if text is None:
        return None
    quota, _, period = text.strip().partition(" ")
    return _ratio(quota, period or "100000")


def _v1_limit(folder: Path) -> float | None:
    quota, period = _read_small(folder / "cpu.cfs_quota_us"), _read_small(folder / "cpu.cfs_period_us")
    if quota is None or period is None:
        return None
    return _ratio(quota.strip(), period.strip())


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None  # "max" (v2) or garbage: no limit
    return q / p if q > 0 and p > 0 else None


def _read_small(file: Path, limit: int = 4096) -> str | None:
    try:
        with open(file, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def cpu_name() -> str:
    """The host CPU's model name (/proc/cpuinfo "model name", else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
