"""Probe stage: measure a model's latency in an isolated child process, with the backend that
runs its format (onnxruntime, LiteRT or llama.cpp; see ``probe/backends``).

Importing this package imports neither numpy, onnx nor any runtime: only the child does, so
the fast ``validate`` path stays lean. See docs/latency.md for the method.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.errors import ProbeError, ProbeNeedsValues
from deploygate.host import usable_cores
from deploygate.manifest.model import PERCENTILES, LatencySpec
from deploygate.probe.options import parse_dim_option, parse_input_option
from deploygate.probe.result import LatencyResult, gpu_providers
from deploygate.rules import Outcome, Rule

if TYPE_CHECKING:
    from deploygate.probe.backends import Backend

__all__ = ["LatencyResult", "probe_latency", "usable_cores", "parse_dim_option",
           "parse_input_option", "DEFAULT_MEMORY_CAP", "choose_backend", "BACKEND_MISSING"]

DG408 = Rule("DG408", "probe-backend-missing", Outcome.CANNOT_JUDGE,
             "The runtime that measures this model's format is an extra that is not installed.",
             "Install it with the pip line in the message, e.g. pip install 'deploygate[llama]'.",
             level="warning")

BACKEND_MISSING = DG408.id
"""The rule of a ProbeError raised because the backend a model needs is not installed."""

DEFAULT_MEMORY_CAP = 8 << 30
"""Address space (RLIMIT_AS) the child may map, before the per-thread allowance; under a GPU
execution provider, its data segment (RLIMIT_DATA) instead."""

MEMORY_PER_THREAD = 128 << 20
"""Added to the cap per intra-op thread: thread stacks and malloc arenas are mapped per thread."""


def choose_backend(fmt: str, spec: LatencySpec, display: str | None = None) -> Backend:
    """The installed backend that measures ``fmt`` as ``spec`` asks; ProbeError otherwise.

    A backend that is not installed raises with rule ``BACKEND_MISSING`` and the exact
    ``pip install`` line; a format no backend runs raises with the usual probe-failed rule.
    """
    from deploygate.probe.backends import backend_for, not_probed_reason

    try:
        backend = backend_for(fmt, spec.runtime)
    except ProbeError as e:
        raise ProbeError(e.message, file=display, path=e.path) from None
    if backend is None:
        raise ProbeError(not_probed_reason(fmt), file=display, path="latency")
    # A manifest mistake is reported whether or not the runtime happens to be installed.
    if spec.providers and backend.name != "onnxruntime":
        raise ProbeError(f"latency.providers applies to onnxruntime only; {backend.name} "
                         f"measures {fmt} models (remove latency.providers)", file=display,
                         path="latency.providers")
    if not backend.installed():
        raise ProbeError(f"{fmt} models are measured with {backend.name}, which is not installed "
                         f"here: {backend.install_line}", file=display,
                         path="latency.runtime" if spec.runtime else "latency", rule=DG408)
    return backend


def probe_latency(model: Path, spec: LatencySpec, *, threads: int, root: Path, base_dir: Path,
                  display: str, fmt: str = "onnx", measured_on: str = "host",
                  progress: Callable[[str], None] | None = None,
                  memory_cap: int | None = DEFAULT_MEMORY_CAP) -> LatencyResult:
    """Measure ``model`` (format ``fmt``) as ``spec`` says, in a child process.

    Raises ProbeError on failure (rule ``BACKEND_MISSING`` when the runtime is not installed).

    ``threads`` is what the manifest, the target or the caller asks for; the probe uses at most
    the host's usable cores (``host.usable_cores``), since more would only make the threads
    queue for the cores, and records the request as ``target_threads`` when it is more.
    """
    from deploygate.probe.measure import spec_to_json
    from deploygate.probe.process import run_child
    _check_spec(spec, threads)
    backend = choose_backend(fmt, spec, display)
    asked = threads
    threads = min(threads, usable_cores())
    if not model.is_file():
        raise ProbeError("the model file does not exist or is not a file", file=display,
                         path="latency")
    cap = None if memory_cap is None else memory_cap + threads * MEMORY_PER_THREAD
    gpu = bool(gpu_providers(spec.providers))
    if cap is not None and backend.name == "llama.cpp":
        # llama.cpp maps the whole file: the weights count against the address space.
        cap += model.stat().st_size
    request = {
        "runtime": backend.name,
        "model": str(model.resolve()),
        "threads": threads,
        "spec": spec_to_json(spec),
        "root": str(root.resolve()),
        "base_dir": str(base_dir.resolve()),
        "memory_cap": cap,
        # A GPU driver maps address space for the device's whole memory when it starts and
        # fails under an address-space cap: a GPU provider's child caps its data segment.
        "memory_cap_kind": "data" if gpu else "address-space",
    }
    if progress is not None:
        progress(f"probing {display}")
    outcome = run_child(request, timeout_s=spec.timeout_s, progress=progress)

    if outcome.result is not None:
        return _result(outcome.result, outcome.wall_s, measured_on,
                       asked if asked > threads else None)
    if outcome.error is not None:
        message = str(outcome.error.get("message", "the probe failed"))
        if outcome.error.get("memory"):
            message = _out_of_memory(cap, gpu)
        elif outcome.error.get("provider_not_started"):
            from deploygate.probe.diagnose import runtime_log_error

            said = runtime_log_error(outcome.stderr)
            message += f"; onnxruntime's log: {said}" if said else ""
        kind = ProbeNeedsValues if outcome.error.get("needs_values") else ProbeError
        raise kind(message, file=display, path=outcome.error.get("path") or "latency")
    if outcome.timed_out:
        raise ProbeError(_timeout_message(outcome.phase, spec), file=display,
                         path="latency.timeout_s")
    raise ProbeError(_crash_message(outcome.returncode, outcome.stderr, cap, gpu), file=display,
                     path="latency")


def _result(data: dict[str, Any], wall_s: float, measured_on: str,
            target_threads: int | None) -> LatencyResult:
    """The child's result as a LatencyResult (an LLM's time to first token as its own)."""
    measured_ms = data["session_ms"] + data["measured_s"] * 1000
    runtime, version = str(data["runtime"]), str(data["runtime_version"])
    shared = {"threads": data["threads"], "measured_on": measured_on,
              "host_cpu": data["host_cpu"], "clock_tick_ms": data["clock_tick_ms"],
              "target_threads": target_threads, "runtime": runtime, "runtime_version": version,
              "onnxruntime": version if runtime == "onnxruntime" else ""}
    ttft = None
    if data.get("ttft"):
        ttft = LatencyResult.from_description(data["ttft"], **shared)
    return LatencyResult.from_description(
        data, **shared, session_ms=data["session_ms"],
        # Child start, imports, input synthesis and warm-up: the time that is not latency.
        overhead_ms=max(0.0, wall_s * 1000 - measured_ms),
        input_shapes=data["input_shapes"], warmup=data["warmup"],
        measured_s=data["measured_s"], rounds=data["rounds"],
        defaulted_dims=tuple(data.get("defaulted_dims", ())),
        providers=tuple(data.get("providers", ())), ttft=ttft,
        tokens_per_s_runs=tuple(data.get("tokens_per_s", ())),
        prompt_tokens=int(data.get("prompt_tokens", 0)),
        new_tokens=int(data.get("new_tokens", 0)))


def _check_spec(spec: LatencySpec, threads: int) -> None:
    if spec.percentile not in PERCENTILES:
        raise ProbeError(f"latency.percentile {spec.percentile!r} is not one of "
                         f"{', '.join(PERCENTILES)}", path="latency.percentile")
    if threads < 1:
        raise ProbeError(f"latency.threads must be at least 1, not {threads}",
                         path="latency.threads")
    for key, value in (("max_time_s", spec.max_time_s), ("timeout_s", spec.timeout_s)):
        if not (math.isfinite(value) and value > 0):
            raise ProbeError(f"latency.{key} must be a positive number of seconds, not {value}",
                             path=f"latency.{key}")
    if spec.warmup < 0:
        raise ProbeError(f"latency.warmup must be 0 or more, not {spec.warmup}",
                         path="latency.warmup")


def _timeout_message(phase: str | None, spec: LatencySpec) -> str:
    limit = f"timeout_s={spec.timeout_s:g}s"
    if phase == "first-run":
        return (f"the model did not finish one run within {limit}; raise latency.timeout_s "
                "or check for a Loop that never ends")
    if phase == "warmup":
        return (f"the model did not finish its {spec.warmup} warm-up runs within {limit}; "
                "raise latency.timeout_s or lower latency.warmup")
    if phase == "measure":
        return (f"the probe did not finish measuring within {limit} (it measures for "
                f"max_time_s={spec.max_time_s:g}s and at least 10 runs after loading and "
                "warm-up); raise latency.timeout_s or lower latency.max_time_s")
    if phase == "session":
        return (f"the runtime did not finish loading the model within {limit}; raise "
                "latency.timeout_s")
    return (f"the probe did not load the model within {limit}; raise latency.timeout_s")


def _out_of_memory(cap: int | None, gpu: bool = False) -> str:
    from deploygate.probe.measure import out_of_memory_error

    return out_of_memory_error(cap, gpu).message


def _crash_message(returncode: int | None, stderr: str, cap: int | None,
                   gpu: bool = False) -> str:
    from deploygate.probe.diagnose import first_error_line, looks_like_out_of_memory

    if looks_like_out_of_memory(stderr):
        return _out_of_memory(cap, gpu)
    line = first_error_line(stderr)
    if returncode is not None and returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
        if returncode == -signal.SIGKILL and not line:
            # Outside our own timeout, SIGKILL is almost always the kernel's out-of-memory killer.
            return _out_of_memory(cap, gpu) + " (the system killed the probe)"
    else:
        how = f"exited with status {returncode} without a result"
    return f"the probe's child process {how}" + (f": {line}" if line else "")
