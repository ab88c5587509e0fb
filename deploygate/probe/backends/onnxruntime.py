"""onnxruntime backend (ONNX): one session, timed ``session.run`` calls.

Session: ``intra_op_num_threads = threads``, ``inter_op_num_threads = 1``, sequential execution,
``ORT_ENABLE_ALL`` graph optimizations, ``log_severity_level = 3`` (errors only). Execution
providers are ``latency.providers`` in that order, else the CPU provider alone; for a GPU
provider the CUDA and cuDNN libraries of the installed ``nvidia-*`` packages are preloaded
first (``onnxruntime.preload_dlls``). A requested
provider this onnxruntime build lacks is refused before a session is made, naming what it has;
after the session is made, every requested provider must be among ``session.get_providers()``
(onnxruntime otherwise falls back to CPU with only a log line), and the providers in use are
reported. ``session.run`` returns its outputs as host arrays, so each timed run waits for the
device to finish and copy back: GPU runs are synchronized per run.

No custom-op library is ever registered; a model whose nodes need one is refused before a
session is made.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts.onnx import STANDARD_DOMAINS
from deploygate.errors import ProbeError, ProviderNotStarted
from deploygate.probe.backends.plan import Emit, RunPlan, TimedRuns
from deploygate.probe.diagnose import clean_ort_message
from deploygate.probe.result import CPU_PROVIDER, gpu_providers

if TYPE_CHECKING:
    import onnx


def custom_domains(model: onnx.ModelProto) -> list[str]:
    """Operator domains used by the model (subgraphs and functions too) that need a library."""
    local = {(f.domain, f.name) for f in model.functions}
    found: set[str] = set()

    def visit(nodes: Any) -> None:
        for node in nodes:
            if node.domain not in STANDARD_DOMAINS and (node.domain, node.op_type) not in local:
                found.add(node.domain)
            for attr in node.attribute:
                if attr.HasField("g"):
                    visit(attr.g.node)
                for graph in attr.graphs:
                    visit(graph.node)

    visit(model.graph.node)
    for function in model.functions:
        visit(function.node)
    return sorted(found)


def check_providers(requested: tuple[str, ...], available: list[str], version: str,
                    installed: frozenset[str] = frozenset()) -> list[str]:
    """The providers to ask for: ``requested`` (CPU when empty); ProbeError when one is missing.
    ``installed``: the onnxruntime distributions installed (``installed_builds``), which say
    how to get a missing GPU provider."""
    if not requested:
        return [CPU_PROVIDER]
    missing = [p for p in requested if p not in available]
    if missing:
        names = ", ".join(missing)
        if "onnxruntime-gpu" in installed and "onnxruntime" in installed:
            # Both write the same package: whichever was installed last is the one in use.
            fix = ("onnxruntime and onnxruntime-gpu are both installed, and the CPU build's "
                   "files are in use: pip uninstall -y onnxruntime onnxruntime-gpu, then pip "
                   "install 'onnxruntime-gpu[cuda,cudnn]'")
        elif gpu_providers(missing) and "onnxruntime-gpu" not in installed:
            fix = ("install the onnxruntime build that has it in place of this one (for "
                   "CUDAExecutionProvider: pip uninstall -y onnxruntime, then pip install "
                   "'onnxruntime-gpu[cuda,cudnn]'; docs/latency.md)")
        else:
            fix = "install the onnxruntime build that has it"
        raise ProbeError(f"latency.providers: {names} {'is' if len(missing) == 1 else 'are'} not "
                         f"available in this onnxruntime {version} (available: "
                         f"{', '.join(available)}); {fix}, or remove it",
                         path="latency.providers")
    return list(requested)


def installed_builds() -> frozenset[str]:
    """Which onnxruntime distributions are installed (``onnxruntime``, ``onnxruntime-gpu``, ...):
    they share one Python package, so more than one means the last installed is in use."""
    from importlib import metadata

    names = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml",
             "onnxruntime-qnn")
    found = set()
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.add(name)
    return frozenset(found)


def check_session_providers(requested: tuple[str, ...], used: list[str]) -> None:
    """ProbeError when a requested provider failed to start and the session fell back."""
    dropped = [p for p in requested if p not in used]
    if dropped:
        raise ProviderNotStarted(
            f"latency.providers: onnxruntime could not start {', '.join(dropped)} (the session "
            f"runs on {', '.join(used)}); deploygate never falls back silently: fix the "
            "provider's libraries or drivers, or remove it", path="latency.providers")


def preload_gpu_libraries(ort: Any) -> None:
    """Load the CUDA and cuDNN libraries of the ``nvidia-*`` pip packages that
    ``onnxruntime-gpu[cuda,cudnn]`` installs, as onnxruntime's documentation asks of a program
    that does not import torch first; without this the CUDA provider finds only the libraries
    on the system's library path (benchmarks/provider_preload_check.sh shows the difference).
    These are this environment's installed packages, never a file from the repository."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime-gpu >= 1.21
    if preload is None:
        return
    try:
        preload()  # prints what it cannot load; the child's stdout is stderr
    except (OSError, RuntimeError):
        pass  # the session's provider check then says which provider did not start


