"""The typed manifest: frozen dataclasses built from a schema-valid document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

Percentile = Literal["p50", "p90", "p95", "p99"]
"""A latency percentile the gate can judge."""
PERCENTILES: tuple[Percentile, ...] = ("p50", "p90", "p95", "p99")
DEFAULT_PERCENTILE: Percentile = "p95"

MANIFEST_NAMES = ("deploy-constraints.yaml", "deploy-constraints.yml")
"""File names that are manifests wherever they are in the repository (the first is the default)."""
INPUT_FILE_SUFFIX = ".npy"
"""What a ``latency.inputs.<name>.file`` must be: a NumPy array file."""

RUNTIMES = ("onnxruntime", "litert", "llama.cpp")
"""Probe backends, by the name ``latency.runtime`` takes."""


@dataclass(frozen=True)
class Device:
    """A deployment target: from the built-in catalog or the manifest's ``devices``."""

    id: str
    """Catalog id or the key under ``devices``."""
    kind: str
    """edge or cloud."""
    memory: int
    """Bytes of memory available to the model (GPU memory for GPU instances)."""
    memory_bandwidth: float | None = None
    """Bytes per second."""
    compute: float | None = None
    """Peak operations per second (FLOPS, or OPS for int8 accelerators)."""
    cores: int | None = None
    """CPU cores (used as the default probe thread count)."""
    cpu_ghz: float | None = None
    """Clock of the CPU that launches the accelerator's kernels (a Jetson's Cortex-A78AE)."""
    cache: int | None = None
    """Bytes of last-level cache: a working set under it is not limited by memory bandwidth."""
    compute_precision: str | None = None
    """What ``compute`` counts: fp32, fp16, int8 or int8-sparse (None: fp32 on a CPU)."""
    paths: dict[str, dict[str, float]] = field(default_factory=dict)
    """Runtime -> precision -> peak operations per second on that runtime path (the catalog's
    ``paths``); empty when only ``compute`` is known."""
    runtime: str | None = None
    """The runtime a model usually runs on here (a key of ``paths``)."""
    price_per_hour: float | None = None
    """US dollars per hour, cloud only."""
    name: str = ""
    """Human name, e.g. "Raspberry Pi 5 (8 GB)"."""
    runner_label: str | None = None
    """Self-hosted GitHub runner label that runs on this device, if any."""
    sources: dict[str, str] = field(default_factory=dict)
    """Where each figure comes from."""
    as_of: str | None = None
    """Date the price was read."""
    custom: bool = False
    """Declared in the manifest rather than the catalog."""


@dataclass(frozen=True)
class Target:
    """Where a model ships."""

    kind: str
    """edge or cloud."""
    device: str | None = None
    """A catalog id or a key of ``devices``."""
    runtime: str | None = None
    """The runtime the model runs on there (``target.runtime``); None: the device's usual one."""
    precision: str | None = None
    """The precision it runs at (``target.precision``); None: chosen from the graph and path."""


@dataclass(frozen=True)
class Limits:
    """Hard limits on the artifact."""

    max_size: int | None = None
    """Bytes on disk, external data and shards included."""
    max_params: int | None = None
    """Parameter count."""
    max_memory: int | None = None
    """Estimated resident bytes while serving."""


@dataclass(frozen=True)
class InputSpec:
    """How to synthesize one graph input for the probe."""

    shape: tuple[int, ...] | None = None
    """Concrete shape; overrides the graph's dims for this input."""
    dtype: str | None = None
    """Expected element type; checked against the model."""
    range: tuple[float, float] | None = None
    """[lo, hi]: floats uniform in [lo, hi), integers inclusive."""
    value: Any = None
    """A fixed scalar or nested list, broadcast to the shape."""
    file: str | None = None
    """A .npy file relative to the manifest's folder."""


@dataclass(frozen=True)
class LatencySpec:
    """The latency question: budget, where to judge it, and how to feed the model."""

    budget_ms: float | None = None
    """Worst tolerated latency at ``percentile``."""
    percentile: Percentile = DEFAULT_PERCENTILE
    """p50, p90, p95 or p99."""
    threads: int | None = None
    """intra-op threads; default: the device's cores, else the host's."""
    dims: dict[str, int] = field(default_factory=dict)
    """Values for symbolic dimensions, by name, for every input."""
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    """Per-input synthesis settings."""
    warmup: int = 5
    """Runs before measuring."""
    max_time_s: float = 10.0
    """Seconds spent measuring."""
    timeout_s: float = 120.0
    """Hard limit for the probe's child process."""
    on_inconclusive: str = "warn"
    """What a budget inside the measurement's uncertainty does: ``warn`` or ``fail``."""
    runtime: str | None = None
    """The backend that measures: onnxruntime, litert or llama.cpp (default: by format)."""
    providers: tuple[str, ...] = ()
    """onnxruntime execution providers, in priority order (default: CPU only)."""
    ttft_ms: float | None = None
    """LLMs: time-to-first-token budget at ``percentile`` for a ``prompt_tokens`` prompt."""
    tokens_per_s: float | None = None
    """LLMs: minimum decode rate over ``new_tokens`` tokens."""
    prompt_tokens: int = 128
    """LLMs: prompt length measured for time to first token."""
    new_tokens: int = 64
    """LLMs: tokens generated per run for the decode rate."""


