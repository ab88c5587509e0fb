"""advise: devices judged on memory, estimated latency and cost, and ranked."""

from __future__ import annotations

from pathlib import Path

from deploygate.targets.advise import advise_model
from deploygate.targets.calibrate import host_peaks
from deploygate.targets.catalog import load_catalog
from deploygate.targets.memory import estimate_memory
from deploygate.targets.workload import llm_workload, onnx_workload
from tests.fixtures import workload_models as onnx_models
from tests.fixtures.factories import latency_result, llm_7b_fp16, small_onnx, spec

CATALOG = load_catalog()


def test_7b_llm_ranks_the_cheapest_fitting_gpu_first() -> None:
    art = llm_7b_fp16()
    shape = art.llm
    assert shape is not None
    work = llm_workload(art, shape)
    model = spec("cloud", "aws-g5.xlarge", budget_ms=200, max_usd_per_1k=1.0)
    advice = advise_model(model, art, estimate_memory(art, workload=work), work, CATALOG)
    first = advice.devices[0]
    # Decode is bandwidth-bound: the g5's 600 GB/s at $1.006/h beats the g6's 300 GB/s at
    # $0.805/h per token, though the g6 is cheaper per hour.
    assert first.meets_all and first.device.id == "aws-g5.xlarge"
    meeting = [d for d in advice.devices if d.meets_all]
    costs = [d.usd_per_1k for d in meeting if d.usd_per_1k is not None]
    assert len(costs) == len(meeting)
    assert costs == sorted(costs)
    by_id = {d.device.id: d for d in advice.devices}
    assert not by_id["aws-g4dn.xlarge"].fits  # 16 GB T4
    assert not by_id["raspberry-pi-4"].meets_all
    assert "per generated token" in " ".join(advice.notes)


def test_calibrated_small_model_on_edge(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.conv(batch=1, size=64), tmp_path / "c.onnx")
    work = onnx_workload(path)
    art = small_onnx(str(path), weights=work.weights_bytes)
    model = spec("edge", "raspberry-pi-5", budget_ms=50)
    advice = advise_model(model, art, estimate_memory(art, workload=work), work, CATALOG,
                          latency_result(1.0), host_peaks())
    assert "calibrated" in advice.calibration
    pi5 = next(d for d in advice.devices if d.device.id == "raspberry-pi-5")
    assert pi5.estimate is not None and pi5.estimate.calibrated and pi5.meets_all
    assert all(d.meets_all for d in advice.devices[:3])
    assert not any(d.meets_all for d in advice.devices if d.device.kind == "cloud")


def test_advise_estimates_a_device_as_check_does(tmp_path: Path) -> None:
    """The same host measurement, a tail stretched by contention: advise's estimate for the
    manifest's device is check's (both calibrate on the median run)."""
    from dataclasses import replace

    from deploygate.targets.assess import target_estimate

    path = onnx_models.save(onnx_models.conv(batch=1, size=64), tmp_path / "c.onnx")
    work = onnx_workload(path)
    art = small_onnx(str(path), weights=work.weights_bytes)
    model = spec("edge", "raspberry-pi-5", budget_ms=50)
    stretched = replace(latency_result(1.0), p95_ms=5.0, p99_ms=8.0, max_ms=9.0, mean_ms=2.0)
    host = host_peaks(stretched.threads)
    advice = advise_model(model, art, estimate_memory(art, workload=work), work, CATALOG,
                          stretched, host)
    pi5 = next(d for d in advice.devices if d.device.id == "raspberry-pi-5")
    checked = target_estimate(model, CATALOG["raspberry-pi-5"], art, work, stretched)
    assert pi5.estimate is not None and checked is not None
    assert pi5.estimate.ms == checked.ms
    assert "median run, 1 ms" in advice.calibration


def test_tight_budget_and_ceiling_meet_nothing(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(batch=1, width=512, depth=4), tmp_path / "m.onnx")
    work = onnx_workload(path)
    art = small_onnx(str(path), weights=work.weights_bytes)
    model = spec("cloud", None, budget_ms=1e-6, max_usd_per_1k=1e-12)
    advice = advise_model(model, art, estimate_memory(art, workload=work), work, CATALOG)
    assert not any(d.meets_all for d in advice.devices)
    assert {d.latency for d in advice.devices} == {"fail"}
    assert advice.to_json()["devices"][0]["meets_all"] is False
