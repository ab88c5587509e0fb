"""The measurement itself, run inside the probe's child process, for every backend.

The backend (``probe/backends/``, chosen by the request's ``runtime``) loads the model, feeds it
and times its runs with ``time_plan``; ``run_probe`` turns its ``TimedRuns`` into the result the
parent reads, with the shared statistics (``stats.describe``).

Run-count rule: ``warmup`` untimed runs, then timed runs (``time.perf_counter_ns`` around each
run: one ``session.run``, one LiteRT ``invoke()``, one decoded token) until ``max_time_s`` has
passed *and* at least ``MIN_RUNS`` (10) runs are done, or ``MAX_RUNS`` runs are done. A
percentile counts as measured when at least 5 runs lie above it (p50: 10 runs, p90: 50, p95:
100, p99: 500); when ``max_time_s`` ends the runs before that, the result lists it in
``estimated_percentiles``. Python's garbage collector is paused while timing, so that a
collection is never billed to the model.

Adaptive re-measurement: with a budget, when the verdict (``verdict.py``) on the runs so far is
inconclusive, or is a pass that rests only on the slowest run because the runs are too few to
bound the percentile from above (p95 needs 104, see ``stats.order_statistic_ranks``), up to
``EXTRA_ROUNDS`` more rounds of ``max_time_s / 2`` each add runs, as long as a round still fits
well inside ``timeout_s``; the verdict is taken again after each.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ProbeError
from deploygate.host import cpu_name
from deploygate.manifest.model import DEFAULT_PERCENTILE, InputSpec, LatencySpec
from deploygate.probe import stats
from deploygate.probe.backends.plan import Emit, RunPlan, TimedRuns
from deploygate.probe.diagnose import clean_ort_message, failed_run_error, looks_like_out_of_memory

if TYPE_CHECKING:
    import numpy as np

    from deploygate.probe.graph import GraphFacts

MIN_RUNS = 10
"""Timed runs always done, whatever ``max_time_s`` says."""

MAX_RUNS = 100_000
"""Timed runs never exceeded: enough for every percentile, bounded memory for tiny models."""

EXTRA_ROUNDS = 2
"""Rounds of ``max_time_s / 2`` added when the budget lies inside the percentile's interval."""

TIMEOUT_SHARE = 0.8
"""An extra round starts only if it would end within this share of ``timeout_s``."""



def spec_from_json(data: Mapping[str, Any]) -> LatencySpec:
    """The LatencySpec a request carries (see ``spec_to_json``)."""
    inputs = {
        name: InputSpec(
            shape=None if i.get("shape") is None else tuple(i["shape"]),
            dtype=i.get("dtype"),
            range=None if i.get("range") is None else tuple(i["range"]),
            value=i.get("value"),
            file=i.get("file"),
        )
        for name, i in data.get("inputs", {}).items()
    }
    return LatencySpec(budget_ms=data.get("budget_ms"), percentile=data.get("percentile", DEFAULT_PERCENTILE),
                       dims=dict(data.get("dims", {})),
                       inputs=inputs, warmup=int(data.get("warmup", 5)),
                       max_time_s=float(data.get("max_time_s", 10.0)),
                       timeout_s=float(data.get("timeout_s", 120.0)),
                       runtime=data.get("runtime"),
                       providers=tuple(data.get("providers", ())),
                       prompt_tokens=int(data.get("prompt_tokens", 128)),
                       new_tokens=int(data.get("new_tokens", 64)))


def spec_to_json(spec: LatencySpec) -> dict[str, Any]:
    """The parts of a LatencySpec the child needs, as JSON."""
    return {
        "budget_ms": spec.budget_ms,
        "percentile": spec.percentile,
        "dims": dict(spec.dims),
        "inputs": {name: {"shape": None if i.shape is None else list(i.shape),
                          "dtype": i.dtype,
                          "range": None if i.range is None else list(i.range),
                          "value": i.value, "file": i.file}
                   for name, i in spec.inputs.items()},
        "warmup": spec.warmup,
        "max_time_s": spec.max_time_s,
        "timeout_s": spec.timeout_s,
        "runtime": spec.runtime,
        "providers": list(spec.providers),
        "prompt_tokens": spec.prompt_tokens,
        "new_tokens": spec.new_tokens,
    }


