"""DG501/DG502: the cost of 1,000 inferences against cost.max_usd_per_1k."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploygate.checks import cost
from deploygate.artifacts import inspect_artifact
from deploygate.engine import build_context, estimates_json
from deploygate.manifest.model import Device
from deploygate.targets.catalog import load_catalog
from deploygate.targets.cost import usd_per_1k
from tests.fixtures import workload_models as onnx_models
from tests.fixtures.factories import latency_result, small_onnx, spec

G4DN = load_catalog()["aws-g4dn.xlarge"]


def _judge(ceiling: float, device: Device | None = G4DN, latency_ms: float | None = 20.0,
           path: Path | str = "missing.onnx", dims: dict[str, int] | None = None):
    latency = latency_result(latency_ms) if latency_ms is not None else None
    # A real file is inspected for real (its graph feeds the workload); otherwise stand-in facts.
    artifact = inspect_artifact(Path(path), display=str(path)) if Path(path).is_file() \
        else small_onnx()
    ctx = build_context(spec("cloud", device.id if device else None, path=path,
                             max_usd_per_1k=ceiling, dims=dims),
                        "dc.yaml", artifact, device, latency,
                        None if latency else "the probe was skipped (--no-probe)")
    return ctx, list(cost.check(ctx))


def test_formula() -> None:
    assert usd_per_1k(3.6, 1000.0) == pytest.approx(1.0)  # $3.6/h is $0.001/s; 1,000 x 1 s
    assert usd_per_1k(3.6, 1000.0, batch=4) == pytest.approx(0.25)


def test_g4dn_fails_a_tiny_ceiling_and_passes_a_generous_one() -> None:
    # No graph to count (the file is absent): the cost falls back to the host measurement.
    ctx, findings = _judge(0.0001)
    expected = 0.526 / 3600 * 0.020 * 1000
    assert ctx.cost.usd_per_1k == pytest.approx(expected)
    assert ctx.cost.latency_source == "host measurement (mean)"
    assert [f.rule for f in findings] == ["DG501"]
    assert "$0.002922 per 1,000 inferences on aws-g4dn.xlarge" in findings[0].message
    assert findings[0].location.path == "models[0].cost.max_usd_per_1k"
    _, findings = _judge(1.0)
    assert findings == []


def test_cost_uses_the_target_estimate_when_there_is_one(tmp_path: Path) -> None:
    path = onnx_models.save(onnx_models.mlp(batch=1), tmp_path / "mlp.onnx")
    ctx, findings = _judge(1e-12, path=path)
    assert ctx.target is not None
    assert ctx.cost.latency_ms == pytest.approx(ctx.target.ms)
    assert "target estimate" in ctx.cost.latency_source
    assert [f.rule for f in findings] == ["DG501"]
    assert estimates_json(ctx)["usd_per_1k"] == ctx.cost.usd_per_1k


def test_batch_divides_the_cost() -> None:
    one, _ = _judge(1.0)
    eight, _ = _judge(1.0, dims={"batch": 8})
    assert eight.cost.batch == 8
    assert eight.cost.usd_per_1k == pytest.approx(one.cost.usd_per_1k / 8)


def test_device_without_a_price_cannot_be_judged() -> None:
    _, findings = _judge(1.0, device=load_catalog()["raspberry-pi-5"])
    assert [f.rule for f in findings] == ["DG502"]
    assert "has no price_per_hour" in findings[0].message


def test_no_device_cannot_be_judged() -> None:
    _, findings = _judge(1.0, device=None)
    assert [f.rule for f in findings] == ["DG502"]
    assert "names no device" in findings[0].message


def test_no_latency_cannot_be_judged() -> None:
    priced = Device("rented", "cloud", memory=16 * 10**9, price_per_hour=1.0, custom=True)
    _, findings = _judge(1.0, device=priced, latency_ms=None)
    assert [f.rule for f in findings] == ["DG502"]
    assert "no latency is known (the probe was skipped (--no-probe))" in findings[0].message


def test_no_ceiling_no_finding() -> None:
    ctx = build_context(spec("cloud", "aws-g4dn.xlarge"), "dc.yaml", small_onnx(), G4DN,
                        latency_result(5.0))
    assert list(cost.check(ctx)) == []
    assert ctx.cost is not None and ctx.cost.usd_per_1k is not None  # a priced device: still shown
