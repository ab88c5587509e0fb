"""Probe backends: which runtime measures which format, and onnxruntime's execution providers.

The provider tests run the real child process and the real onnxruntime: a CPU build of
onnxruntime has no CUDAExecutionProvider, which is exactly the refusal path under test.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from deploygate.errors import ProbeError
from deploygate.manifest.model import RUNTIMES, LatencySpec
from deploygate.probe import BACKEND_MISSING, choose_backend, probe_latency
from deploygate.probe.backends import BACKENDS, Backend, backend_for
from deploygate.probe.backends.onnxruntime import (
    check_providers,
    check_session_providers,
    installed_builds,
)

from tests.fixtures import probe_models as models

QUICK = {"max_time_s": 0.2, "warmup": 1, "timeout_s": 60.0}


def test_every_runtime_has_a_backend_and_the_format_picks_it() -> None:
    assert tuple(BACKENDS) == RUNTIMES
    assert backend_for("onnx").name == "onnxruntime"  # type: ignore[union-attr]
    assert backend_for("tflite").name == "litert"  # type: ignore[union-attr]
    assert backend_for("gguf").name == "llama.cpp"  # type: ignore[union-attr]
    assert backend_for("safetensors") is None and backend_for("pytorch") is None


def test_a_runtime_that_does_not_run_the_format_is_refused() -> None:
    with pytest.raises(ProbeError) as caught:
        backend_for("onnx", "litert")
    assert caught.value.path == "latency.runtime"
    assert "litert does not run onnx" in caught.value.message and "use onnxruntime" in \
        caught.value.message


def test_a_missing_extra_names_the_exact_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # A backend whose runtime module does not exist here stands for an extra not installed.
    absent = Backend("llama.cpp", ("gguf",), "deploygate_no_such_runtime", "llama",
                     "deploygate.probe.backends.llama")
    assert not absent.installed()
    monkeypatch.setitem(BACKENDS, "llama.cpp", absent)
    with pytest.raises(ProbeError) as caught:
        choose_backend("gguf", LatencySpec(), "m.gguf")
    assert caught.value.rule == BACKEND_MISSING == "DG408"
    assert "pip install 'deploygate[llama]'" in caught.value.message
    assert str(caught.value).startswith("m.gguf: ")


def test_onnxruntime_is_in_the_base_install() -> None:
    assert BACKENDS["onnxruntime"].installed()
    assert BACKENDS["onnxruntime"].install_line == "pip install deploygate"


def test_providers_only_apply_to_onnxruntime() -> None:
    with pytest.raises(ProbeError) as caught:
        choose_backend("tflite", LatencySpec(providers=("CPUExecutionProvider",)))
    assert caught.value.path == "latency.providers"


def test_provider_lists() -> None:
    assert check_providers((), ["CPUExecutionProvider"], "1.0") == ["CPUExecutionProvider"]
    with pytest.raises(ProbeError) as caught:
        check_providers(("TensorrtExecutionProvider", "CUDAExecutionProvider"),
                        ["CPUExecutionProvider"], "1.0")
    assert "TensorrtExecutionProvider, CUDAExecutionProvider are not available" in \
        caught.value.message
    check_session_providers(("CUDAExecutionProvider",),
                            ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ProbeError) as fell_back:
        check_session_providers(("CUDAExecutionProvider",), ["CPUExecutionProvider"])
    assert "never falls back silently" in fell_back.value.message


def test_a_missing_gpu_provider_says_which_build_to_install_in_place_of_which() -> None:
    cpu_only = ["CPUExecutionProvider"]

    def message(installed: frozenset[str], requested: str = "CUDAExecutionProvider") -> str:
        with pytest.raises(ProbeError) as caught:
            check_providers((requested,), cpu_only, "1.0", installed)
        return caught.value.message

    assert "pip uninstall -y onnxruntime, then pip install 'onnxruntime-gpu[cuda,cudnn]'" in \
        message(frozenset({"onnxruntime"}))
    # Both builds write one package: the CPU one's files are the ones in use.
    assert "onnxruntime and onnxruntime-gpu are both installed" in \
        message(frozenset({"onnxruntime", "onnxruntime-gpu"}))
    assert message(frozenset({"onnxruntime-gpu"})).endswith(
        "install the onnxruntime build that has it, or remove it")
    assert installed_builds() & {"onnxruntime", "onnxruntime-gpu"}  # the build imported here


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="this onnxruntime has CUDA: the refusal path cannot be shown")
def test_cuda_on_a_cpu_onnxruntime_is_refused_naming_what_is_available(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    spec = LatencySpec(dims={"batch": 1, "h": 8, "w": 8}, providers=("CUDAExecutionProvider",),
                       **QUICK)  # type: ignore[arg-type]
    with pytest.raises(ProbeError) as caught:
        probe_latency(model, spec, threads=1, root=repo, base_dir=repo, display="m.onnx")
    message = caught.value.message
    assert caught.value.path == "latency.providers" and caught.value.rule == "DG403"
    assert "CUDAExecutionProvider is not available" in message
    for available in ort.get_available_providers():
        assert available in message


def test_the_providers_that_ran_are_reported(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    spec = LatencySpec(dims={"batch": 1, "h": 8, "w": 8}, providers=("CPUExecutionProvider",),
                       **QUICK)  # type: ignore[arg-type]
    result = probe_latency(model, spec, threads=1, root=repo, base_dir=repo, display="m.onnx")
    assert result.providers == ("CPUExecutionProvider",)
    assert result.runtime == "onnxruntime" and result.runtime_version == ort.__version__
    assert result.to_json()["providers"] == ["CPUExecutionProvider"]
    assert result.ttft is None and "ttft_ms" not in result.to_json()


def test_a_gpu_provider_child_caps_its_data_segment_not_its_address_space() -> None:
    # A GPU driver maps address space for the device's whole memory: under RLIMIT_AS it cannot
    # start (benchmarks/provider_check.py caps shows it on a GPU), so the cap moves to RLIMIT_DATA.
    import subprocess
    import sys

    code = ("import resource\nfrom deploygate.probe.child import _cap_memory\n"
            "_cap_memory(3 << 30, {kind!r})\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0], "
            "resource.getrlimit(resource.RLIMIT_DATA)[0])")
    caps = {}
    for kind in ("address-space", "data"):
        done = subprocess.run([sys.executable, "-c", code.format(kind=kind)], capture_output=True,
                              text=True, timeout=60, check=True)
        caps[kind] = tuple(int(v) for v in done.stdout.split())
    assert caps["address-space"][0] == 3 << 30 != caps["address-space"][1]
    assert caps["data"][1] == 3 << 30 != caps["data"][0]


def _gpu_here() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers() and \
        Path("/dev/nvidia0").exists()


@pytest.mark.skipif(not _gpu_here(), reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_cuda_measures_on_the_gpu_under_the_probe_memory_cap(repo: Path) -> None:
    model = models.image_model(repo / "models" / "m.onnx")
    spec = LatencySpec(dims={"batch": 1, "h": 32, "w": 32}, providers=("CUDAExecutionProvider",),
                       **QUICK)  # type: ignore[arg-type]
    result = probe_latency(model, spec, threads=1, root=repo, base_dir=repo, display="m.onnx")
    assert result.providers[0] == "CUDAExecutionProvider" and not result.on_cpu
    assert result.runs > 0


@pytest.mark.skipif(not _gpu_here(), reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_tensorrt_runs_or_is_refused_never_a_silent_fall_back(repo: Path) -> None:
    # TensorRT's libraries are their own install: where they are missing, onnxruntime falls
    # back to the next provider with a log line, and the probe must refuse instead.
    model = models.image_model(repo / "models" / "m.onnx")
    spec = LatencySpec(dims={"batch": 1, "h": 32, "w": 32},
                       providers=("TensorrtExecutionProvider", "CUDAExecutionProvider"),
                       **QUICK)  # type: ignore[arg-type]
    try:
        result = probe_latency(model, spec, threads=1, root=repo, base_dir=repo, display="m.onnx")
    except ProbeError as e:
        assert "could not start TensorrtExecutionProvider" in e.message, e.message
    else:
        assert result.providers[0] == "TensorrtExecutionProvider"
