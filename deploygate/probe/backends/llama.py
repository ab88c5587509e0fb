"""llama.cpp backend (GGUF): ``llama_cpp.Llama`` on the CPU, timed prompt and decode steps.

The model is loaded with ``n_gpu_layers = 0``, ``n_threads = n_threads_batch = threads``, a
context of ``prompt_tokens + new_tokens`` and a fixed seed; llama.cpp's own logging is off.
The prompt is an English sentence repeated and tokenized by the model's own tokenizer, cut to
``latency.prompt_tokens`` tokens. Sampling is greedy (temperature 0), so every generation runs
the same tokens and an end-of-text token is just another token.

One generation: the KV cache is cleared, then

* **time to first token** is the prompt's evaluation plus sampling the first token;
* each further token, up to ``latency.new_tokens``, is one timed decode step (evaluate the last
  token, sample the next): these are the runs the percentiles and ``budget_ms`` are about;
* the generation's **decode rate** is its decode steps divided by their time.

Garbage is collected after each generation, outside the timed steps. One untimed generation
warms up. Generations repeat until ``max_time_s`` has passed and at least
``MIN_GENERATIONS`` ran; extra rounds follow the shared rule (``probe/measure.py``). A model
file is only ever mapped and read by llama.cpp; its chat template is never rendered.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from deploygate.errors import ProbeError
from deploygate.probe.backends.plan import Emit, RunPlan, TimedRuns

MIN_GENERATIONS = 3
"""Generations always timed, whatever ``max_time_s`` says: the ttft needs several."""

PROMPT_TEXT = "The quick brown fox jumps over the lazy dog while the band plays on. "
"""Repeated and tokenized to make the prompt: ordinary words every tokenizer has."""


def prompt_tokens(llm: Any, count: int) -> list[int]:
    """``count`` tokens of ``PROMPT_TEXT`` repeated, tokenized by the model (BOS first)."""
    text = PROMPT_TEXT
    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True)
    while len(tokens) < count and len(text) < 64 * count:
        text += text
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True)
    if len(tokens) < count:  # a tokenizer that merges whole sentences: repeat the ids
        tokens = (tokens * (count // max(1, len(tokens)) + 1))
    return tokens[:count]


def measure(plan: RunPlan, emit: Emit) -> TimedRuns:
    """Load the GGUF ``plan`` names into llama.cpp and time its prompt and decode steps."""
    import llama_cpp

    from deploygate.probe.measure import runtime_error, time_plan, time_runs

    spec = plan.spec
    if spec.new_tokens < 2:
        raise ProbeError("latency.new_tokens must be at least 2 (a first token, then decoding)",
                         path="latency.new_tokens")
    emit({"event": "phase", "phase": "session"})
    plural = "" if plan.threads == 1 else "s"
    emit({"event": "progress", "message": f"loading the model into llama.cpp "
                                          f"({plan.threads} thread{plural})"})
    started = time.perf_counter_ns()
    try:
        llm: Any = llama_cpp.Llama(model_path=str(plan.model), n_gpu_layers=0,
                              n_ctx=spec.prompt_tokens + spec.new_tokens,
                              n_batch=min(spec.prompt_tokens, 2048), n_threads=plan.threads,
                              n_threads_batch=plan.threads, seed=0, verbose=False)
    except (ValueError, RuntimeError) as e:  # llama-cpp-python's load failures
        raise runtime_error("llama.cpp could not load the model", str(e)) from None
    setup_ms = (time.perf_counter_ns() - started) / 1e6
    prompt = prompt_tokens(llm, spec.prompt_tokens)
    ttft_ms: list[float] = []
    rates: list[float] = []
    clock = time.perf_counter_ns

    def generate() -> list[int]:
        """One generation; the nanoseconds of each decode step (ttft and rate recorded)."""
        llm.reset()
        start = clock()
        llm.eval(prompt)
        token = llm.sample(temp=0.0)
        first = clock()
        steps = []
        for _ in range(spec.new_tokens - 1):
            step = clock()
            llm.eval([token])
            token = llm.sample(temp=0.0)
            steps.append(clock() - step)
        ttft_ms.append((first - start) / 1e6)
        rates.append(len(steps) / (sum(steps) / 1e9))
        # Each sample() builds a sampler whose native buffers live in reference cycles; the
        # shared timing loop pauses the garbage collector, so collect here, between timed
        # steps, or the cycles pile up and slow every later step (2-3x measured).
        gc.collect()
        return steps

    emit({"event": "phase", "phase": "first-run"})
    emit({"event": "progress", "message": f"warming up (1 generation of {spec.new_tokens} "
                                          f"tokens after {len(prompt)} prompt tokens)"})
    try:
        generate()
    except (ValueError, RuntimeError) as e:
        raise runtime_error("llama.cpp failed to generate", str(e)) from None
    ttft_ms.clear()
    rates.clear()
    emit({"event": "phase", "phase": "warmup"})

    def measure_round(seconds: float, most: int) -> list[int]:
        steps: list[int] = []
        # time_runs times whole generations; their decode steps are the samples.
        time_runs(lambda: steps.extend(generate()), max_time_s=seconds,
                  min_runs=MIN_GENERATIONS, max_runs=max(1, most // (spec.new_tokens - 1)))
        return steps

    samples_ns, rounds, measured_s = time_plan(generate, plan, emit, measure_round)
    return TimedRuns(samples_ns=samples_ns, rounds=rounds, setup_ms=setup_ms,
                     measured_s=measured_s, warmup=1, runtime="llama.cpp",
                     runtime_version=str(getattr(llama_cpp, "__version__", "")),
                     input_shapes={"prompt_tokens": [len(prompt)]}, ttft_ms=ttft_ms,
                     tokens_per_s=rates, prompt_tokens=len(prompt), new_tokens=spec.new_tokens)
