"""Facts about the machine running deploygate (cheap: no heavy imports)."""

from __future__ import annotations

import os
import platform
from typing import Any


def host_info() -> dict[str, Any]:
    """Facts about the machine running the gate (cheap: no heavy imports)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ort = version("onnxruntime")
    except PackageNotFoundError:
        ort = None
    return {"cpu": cpu_name(), "cores": os.cpu_count() or 1,
            "python": platform.python_version(), "onnxruntime": ort}


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
