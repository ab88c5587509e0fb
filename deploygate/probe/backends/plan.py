"""What a backend is given (``RunPlan``) and what it hands back (``TimedRuns``).

Both live in the probe's child process only. A backend's ``measure(plan, emit)`` emits the
shared phases (``load``, ``session``, ``first-run``, ``warmup``, ``measure``) so that a timeout
says what the runtime was doing, and raises ``ProbeError`` for anything a user can fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploygate.manifest.model import LatencySpec

Emit = Callable[[dict[str, Any]], None]
"""Writes one protocol event (``{"event": "phase" | "progress", ...}``) to the parent."""


@dataclass(frozen=True)
class RunPlan:
    """How to measure one model: the file, its inputs, threads, warm-up and time budget."""

    model: Path
    """The model file (absolute)."""
    threads: int
    """Threads the runtime may use for one inference."""
    spec: LatencySpec
    """Inputs, dims, warm-up, ``max_time_s``, providers and the LLM's prompt/new tokens."""
    root: Path
    """Repository root: sample input files must stay inside it."""
    base_dir: Path
    """Folder sample input paths are relative to (the manifest's)."""
    deadline: float | None = None
    """``time.monotonic()`` at which the parent kills the child (bounds extra rounds)."""


@dataclass(frozen=True)
class TimedRuns:
    """A backend's measurement: timed runs plus the facts that say how they were made."""

    samples_ns: list[int]
    """Each timed run in order, in nanoseconds (for LLMs: each decoded token)."""
    rounds: int
    """Measuring rounds (``measure.measure_adaptively``)."""
    setup_ms: float
    """Time to load the model into the runtime (not latency)."""
    measured_s: float
    """Seconds spent in the timed runs."""
    warmup: int
    """Untimed runs before measuring."""
    runtime: str
    """The backend's name (onnxruntime, litert, llama.cpp)."""
    runtime_version: str
    """The runtime package's version."""
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    """The concrete shapes fed."""
    defaulted_dims: list[dict[str, Any]] = field(default_factory=list)
    """Batch-like dimensions nothing pinned, set to 1 (``inputs.DefaultedDim.to_json``)."""
    providers: tuple[str, ...] = ()
    """onnxruntime: the execution providers the session actually uses."""
    ttft_ms: list[float] = field(default_factory=list)
    """LLMs: time to first token of each generation."""
    tokens_per_s: list[float] = field(default_factory=list)
    """LLMs: decode rate of each generation."""
    prompt_tokens: int = 0
    """LLMs: prompt length of each generation."""
    new_tokens: int = 0
    """LLMs: tokens generated per generation."""
