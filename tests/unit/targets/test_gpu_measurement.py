"""A measurement taken on a GPU execution provider: it is the latency of a GPU, never of this
host's CPU, so it calibrates no CPU device and is the target's own only on an accelerator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deploygate.engine import measured_on_target
from deploygate.probe.measure import out_of_memory_error
from deploygate.targets.assess import device_estimate
from deploygate.targets.catalog import load_catalog
from deploygate.targets.workload import Workload, onnx_workload
from tests.fixtures import workload_models as onnx_models
from tests.fixtures.factories import latency_result

CATALOG = load_catalog()
PI, H100 = CATALOG["raspberry-pi-5"], CATALOG["aws-p5-h100-80gb"]
ON_CPU = replace(latency_result(1.0), providers=("CPUExecutionProvider",))
ON_GPU = replace(latency_result(0.05), providers=("CUDAExecutionProvider", "CPUExecutionProvider"))


def _conv(tmp_path: Path) -> tuple[Path, Workload]:
    path = onnx_models.save(onnx_models.conv(batch=1, size=64), tmp_path / "c.onnx")
    return path, onnx_workload(path)


def test_only_a_cpu_run_calibrates_a_cpu_device(tmp_path: Path) -> None:
    _, work = _conv(tmp_path)
    assert ON_CPU.on_cpu and latency_result(1.0).on_cpu and not ON_GPU.on_cpu
    from_cpu = device_estimate(PI, work, ON_CPU, int8_weights=False)
    from_gpu = device_estimate(PI, work, ON_GPU, int8_weights=False)
    unmeasured = device_estimate(PI, work, None, int8_weights=False)
    assert from_cpu is not None and from_cpu.host_calibration is not None
    assert "calibrated on this host" in from_cpu.method
    # The GPU's 0.05 ms would have made the Pi look 20 times faster than the CPU run does.
    assert from_gpu is not None and from_gpu.host_calibration is None
    assert unmeasured is not None and from_gpu.ms == unmeasured.ms
    assert from_gpu.method.endswith("not calibrated on this host, which measured on "
                                    "CUDAExecutionProvider, CPUExecutionProvider, not its CPU")
    # An accelerator is estimated from published rows either way: the run changes nothing.
    assert device_estimate(H100, work, ON_GPU, int8_weights=False) == \
        device_estimate(H100, work, ON_CPU, int8_weights=False)


def test_the_measurement_is_the_targets_own_only_on_its_kind_of_processor() -> None:
    assert measured_on_target("aws-p5-h100-80gb", H100, ON_GPU)
    assert not measured_on_target("aws-p5-h100-80gb", H100, ON_CPU)  # the CPU of a GPU runner
    assert measured_on_target("raspberry-pi-5", PI, ON_CPU)
    assert not measured_on_target("raspberry-pi-5", PI, ON_GPU)
    assert not measured_on_target("raspberry-pi-4", PI, ON_CPU)  # another device
    assert not measured_on_target(None, PI, ON_CPU)


def test_out_of_memory_on_a_gpu_provider_names_both_memories() -> None:
    assert "under the probe's cap of 8 GiB;" in out_of_memory_error(8 << 30).message
    assert "on the GPU or under the probe's host-memory cap of 8 GiB;" in \
        out_of_memory_error(8 << 30, gpu=True).message


def test_advise_says_why_a_gpu_run_calibrated_nothing(tmp_path: Path) -> None:
    from deploygate.targets.advise import advise_model
    from deploygate.targets.memory import estimate_memory
    from tests.fixtures.factories import small_onnx, spec

    path, work = _conv(tmp_path)
    art = small_onnx(str(path), weights=work.weights_bytes)
    advice = advise_model(spec("edge", "raspberry-pi-5", budget_ms=50), art,
                          estimate_memory(art, workload=work), work, CATALOG, ON_GPU)
    assert advice.calibration.endswith("none calibrated on this host, which measured on "
                                       "CUDAExecutionProvider, CPUExecutionProvider, not its CPU")
    pi5 = next(d for d in advice.devices if d.device.id == "raspberry-pi-5")
    assert pi5.estimate is not None and pi5.estimate.host_calibration is None
