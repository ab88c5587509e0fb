"""The built-in device catalog (``devices.json``) and lookups that include manifest devices."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import Any
from collections.abc import Mapping

from deploygate.manifest.model import Device
from deploygate.manifest.units import parse_bandwidth, parse_compute, parse_size

ACCELERATOR_GFLOPS_PER_CORE = 100e9
"""Without ``compute_precision``, a device quoting more than this per CPU core has an accelerator."""


def is_accelerator(device: Device) -> bool:
    """Whether ``compute`` is a GPU/NPU figure rather than CPU fp32 peak: its
    ``compute_precision`` says so, or without one, it quotes more than
    ``ACCELERATOR_GFLOPS_PER_CORE`` per core."""
    if device.compute_precision is not None:
        return device.compute_precision != "fp32"
    return bool(device.compute and device.cores
                and device.compute / device.cores > ACCELERATOR_GFLOPS_PER_CORE)

EDGE_RULE_OF_THUMB_BYTES = 10**9
"""Edge targets without a device: models stay under about 1 GB."""


def device_from_mapping(device_id: str, data: Mapping[str, Any], *, custom: bool) -> Device:
    """A Device from catalog or manifest fields (units already schema-checked)."""
    return Device(
        id=device_id,
        kind=data["kind"],
        memory=parse_size(data["memory"]),
        memory_bandwidth=parse_bandwidth(data["memory_bandwidth"]) if "memory_bandwidth" in data else None,
        compute=parse_compute(data["compute"]) if "compute" in data else None,
        cores=data.get("cores"),
        cpu_ghz=data.get("cpu_ghz"),
        cache=parse_size(data["cache"]) if "cache" in data else None,
        compute_precision=data.get("compute_precision"),
        paths=_paths(data.get("paths", {})),
        runtime=data.get("runtime"),
        price_per_hour=data.get("price_per_hour"),
        name=data.get("name", device_id),
        runner_label=data.get("runner_label"),
        sources=dict(data.get("sources", {"all": data["source"]} if "source" in data else {})),
        as_of=data.get("as_of"),
        custom=custom,
    )


def _paths(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Runtime -> precision -> peak; a peak of zero says nothing and would divide by zero."""
    paths: dict[str, dict[str, float]] = {}
    for runtime, by in raw.items():
        for precision, value in by.items():
            peak = parse_compute(value)
            if peak <= 0:
                raise ValueError(f"paths.{runtime}.{precision}: {value!r} is not a peak above zero; "
                                 "give the operations per second that path reaches, e.g. 40TOPS")
            paths.setdefault(runtime, {})[precision] = peak
    return paths


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Device]:
    """The built-in devices by id."""
    raw = json.loads(resources.files("deploygate.targets").joinpath("devices.json").read_text("utf-8"))
    return {k: device_from_mapping(k, v, custom=False) for k, v in raw.items() if not k.startswith("_")}


def closest_ids(name: str, known: list[str], n: int = 3) -> list[str]:
    """The ids in ``known`` closest to ``name``, best first."""
    return difflib.get_close_matches(name, known, n=n, cutoff=0.4)