def time_runs(run: Callable[[], object], *, max_time_s: float, min_runs: int = MIN_RUNS,
              max_runs: int = MAX_RUNS) -> list[int]:
    """Nanoseconds of each call of ``run`` until ``max_time_s`` and ``min_runs`` are both met."""
    samples: list[int] = []
    clock = time.perf_counter_ns
    end = clock() + int(max_time_s * 1e9)
    enabled = gc.isenabled()
    gc.disable()
    try:
        while len(samples) < max_runs:
            start = clock()
            run()
            stop = clock()
            samples.append(stop - start)
            if stop >= end and len(samples) >= min_runs:
                break
    finally:
        if enabled:
            gc.enable()
    return samples


MeasureRound = Callable[[float, int], list[int]]
"""``(max_time_s, max_runs) -> nanoseconds of each run``: one measuring round."""


def measure_adaptively(measure_round: MeasureRound, spec: LatencySpec, *,
                       deadline: float | None = None, emit: Emit | None = None,
                       max_runs: int = MAX_RUNS) -> tuple[list[int], int]:
    """Nanoseconds of each run and the rounds measured, by the module docstring's rule.

    ``deadline`` (``time.monotonic()``) bounds the extra rounds; ``None`` leaves them unbounded.
    """
    samples = measure_round(spec.max_time_s, max_runs)
    rounds = 1
    round_s = spec.max_time_s / 2
    while (spec.budget_ms is not None and rounds <= EXTRA_ROUNDS and len(samples) < max_runs
           and _unsure(samples, spec)):
        # A round lasts round_s plus up to one run past it; keep twice the slowest run spare.
        needed = round_s + 2 * max(samples) / 1e9
        if deadline is not None and time.monotonic() + needed > deadline:
            break
        if emit is not None:
            emit({"event": "progress", "message": f"budget {spec.budget_ms:g} ms is inside the "
                  f"{spec.percentile} interval: measuring {round_s:g} s more "
                  f"(round {rounds + 1} of {EXTRA_ROUNDS + 1})"})
        samples += measure_round(round_s, max_runs - len(samples))
        rounds += 1
    return samples, rounds


def _unsure(samples_ns: list[int], spec: LatencySpec) -> bool:
    """Whether more runs could change or firm up the verdict on ``samples_ns``."""
    from deploygate.probe.verdict import decide

    assert spec.budget_ms is not None
    samples_ms = [s / 1e6 for s in samples_ns]
    fraction = stats.PERCENTILE_FRACTIONS[spec.percentile]
    low, high = stats.percentile_interval(samples_ms, fraction)
    verdict = decide(spec.budget_ms, fastest_ms=min(samples_ms), slowest_ms=max(samples_ms),
                     low_ms=low, high_ms=high, tick_ms=clock_tick_ms())
    if verdict == "inconclusive":
        return True
    unbounded = stats.order_statistic_ranks(len(samples_ms), fraction)[1] is None
    return verdict == "pass" and unbounded


def clock_tick_ms() -> float:
    """The resolution of the clock the runs are timed with, in ms."""
    return time.get_clock_info("perf_counter").resolution * 1e3


def time_plan(run: Callable[[], object], plan: RunPlan, emit: Emit,
              measure_round: MeasureRound | None = None) -> tuple[list[int], int, float]:
    """Time ``run`` as ``plan`` says, extra rounds included: nanoseconds, rounds, seconds.

    ``measure_round`` replaces the default round (``time_runs`` around ``run``) for backends
    whose timed unit is not one call (llama.cpp times tokens inside a generation).
    """
    spec = plan.spec
    emit({"event": "phase", "phase": "measure"})
    emit({"event": "progress", "message": f"measuring for {spec.max_time_s:g} s"})
    deadline = plan.deadline
    if deadline is not None:
        # Extra rounds must end well before the parent's kill, which counts from its own start.
        deadline -= (1.0 - TIMEOUT_SHARE) * spec.timeout_s

    def default_round(seconds: float, most: int) -> list[int]:
        return time_runs(run, max_time_s=seconds, max_runs=most)

    started = time.perf_counter_ns()
    samples_ns, rounds = measure_adaptively(measure_round or default_round, spec,
                                            deadline=deadline, emit=emit)
    measured_s = (time.perf_counter_ns() - started) / 1e9
    emit({"event": "progress", "message": f"measured {len(samples_ns)} runs"})
    return samples_ns, rounds, measured_s