def make_session(model: Path | bytes, threads: int, providers: list[str] | None = None) -> Any:
    """An onnxruntime session configured as this module's docstring says."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=providers or [CPU_PROVIDER])


def measure(plan: RunPlan, emit: Emit) -> TimedRuns:
    """Load, check, feed and time the ONNX model ``plan`` names."""
    import onnx
    import onnxruntime as ort

    from deploygate.artifacts.onnx import declared_sizes
    from deploygate.probe.graph import read_graph_facts
    from deploygate.probe.inputs import defaulted_dims, read_signature, synthesize_inputs
    from deploygate.probe.measure import input_error, runtime_error, time_plan

    spec = plan.spec
    # Session options only quiet the session; environment-level warnings need this too.
    ort.set_default_logger_severity(3)
    emit({"event": "phase", "phase": "load"})
    providers = check_providers(spec.providers, ort.get_available_providers(), ort.__version__,
                                installed_builds() if spec.providers else frozenset())
    if gpu_providers(providers):
        preload_gpu_libraries(ort)
    try:
        model = onnx.load(str(plan.model), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError, onnx its own types, OSError on I/O
        raise ProbeError(f"onnx cannot read the model: {clean_ort_message(str(e))}",
                         path="latency") from None
    domains = custom_domains(model)
    if domains:
        raise ProbeError(f"the model needs custom-op domain {', '.join(map(repr, domains))}; "
                         "deploygate never loads custom-op libraries, so it cannot run it",
                         path="latency")
    signature = read_signature(model)
    facts = read_graph_facts(model, [t.name for t in signature])
    declared = declared_sizes(model)
    del model  # the session reads the file itself; weights need not stay in memory twice
    feeds = synthesize_inputs(signature, spec, root=plan.root, base_dir=plan.base_dir,
                              index_rows=facts.index_rows, branch_inputs=facts.branch_inputs,
                              declared=declared)

    emit({"event": "phase", "phase": "session"})
    plural = "" if plan.threads == 1 else "s"
    emit({"event": "progress",
          "message": f"creating onnxruntime session ({plan.threads} thread{plural}, "
                     f"{', '.join(providers)})"})
    started = time.perf_counter_ns()
    try:
        session = make_session(plan.model, plan.threads, providers)
    except Exception as e:  # onnxruntime's pybind errors derive from Exception only
        raise runtime_error("onnxruntime could not load the model", str(e)) from None
    setup_ms = (time.perf_counter_ns() - started) / 1e6
    used = list(session.get_providers())
    check_session_providers(spec.providers, used)

    emit({"event": "phase", "phase": "first-run"})
    emit({"event": "progress", "message": f"warming up ({spec.warmup} runs)"})
    for i in range(max(1, spec.warmup)):
        try:
            session.run(None, feeds)
        except Exception as e:  # as above
            raise input_error(str(e), spec, signature, feeds, facts) from None
        if i == 0:
            emit({"event": "phase", "phase": "warmup"})

    samples_ns, rounds, measured_s = time_plan(lambda: session.run(None, feeds), plan, emit)
    return TimedRuns(samples_ns=samples_ns, rounds=rounds, setup_ms=setup_ms,
                     measured_s=measured_s, warmup=max(1, spec.warmup), runtime="onnxruntime",
                     runtime_version=ort.__version__,
                     input_shapes={name: list(a.shape) for name, a in feeds.items()},
                     defaulted_dims=[d.to_json()
                                     for d in defaulted_dims(signature, spec, declared)],
                     providers=tuple(used))
