"""DG405/DG406: the target-latency band against the budget."""

from __future__ import annotations

from dataclasses import replace

from deploygate.checks import target
from deploygate.checks.context import ModelContext
from deploygate.findings import Severity
from deploygate.targets.catalog import load_catalog
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import estimate_memory
from tests.fixtures.factories import small_onnx, spec


def _findings(budget: float, low: float, ms: float, high: float):
    est = TargetEstimate(ms, low, high, "roofline, compute-bound; test", "raspberry-pi-5")
    art = small_onnx()
    ctx = ModelContext(spec("edge", "raspberry-pi-5", budget_ms=budget), "dc.yaml", art,
                       estimate_memory(art), load_catalog()["raspberry-pi-5"], target=est)
    return list(target.check(ctx))


def test_whole_band_over_budget_fails() -> None:
    (f,) = _findings(10, 20, 40, 80)
    assert f.rule == "DG405" and f.severity is Severity.ERROR
    assert "estimated latency on raspberry-pi-5 40 ms (band 20-80 ms" in f.message
    assert f.location.path == "models[0].latency.budget_ms"


def test_budget_inside_the_band_is_inconclusive() -> None:
    (f,) = _findings(50, 20, 40, 80)
    assert f.rule == "DG406" and f.severity is Severity.WARNING
    assert f.exit_code(strict=True) == 1 and f.exit_code() == 0


def test_whole_band_under_budget_passes() -> None:
    assert _findings(100, 20, 40, 80) == []


def test_no_estimate_or_no_budget_no_finding() -> None:
    art = small_onnx()
    ctx = ModelContext(spec("edge", "raspberry-pi-5", budget_ms=1), "dc.yaml", art,
                       estimate_memory(art))
    assert list(target.check(ctx)) == []
    ctx = ModelContext(spec("edge", "raspberry-pi-5"), "dc.yaml", art, estimate_memory(art),
                       target=TargetEstimate(5, 2, 9, "m", "raspberry-pi-5"))
    assert list(target.check(ctx)) == []


def test_a_workload_counted_too_little_cannot_be_estimated_and_never_passes() -> None:
    from deploygate.checks import latency
    from deploygate.targets.workload import Workload
    from tests.fixtures.factories import latency_result

    art = small_onnx()
    counted = Workload(flops=4.0, bytes_moved=1e3, weights_bytes=100, activation_bytes=0,
                       coverage=0.45, uncounted_ops=("com.example.Mystery",))
    ctx = ModelContext(spec("edge", "raspberry-pi-5", budget_ms=1000), "dc.yaml", art,
                       estimate_memory(art), load_catalog()["raspberry-pi-5"],
                       latency=latency_result(0.22), workload=counted)
    (f,) = target.check(ctx)
    assert f.rule == "DG407" and f.severity is Severity.WARNING
    assert "45% of nodes" in f.message and "com.example.Mystery" in f.message
    assert "does not stand for raspberry-pi-5" in f.message
    assert "NOT JUDGED" in f.message
    # The host's 0.22 ms does not pass the model for the Pi either.
    assert list(latency.check(ctx)) == []
    assert ctx.spec.latency is not None
    strict = replace(ctx, spec=replace(ctx.spec, latency=replace(
        ctx.spec.latency, on_inconclusive="fail")))
    (f,) = target.check(strict)
    assert f.rule == "DG407" and f.severity is Severity.ERROR and "fails the gate" in f.message