def run_probe(request: Mapping[str, Any], emit: Emit, *,
              deadline: float | None = None) -> dict[str, Any]:
    """Measure the model a child request names with its backend; the result as JSON.

    ``deadline`` (``time.monotonic()``) is when the parent will kill this process.
    """
    import importlib

    from deploygate.probe.backends import BACKENDS

    backend = BACKENDS[str(request.get("runtime", "onnxruntime"))]
    plan = RunPlan(model=Path(request["model"]), threads=int(request["threads"]),
                   spec=spec_from_json(request["spec"]), root=Path(request["root"]),
                   base_dir=Path(request["base_dir"]), deadline=deadline)
    runs = importlib.import_module(backend.module).measure(plan, emit)
    return result_json(runs, plan.threads)


def result_json(runs: TimedRuns, threads: int) -> dict[str, Any]:
    """The child's result: the runs' statistics plus how they were made."""
    result = {
        **stats.describe([s / 1e6 for s in runs.samples_ns]),
        "threads": threads,
        "session_ms": runs.setup_ms,
        "clock_tick_ms": clock_tick_ms(),
        "rounds": runs.rounds,
        "host_cpu": cpu_name(),
        "runtime": runs.runtime,
        "runtime_version": runs.runtime_version,
        "providers": list(runs.providers),
        "input_shapes": runs.input_shapes,
        "defaulted_dims": list(runs.defaulted_dims),
        "warmup": runs.warmup,
        "measured_s": runs.measured_s,
    }
    if runs.ttft_ms:
        result["ttft"] = stats.describe(runs.ttft_ms)
        result["tokens_per_s"] = list(runs.tokens_per_s)
        result["prompt_tokens"] = runs.prompt_tokens
        result["new_tokens"] = runs.new_tokens
    return result


_IR_VERSION = re.compile(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)")


def runtime_error(what: str, raw: str) -> ProbeError:
    """A runtime's load failure as one line (out of memory and a too-new ONNX IR recognized)."""
    if looks_like_out_of_memory(raw):
        return out_of_memory_error(None)
    newer = _IR_VERSION.search(raw)
    if newer:
        import onnxruntime

        return ProbeError(f"{what}: the model is ONNX IR version {newer.group(1)}, and this "
                          f"onnxruntime ({onnxruntime.__version__}) reads up to IR version "
                          f"{newer.group(2)}; upgrade onnxruntime, or export the model at IR "
                          f"version {newer.group(2)} or lower", path="latency")
    return ProbeError(f"{what}: {clean_ort_message(raw)}", path="latency")


class OutOfMemory(ProbeError):
    """The model exhausted the probe's memory cap."""


def out_of_memory_error(cap_bytes: int | None, gpu: bool = False) -> OutOfMemory:
    """The one message for a model that exhausts the probe's memory (``gpu``: it ran on a GPU
    provider, whose own memory may be what ran out)."""
    cap = f" of {cap_bytes / 2**30:g} GiB" if cap_bytes else ""
    where = f"on the GPU or under the probe's host-memory cap{cap}" if gpu \
        else f"under the probe's cap{cap}"
    return OutOfMemory(f"the model ran out of memory {where}; its weights and "
                      "activations at the pinned shapes must fit (smaller latency.dims or "
                      "latency.inputs shapes need less)", path="latency")


def input_error(raw: str, spec: LatencySpec, signature: Sequence[TensorSpec],
                feeds: Mapping[str, np.ndarray], facts: GraphFacts | None) -> ProbeError:
    """A failed first run as one line, naming what to pin (out of memory recognized)."""
    if looks_like_out_of_memory(raw):
        return out_of_memory_error(None)
    if _GPU_FAULT.search(raw):
        # A kernel's own limit (a grid too large) reads the same as a bad index: say both.
        return ProbeError(f"the model failed on the GPU: {clean_ort_message(raw)}; the execution "
                          "provider's own limits or the inputs' values may cause that: run it "
                          "without latency.providers to compare on the CPU, and pin "
                          "latency.inputs if it fails there too", path="latency.providers")
    return failed_run_error(raw, spec, signature, feeds, facts)


_GPU_FAULT = re.compile(r"CUDA error|CUDA failure|CUDNN failure|CUBLAS failure|cudaError")
"""How onnxruntime's CUDA provider reports a failed kernel or library call."""
