"""LiteRT backend (TFLite): ``ai_edge_litert``'s interpreter, timed ``invoke()`` calls.

The interpreter uses the built-in op resolver with its default delegate (XNNPACK on CPU) and
``num_threads = threads``. Inputs are synthesized from the interpreter's input details (a
``-1`` in a shape signature is a dynamic dimension, pinned as for ONNX) and set once before
the runs; inputs whose shape differs from the model's are resized before tensors are
allocated. Each timed run is one ``invoke()``.

A model that needs custom operators (MediaPipe's, or ``Flex`` ops from TensorFlow) is refused
before an interpreter is made, naming the operators: deploygate never registers an op
library, and never uses ``InterpreterWithCustomOps``.
"""

from __future__ import annotations

import time
from typing import Any

from deploygate.artifacts.base import TensorSpec
from deploygate.errors import ArtifactError, ProbeError
from deploygate.probe.backends.plan import Emit, RunPlan, TimedRuns


def custom_operators(plan: RunPlan) -> list[str]:
    """Custom operators the model's operator codes name (read header-only, bounds-checked)."""
    from deploygate.artifacts import tflite

    try:
        info = tflite.inspect(plan.model, plan.model.name)
    except ArtifactError as e:
        raise ProbeError(f"the TFLite file cannot be read: {e.message}", path="latency") from None
    return list(info.details.get("custom_operators", []))


def input_signature(details: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
    """The interpreter's inputs as TensorSpecs (``-1`` in a shape signature: dynamic)."""
    import numpy as np

    out = []
    for d in details:
        signature = d.get("shape_signature")
        dims = signature if signature is not None and len(signature) else d["shape"]
        out.append(TensorSpec(str(d["name"]), np.dtype(d["dtype"]).name,
                              tuple(None if int(x) < 0 else int(x) for x in dims)))
    return tuple(out)


def measure(plan: RunPlan, emit: Emit) -> TimedRuns:
    """Load, feed and time the TFLite model ``plan`` names with LiteRT."""
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from deploygate.probe.inputs import defaulted_dims, synthesize_inputs
    from deploygate.probe.measure import input_error, runtime_error, time_plan

    spec = plan.spec
    emit({"event": "phase", "phase": "load"})
    custom = custom_operators(plan)
    if custom:
        raise ProbeError(f"the model needs custom operator{'s' if len(custom) > 1 else ''} "
                         f"{', '.join(map(repr, custom))}; deploygate never loads op libraries, "
                         "so LiteRT cannot run it here", path="latency")

    emit({"event": "phase", "phase": "session"})
    plural = "" if plan.threads == 1 else "s"
    emit({"event": "progress",
          "message": f"creating LiteRT interpreter ({plan.threads} thread{plural}, XNNPACK)"})
    started = time.perf_counter_ns()
    try:
        interpreter = Interpreter(model_path=str(plan.model), num_threads=plan.threads,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN)
        details = interpreter.get_input_details()
        signature = input_signature(details)
        feeds = synthesize_inputs(signature, spec, root=plan.root, base_dir=plan.base_dir)
        for d in details:
            if list(d["shape"]) != list(feeds[d["name"]].shape):
                interpreter.resize_tensor_input(d["index"], list(feeds[d["name"]].shape))
        interpreter.allocate_tensors()
    except ProbeError:
        raise
    except (ValueError, RuntimeError) as e:  # LiteRT reports load and allocation failures so
        raise runtime_error("LiteRT could not load the model", str(e)) from None
    setup_ms = (time.perf_counter_ns() - started) / 1e6

    emit({"event": "phase", "phase": "first-run"})
    emit({"event": "progress", "message": f"warming up ({spec.warmup} runs)"})
    try:
        for d in details:
            interpreter.set_tensor(d["index"], feeds[d["name"]])
        for i in range(max(1, spec.warmup)):
            interpreter.invoke()
            if i == 0:
                emit({"event": "phase", "phase": "warmup"})
    except (ValueError, RuntimeError) as e:
        raise input_error(str(e), spec, signature, feeds, None) from None

    samples_ns, rounds, measured_s = time_plan(interpreter.invoke, plan, emit)
    return TimedRuns(samples_ns=samples_ns, rounds=rounds, setup_ms=setup_ms,
                     measured_s=measured_s, warmup=max(1, spec.warmup), runtime="litert",
                     runtime_version=str(getattr(ai_edge_litert, "__version__", "")),
                     input_shapes={name: list(a.shape) for name, a in feeds.items()},
                     defaulted_dims=[d.to_json() for d in defaulted_dims(signature, spec)])
