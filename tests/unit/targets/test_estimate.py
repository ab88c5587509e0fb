"""The roofline estimate on a target: calibration, bound, cache, band."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploygate.artifacts import inspect_artifact
from deploygate.engine import build_context, estimates_json
from deploygate.manifest.model import Device
from deploygate.targets.calibrate import HostPeaks
from deploygate.targets.catalog import is_accelerator, load_catalog
from deploygate.targets.estimate import engine_seconds, estimate_target, not_estimable
from deploygate.targets.runtimes import (
    GENERIC_RUNTIME,
    PathCalibration,
    choose_path,
    device_paths,
    load_calibration,
)
from deploygate.targets.workload import Kernel, Workload
from tests.fixtures import workload_models as onnx_models
from tests.fixtures.factories import latency_result, llm_7b_fp16, spec

CATALOG = load_catalog()
HOST = HostPeaks(flops=100e9, bandwidth=10e9, cpu="test", cores=2, numpy="x", source="env")


def _work(flops: float, moved: float = 1e6, weights: int = 500_000, nodes: int = 10) -> Workload:
    return Workload(flops=flops, bytes_moved=moved, weights_bytes=weights, activation_bytes=0,
                    coverage=1.0, nodes=nodes)


def test_calibrated_cpu_estimate_scales_by_efficiency() -> None:
    # 1 GFLOP in 50 ms on a 100 GFLOPS host is 20% efficiency; the Pi 5's 153.6 GFLOPS at 20%.
    est = estimate_target(_work(1e9), CATALOG["raspberry-pi-5"], measured_ms=50.0, host=HOST,
                          threads=2)
    assert est is not None and est.calibrated and est.bound == "compute"
    assert est.efficiency == pytest.approx(0.2)
    assert est.ms == pytest.approx(1e9 / (153.6e9 * 0.2) * 1000)
    assert (est.runtime, est.precision) == ("onnxruntime", "fp32")
    assert (est.low_ms, est.high_ms) == pytest.approx((est.ms * 0.5, est.ms * 2))
    assert "calibrated on this host" in est.method


def test_fewer_probe_threads_mean_a_smaller_host_peak() -> None:
    one = estimate_target(_work(1e9), CATALOG["raspberry-pi-5"], measured_ms=50.0, host=HOST,
                          threads=1)
    assert one is not None and one.efficiency == pytest.approx(0.4)


def test_fewer_target_threads_scale_the_estimate_not_the_measurement() -> None:
    pi = CATALOG["raspberry-pi-5"]
    assert pi.cores == 4
    full = estimate_target(_work(1e9), pi, measured_ms=50.0, host=HOST, threads=2)
    half = estimate_target(_work(1e9), pi, measured_ms=50.0, host=HOST, threads=2,
                           target_threads=2)
    assert full is not None and half is not None
    assert half.efficiency == full.efficiency  # the host's measurement is what it is
    assert half.ms == pytest.approx(2 * full.ms) and "2 of the device's 4 cores" in half.method


def test_the_estimate_says_which_calibration_it_used() -> None:
    est = estimate_target(_work(1e9), CATALOG["raspberry-pi-5"], measured_ms=50.0, host=HOST,
                          threads=2)
    assert est is not None and "from DEPLOYGATE_HOST_PEAKS" in est.method
    assert est.to_json()["host_calibration"] == HOST.to_json()
    uncalibrated = estimate_target(_work(1e9), CATALOG["raspberry-pi-5"])
    assert uncalibrated is not None and uncalibrated.to_json()["host_calibration"] is None


def test_memory_bound_when_the_working_set_leaves_the_cache() -> None:
    big = _work(1e6, moved=400e6, weights=200_000_000)
    est = estimate_target(big, CATALOG["raspberry-pi-4"], measured_ms=5.0, host=HOST, threads=2)
    assert est is not None and est.bound == "memory"
    assert est.ms == pytest.approx(400e6 / 12.8e9 * 1000)


def test_a_working_set_in_cache_is_compute_bound() -> None:
    small = _work(1e6, moved=900_000, weights=900_000)  # under the Pi 4's 1 MiB L2
    est = estimate_target(small, CATALOG["raspberry-pi-4"])
    assert est is not None and est.bound == "compute"


def test_cpu_without_a_host_measurement_uses_the_fitted_onnxruntime_path() -> None:
    est = estimate_target(_work(1e9), CATALOG["raspberry-pi-5"])
    assert est is not None and est.calibrated  # fitted to published measurements
    assert "fitted to" in est.calibration and "onnxruntime/fp32" in est.method
    band = load_calibration()["runtimes"]["onnxruntime"]["band"]
    assert est.low_ms / est.ms == pytest.approx(band[0])
    assert est.high_ms / est.ms == pytest.approx(band[1])


def test_accelerators_run_their_usual_path_with_the_fitted_band() -> None:
    w = _work(1e9)
    est = estimate_target(w, CATALOG["aws-g4dn.xlarge"], measured_ms=50.0, host=HOST)
    assert est is not None and (est.runtime, est.precision) == ("tensorrt", "fp16")
    assert "the device's usual runtime" in est.path_chosen
    assert est.calibrated and "fitted to" in est.calibration  # a host run says nothing of a GPU
    band = load_calibration()["runtimes"]["tensorrt"]["band"]
    assert est.high_ms / est.low_ms == pytest.approx(band[1] / band[0])
    json = est.to_json()
    assert {"ms", "low_ms", "high_ms", "runtime", "precision", "calibration"} <= set(json)


def test_a_quantized_graph_runs_at_int8_and_is_not_slower_than_its_float_version() -> None:
    kernels = tuple(Kernel(2e9, 2e6, 1e6) for _ in range(20))
    flt = Workload(flops=4e10, bytes_moved=1e8, weights_bytes=80_000_000, activation_bytes=0,
                   coverage=1.0, nodes=60, kernels=kernels)
    q = Workload(flops=4e10, bytes_moved=1e8, weights_bytes=20_000_000, activation_bytes=0,
                 coverage=1.0, nodes=180, kernels=kernels, quantized=True)
    orin = CATALOG["jetson-orin-nano-super"]
    fp16, int8 = estimate_target(flt, orin), estimate_target(q, orin)
    assert fp16 is not None and int8 is not None
    assert (fp16.precision, int8.precision) == ("fp16", "int8")
    assert "the graph is quantized" in int8.path_chosen
    assert int8.ms < fp16.ms


def test_the_manifest_chooses_the_runtime_and_precision() -> None:
    w = _work(1e9)
    gpu = estimate_target(w, CATALOG["jetson-agx-orin"], runtime="tensorrt", precision="int8")
    cpu = estimate_target(w, CATALOG["jetson-agx-orin"], runtime="onnxruntime")
    assert gpu is not None and cpu is not None
    assert gpu.precision == "int8" and "target.precision" in gpu.path_chosen
    assert cpu.runtime == "onnxruntime" and cpu.ms > gpu.ms
    with pytest.raises(ValueError, match="no 'qnn' path; its paths: tensorrt/fp16"):
        estimate_target(w, CATALOG["jetson-agx-orin"], runtime="qnn")


def test_a_runtime_without_measurements_is_uncalibrated_and_says_so() -> None:
    est = estimate_target(_work(1e9), CATALOG["iphone-15-pro"])
    assert est is not None and est.runtime == "coreml" and not est.calibrated
    assert est.calibration.startswith("uncalibrated: no published measurements on coreml")
    # Its band is measured, not chosen: the assumed figures' errors on every published row.
    assumed = load_calibration()["uncalibrated"]
    low, high = assumed["new_runtime_band"]
    assert est.calibration.endswith(f"band from their errors on {assumed['new_runtime_rows']} "
                                    "published rows of other runtimes")
    assert est.high_ms / est.ms == pytest.approx(high) and est.low_ms / est.ms == pytest.approx(low)
    assert high / low < 4  # the x0.25-x4 it had before was taste, four times wider


def test_launches_and_the_floor_dominate_a_tiny_graph_on_an_accelerator() -> None:
    tiny = Workload(flops=1e3, bytes_moved=1e3, weights_bytes=100, activation_bytes=0,
                    coverage=1.0, nodes=3, kernels=(Kernel(1e3, 10, 10),) * 3)
    est = estimate_target(tiny, CATALOG["aws-p4d-a100-40gb"])
    cal = load_calibration()["runtimes"]["tensorrt"]
    assert est is not None
    assert est.ms == pytest.approx(cal["floor_ms"] + 3 * cal["launch_us"] / 1000, rel=0.01)


def test_tensorrt_launches_scale_with_the_host_cpu_clock_where_the_device_states_one() -> None:
    # Ten compute-bound kernels of 1 GFLOP; 10 us a launch at a 4 GHz host, 0.1 ms floor, half
    # the peak. Launches add to the kernels; on TensorRT a device that states its CPU clock
    # (a Jetson AGX Orin: 2.2 GHz) launches 4/2.2 times slower, one that does not (a T4 server)
    # at the fitted cost, and QNN's HTP (launched from the NPU, not the host) never scales.
    cal = PathCalibration(0.5, 0.5, 10e-6, 1e-4, (0.5, 2.0), "test", True, host_ghz=4.0)
    work = Workload(flops=1e10, bytes_moved=0, weights_bytes=0, activation_bytes=0,
                    coverage=1.0, nodes=10, kernels=(Kernel(1e9, 0.0, 0.0),) * 10)
    assert CATALOG["jetson-agx-orin"].cpu_ghz == 2.2
    assert CATALOG["aws-g4dn.xlarge"].cpu_ghz is None
    for device, runtime, launch in (("jetson-agx-orin", "tensorrt", 10e-6 * 4.0 / 2.2),
                                    ("aws-g4dn.xlarge", "tensorrt", 10e-6),
                                    ("snapdragon-8-gen-3", "qnn", 10e-6)):
        path = choose_path(CATALOG[device], runtime, "fp16")
        assert path is not None
        busy = 1e10 / (path.peak * 0.5)
        seconds, bound, launches = engine_seconds(work, path, cal, CATALOG[device])
        assert (launches, bound) == (10, "compute")
        assert seconds == pytest.approx(1e-4 + busy + 10 * launch), device
    # Without a fitted host clock nothing scales.
    plain = PathCalibration(0.5, 0.5, 10e-6, 1e-4, (0.5, 2.0), "test", True)
    path = choose_path(CATALOG["jetson-agx-orin"], "tensorrt", "fp16")
    assert path is not None
    seconds, _, _ = engine_seconds(work, path, plain, CATALOG["jetson-agx-orin"])
    assert seconds == pytest.approx(1e-4 + 1e10 / (path.peak * 0.5) + 10 * 10e-6)


def test_the_shipped_tensorrt_calibration_states_its_host_clock() -> None:
    # The refit found a host clock for TensorRT's launches (the fit has Jetsons, which state
    # their CPU clocks), and the estimate on a Jetson says its launches ran at that clock.
    cal = load_calibration()["runtimes"]["tensorrt"]
    assert cal["host_ghz"] > 0
    work = Workload(flops=1e9, bytes_moved=0, weights_bytes=0, activation_bytes=0,
                    coverage=1.0, nodes=10, kernels=(Kernel(1e8, 0.0, 0.0),) * 10)
    est = estimate_target(work, CATALOG["jetson-agx-orin"])
    assert est is not None and "the device's 2.2 GHz CPU" in est.method
    est = estimate_target(work, CATALOG["aws-g4dn.xlarge"])
    assert est is not None and "GHz CPU" not in est.method


def test_accelerator_detection_without_a_precision_figure() -> None:
    gpu = Device("lab-gpu", "edge", memory=8 * 2**30, compute=20e12, cores=4, custom=True)
    cpu = Device("lab-cpu", "edge", memory=8 * 2**30, compute=50e9, cores=4, custom=True)
    assert is_accelerator(gpu) and not is_accelerator(cpu)


@pytest.mark.parametrize("precision", [None, "fp32", "fp16", "int8"])
@pytest.mark.parametrize("compute", [50e9, 20e12])
def test_the_derived_runtime_paths_and_the_estimate_agree_on_what_is_an_accelerator(
        precision: str | None, compute: float) -> None:
    # One device test: a CPU gets onnxruntime fp32, an accelerator the generic fp16/int8 path.
    device = Device("lab", "edge", memory=8 * 2**30, compute=compute, cores=4,
                    compute_precision=precision, custom=True)
    paths = device_paths(device)
    assert ("onnxruntime" in paths) is not is_accelerator(device)
    assert (GENERIC_RUNTIME in paths) is is_accelerator(device)


def test_no_compute_figure_no_estimate() -> None:
    bare = Device("pico", "edge", memory=2**26, custom=True)
    assert estimate_target(_work(1e9), bare) is None


def test_nothing_counted_no_estimate() -> None:
    w = Workload(flops=0.0, bytes_moved=800.0, weights_bytes=800, activation_bytes=0, coverage=0.0)
    assert estimate_target(w, CATALOG["raspberry-pi-5"], measured_ms=1.0, host=HOST) is None


def test_partial_coverage_widens_the_upper_end() -> None:
    w = Workload(flops=1e9, bytes_moved=1e6, weights_bytes=1000, activation_bytes=0, coverage=0.95)
    est = estimate_target(w, CATALOG["raspberry-pi-5"])
    band = load_calibration()["runtimes"]["onnxruntime"]["band"]
    assert est is not None and est.high_ms / est.ms == pytest.approx(band[1] / 0.95)
    assert "95% of nodes" in est.method


def test_low_coverage_is_not_estimated_and_names_the_uncounted_ops() -> None:
    w = Workload(flops=4.0, bytes_moved=1e6, weights_bytes=1000, activation_bytes=0,
                 coverage=0.45, uncounted_ops=("com.example.Mystery",))
    assert estimate_target(w, CATALOG["raspberry-pi-5"], measured_ms=0.22, host=HOST) is None
    why = not_estimable(w)
    assert why is not None and "45% of nodes" in why and "com.example.Mystery" in why


def test_a_slower_target_is_never_faster_than_the_faster_host_measured() -> None:
    # Pi 4 (57.6 GFLOPS) is slower than the 100 GFLOPS host: whatever the count says, the Pi
    # cannot beat the host's 10 ms, and neither can the band's low end.
    tiny = _work(1e3)
    est = estimate_target(tiny, CATALOG["raspberry-pi-4"], measured_ms=10.0, host=HOST, threads=2)
    assert est is not None and est.ms >= 10.0 and est.low_ms >= 10.0
    assert "held at the host's" in est.method


def test_model_on_raspberry_pi_5_reports_a_positive_target_latency(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.conv(batch="batch", size=64), tmp_path / "conv.onnx")
    pi5 = CATALOG["raspberry-pi-5"]
    ctx = build_context(spec("edge", "raspberry-pi-5", path=path, budget_ms=100, dims={"batch": 1}),
                        "dc.yaml", inspect_artifact(path, display=str(path)), pi5,
                        latency_result(0.8, threads=4, shapes={"x": [1, 3, 64, 64]}))
    assert ctx.workload is not None and ctx.workload.coverage == 1.0
    assert ctx.target is not None and ctx.target.calibrated
    estimates = estimates_json(ctx)
    assert estimates["target_latency_ms"] > 0
    assert estimates["target_latency"]["low_ms"] < estimates["target_latency_ms"]


def test_on_device_measurement_is_the_target_figure(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.conv(), tmp_path / "conv.onnx")
    ctx = build_context(spec("edge", "raspberry-pi-5", path=path, budget_ms=100), "dc.yaml",
                        inspect_artifact(path, display=str(path)), CATALOG["raspberry-pi-5"],
                        latency_result(3.0),
                        on_target=True)
    assert ctx.target is None
    assert ctx.latency is not None and ctx.latency.measured_on == "raspberry-pi-5"
    assert "target_latency_ms" not in estimates_json(ctx)


def test_llm_checkpoint_gets_a_per_token_estimate() -> None:
    ctx = build_context(spec("cloud", "aws-g5.xlarge", path="llama"), "dc.yaml", llm_7b_fp16(),
                        CATALOG["aws-g5.xlarge"], None)
    assert ctx.target is not None and ctx.target.per == "token" and ctx.target.bound == "memory"
    # Decode streams 13.5 GB of weights + 2.1 GB of KV cache at 600 GB/s: ~26 ms a token at
    # the full bandwidth. The published rows are whole-graph inferences, so a decode step gets
    # the assumed fraction of bandwidth and the wide band, and says so.
    cal = load_calibration()["uncalibrated"]
    ideal = (13.48e9 + 2.15e9) / 600e9 * 1000
    assert ctx.target.ms == pytest.approx(ideal / cal["memory_efficiency"] + cal["floor_ms"],
                                          rel=0.02)
    assert not ctx.target.calibrated and "no published LLM decode" in ctx.target.calibration
    assert ctx.target.high_ms / ctx.target.low_ms == pytest.approx(16)


def test_a_stretched_tail_on_the_host_is_not_carried_to_the_device() -> None:
    """A shared runner's contention stretches the tail of the host's runs, not the fraction of
    peak the model reaches: the host's median calibrates, and the estimate stays put."""
    from dataclasses import replace

    from deploygate.targets.assess import target_estimate
    from tests.fixtures.factories import small_onnx

    steady = latency_result(50.0)
    stretched = replace(steady, p90_ms=200.0, p95_ms=250.0, p99_ms=400.0, max_ms=500.0,
                        mean_ms=90.0)
    entry = spec("edge", "raspberry-pi-5", budget_ms=100)
    pi = CATALOG["raspberry-pi-5"]
    calm = target_estimate(entry, pi, small_onnx(), _work(1e9), steady)
    busy = target_estimate(entry, pi, small_onnx(), _work(1e9), stretched)
    assert calm is not None and busy is not None and busy.calibrated
    assert busy.ms == pytest.approx(calm.ms) and busy.efficiency == calm.efficiency
    assert "calibrated on this host: 50 ms with 2 threads" in busy.method