@dataclass(frozen=True)
class Serving:
    """How an LLM will be served: what its KV cache must hold."""

    context_tokens: int | None = None
    """Context per sequence; None: the model's maximum context."""
    concurrency: int = 1
    """Sequences served at once, each with its own KV cache."""


@dataclass(frozen=True)
class Cost:
    """The money question."""

    max_usd_per_1k: float
    """Dollars per 1,000 inferences."""


@dataclass(frozen=True)
class Baseline:
    """Regression limits against a git ref."""

    ref: str | None = None
    """Git ref to compare with, e.g. origin/main."""
    max_size_increase: float | None = None
    """Allowed growth as a fraction (0.1 for 10%)."""
    max_params_increase: float | None = None
    """Allowed growth as a fraction."""
    max_latency_increase: float | None = None
    """Allowed growth of the A/B median ratio minus one."""


@dataclass(frozen=True)
class Security:
    """``security``: what a reviewed checkpoint may import."""

    allow_globals: tuple[str, ...] = ()
    """Pickle globals (``module.name``) accepted beyond the built-in allowlist; never ones
    that can run code (the manifest refuses those with DG111)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model entry, with ``defaults`` merged under it."""

    index: int
    """Position in ``models`` (for key paths such as ``models[0].limits``)."""
    name: str
    """Unique name."""
    path: str
    """As written, relative to the manifest's folder."""
    resolved_path: Path
    """Absolute, resolved path; guaranteed inside the repository."""
    target: Target
    """Where it ships."""
    format: str | None = None
    """Declared format, if any."""
    limits: Limits = field(default_factory=Limits)
    """Size/params/memory limits."""
    latency: LatencySpec | None = None
    """Latency settings, if declared."""
    cost: Cost | None = None
    """Cost ceiling, if declared."""
    baseline: Baseline | None = None
    """Regression settings, if declared."""
    security: Security = field(default_factory=Security)
    """Pickle globals the team accepts."""
    serving: Serving | None = None
    """LLM serving settings, if declared."""

    @property
    def key(self) -> str:
        """Key path of this model in the manifest."""
        return f"models[{self.index}]"


@dataclass(frozen=True)
class Waiver:
    """A finding the team accepts for a while (``waivers[i]``)."""

    rule: str
    """The rule id waived, e.g. ``DG405``."""
    model: str
    """The model it is waived for."""
    reason: str
    """Why, in the team's words (shown with every waived finding)."""
    until: date
    """The last day it holds; after it the waiver is itself an error."""
    key: str
    """Its key path, ``waivers[0]``."""


@dataclass(frozen=True)
class Manifest:
    """A loaded, validated manifest."""

    file: Path
    """The manifest file (absolute)."""
    display: str
    """The manifest path as shown in messages."""
    root: Path
    """Repository root: the git work tree holding the manifest, else its folder."""
    models: tuple[ModelSpec, ...]
    """Models in manifest order."""
    devices: dict[str, Device]
    """Devices declared in the manifest (catalog devices are looked up separately)."""
    marks: dict[str, tuple[int, int]]
    """Key path -> (line, column), 1-based, for every key and value in the document."""
    ends: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Key path -> (line, column) just past the key's own text, for highlighting it."""
    waivers: tuple[Waiver, ...] = ()
    """Findings accepted until a date."""
    coverage: str = "warn"
    """A model file no manifest covers is a warning (``warn``), an error (``required``), or
    not looked for (``off``)."""

    def mark(self, path: str) -> tuple[int, int] | None:
        """Line and column of ``path``, or of its closest ancestor that has one."""
        span = self.span(path)
        return None if span is None else span[:2]

    def span(self, path: str) -> tuple[int, int, int | None, int | None] | None:
        """Start line and column of ``path`` (or its closest marked ancestor), and its key's end."""
        while path:
            if path in self.marks:
                end = self.ends.get(path)
                return (*self.marks[path], *(end or (None, None)))
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None
