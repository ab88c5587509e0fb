"""Probe backends: which runtime measures which format, and whether it is installed here.

A backend is a module in this package with ``measure(plan, emit) -> TimedRuns``, run only in
the probe's child process (``deploygate.probe.child``). It loads the model into its runtime,
feeds it, and times runs as the ``RunPlan`` says; everything around it is shared and knows no
runtime: the child process, its timeout, memory cap and process group (``probe/process.py``),
the statistics (``probe/stats.py``) and the verdict (``probe/verdict.py``).

Importing this package imports no runtime: the parent only asks ``installed()``, which looks
the runtime's module up without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from deploygate.errors import ProbeError
from deploygate.manifest.model import RUNTIMES


@dataclass(frozen=True)
class Backend:
    """A runtime the probe can measure with."""

    name: str
    """The name ``latency.runtime`` takes."""
    formats: tuple[str, ...]
    """Artifact formats it runs."""
    import_name: str
    """The Python module the runtime is imported as."""
    extra: str | None
    """deploygate's optional extra that installs it (None: in the base install)."""
    module: str
    """The child-side module with ``measure(plan, emit)``."""

    @property
    def install_line(self) -> str:
        """The exact command that installs this backend."""
        return f"pip install 'deploygate[{self.extra}]'" if self.extra \
            else "pip install deploygate"

    def installed(self) -> bool:
        """Whether the runtime's module can be imported here (it is not imported)."""
        try:
            return importlib.util.find_spec(self.import_name) is not None
        except (ImportError, ValueError):
            return False


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("onnxruntime", ("onnx",), "onnxruntime", None,
            "deploygate.probe.backends.onnxruntime"),
    Backend("litert", ("tflite",), "ai_edge_litert", "litert", "deploygate.probe.backends.litert"),
    Backend("llama.cpp", ("gguf",), "llama_cpp", "llama", "deploygate.probe.backends.llama"),
)}
assert tuple(BACKENDS) == RUNTIMES


def backend_for(fmt: str, runtime: str | None = None) -> Backend | None:
    """The backend that measures ``fmt`` (``runtime`` when given); None when none runs it.

    Raises ProbeError (``latency.runtime``) when the named runtime does not run ``fmt``.
    """
    if runtime is not None:
        backend = BACKENDS.get(runtime)
        if backend is None:
            raise ProbeError(f"latency.runtime {runtime!r} is not one of {', '.join(BACKENDS)}",
                             path="latency.runtime")
        if fmt not in backend.formats:
            fitting = [b.name for b in BACKENDS.values() if fmt in b.formats]
            hint = f"use {' or '.join(fitting)}" if fitting else "no backend runs it"
            raise ProbeError(f"latency.runtime {runtime} does not run {fmt} models; {hint}",
                             path="latency.runtime")
        return backend
    return next((b for b in BACKENDS.values() if fmt in b.formats), None)


def not_probed_reason(fmt: str) -> str:
    """Why a model of ``fmt`` gets no measurement: no backend runs that format."""
    runs = "; ".join(f"{b.name} runs {', '.join(b.formats)}" for b in BACKENDS.values())
    return f"{fmt} models are not probed (no backend runs them: {runs})"
