"""DG4xx: the measured latency against the budget, and every latency rule produced once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from deploygate.checks import latency, target
from deploygate.checks.context import ModelContext
from deploygate.errors import ProbeError
from deploygate.findings import Finding, Severity
from deploygate.manifest.model import LatencySpec, ModelSpec
from deploygate.probe import probe_latency, stats
from deploygate.probe.result import LatencyResult
from deploygate.rules import RULES
from deploygate.targets.catalog import load_catalog
from deploygate.targets.estimate import TargetEstimate
from deploygate.targets.memory import estimate_memory
from tests.fixtures.factories import small_onnx, spec

# 200 runs: 100 at 10 ms, 100 at 20 ms, alternating; p50's interval spans 10-20 ms.
RUNS = [10.0, 20.0] * 100


def measured(runs: list[float] = RUNS, **facts: object) -> LatencyResult:
    return LatencyResult.from_description(stats.describe(runs), **{"threads": 2, **facts})


def model(budget: float, on_inconclusive: str = "warn", device: str | None = None) -> ModelSpec:
    entry = spec("edge", device, budget_ms=budget)
    assert entry.latency is not None
    return replace(entry, latency=replace(entry.latency, percentile="p50",
                                          on_inconclusive=on_inconclusive))


def findings(entry: ModelSpec, result: LatencyResult | None = None,
             skipped: str | None = None) -> list[Finding]:
    art = small_onnx()
    ctx = ModelContext(entry, "dc.yaml", art, estimate_memory(art), latency=result,
                       probe_skipped=skipped)
    return list(latency.check(ctx))


def test_budget_under_the_fastest_run_is_dg401_saying_so() -> None:
    (f,) = findings(model(5.0), measured())
    assert f.rule == "DG401" and f.severity is Severity.ERROR
    assert "even the fastest run took 10 ms" in f.message


def test_budget_under_the_whole_interval_is_dg401() -> None:
    runs = [10.0, 30.0, 30.0, 30.0, 30.0] * 40
    (f,) = findings(model(12.0), measured(runs))
    assert f.rule == "DG401" and "99% interval" in f.message


def test_budget_over_the_slowest_run_passes() -> None:
    assert findings(model(20.0), measured()) == []


def test_inconclusive_warns_loudly_by_default() -> None:
    (f,) = findings(model(15.0), measured(rounds=3))
    assert f.rule == "DG402" and f.severity is Severity.WARNING
    assert "NOT JUDGED" in f.message and "on_inconclusive" in f.message
    assert "after 3 measuring rounds" in f.message
    assert f.exit_code() == 0 and f.exit_code(strict=True) == 1
    assert f.location is not None and f.location.path == "models[0].latency.budget_ms"


def test_inconclusive_fails_closed_when_the_manifest_says_so() -> None:
    (f,) = findings(model(15.0, on_inconclusive="fail"), measured())
    assert f.rule == "DG402" and f.severity is Severity.ERROR and f.exit_code() == 1
    assert f.location is not None and f.location.path == "models[0].latency.on_inconclusive"


def test_fewer_threads_than_asked_are_named() -> None:
    (f,) = findings(model(5.0), measured(threads=2, target_threads=8))
    assert "2 threads, not the 8 asked for (the host's usable cores)" in f.message


def test_no_measurement_is_dg404() -> None:
    (f,) = findings(model(5.0), None, skipped="the probe was skipped (--no-probe)")
    assert f.rule == "DG404" and "--no-probe" in f.message


def test_target_band_straddling_the_budget_follows_on_inconclusive() -> None:
    art = small_onnx()
    est = TargetEstimate(40, 20, 80, "roofline", "raspberry-pi-5")
    device = load_catalog()["raspberry-pi-5"]
    for choice, severity in (("warn", Severity.WARNING), ("fail", Severity.ERROR)):
        ctx = ModelContext(model(50, choice, "raspberry-pi-5"), "dc.yaml", art,
                           estimate_memory(art), device, target=est)
        (f,) = target.check(ctx)
        assert (f.rule, f.severity) == ("DG406", severity)


def _dg401() -> str:
    return findings(model(5.0), measured())[0].rule


def _dg402() -> str:
    return findings(model(15.0), measured())[0].rule


def _dg403(tmp_path: Path) -> str:
    with pytest.raises(ProbeError) as caught:
        probe_latency(tmp_path / "missing.onnx", LatencySpec(), threads=1, root=tmp_path,
                      base_dir=tmp_path, display="missing.onnx")
    return caught.value.rule


def _dg404() -> str:
    return findings(model(5.0), None)[0].rule


def _target(low: float, high: float) -> str:
    art = small_onnx()
    ctx = ModelContext(model(50, "warn", "raspberry-pi-5"), "dc.yaml", art, estimate_memory(art),
                       load_catalog()["raspberry-pi-5"],
                       target=TargetEstimate(low, low, high, "roofline", "raspberry-pi-5"))
    return next(iter(target.check(ctx))).rule


def test_every_latency_rule_is_produced(tmp_path: Path) -> None:
    produced = {_dg401(), _dg402(), _dg403(tmp_path), _dg404(), _target(60, 90), _target(20, 80),
                *(f.rule for f in llm_findings(ttft_ms=5.0, tokens_per_s=200.0)),
                *(f.rule for f in llm_findings(ttft_ms=15.0, tokens_per_s=75.0))}
    family = {rule for rule in RULES if rule.startswith("DG4")}
    # A new DG4xx rule needs a producer here, or a test elsewhere named in OTHER_TESTS.
    for rule, test in OTHER_TESTS.items():
        assert f'"{rule}"' in (ROOT / test).read_text(encoding="utf-8"), (rule, test)
    missing = family - produced - set(OTHER_TESTS)
    assert not missing, f"no test produces {sorted(missing)}"


ROOT = Path(__file__).resolve().parents[3]
OTHER_TESTS: dict[str, str] = {"DG407": "tests/unit/checks/test_target.py",
                                "DG408": "tests/unit/probe/test_backends.py"}
"""DG4xx rules produced by tests elsewhere: rule -> the test file that asserts it."""


# An LLM measured with llama.cpp: ttft runs alternate 10 and 20 ms; generations decoded at
# 50, 100 and 150 tokens/s.
def llm() -> LatencyResult:
    return measured(ttft=measured(), tokens_per_s_runs=(50.0, 100.0, 150.0), prompt_tokens=128,
                    new_tokens=64, runtime="llama.cpp")


def llm_findings(result: LatencyResult | None = None, on_inconclusive: str = "warn",
                 **limits: float) -> list[Finding]:
    entry = model(1000.0, on_inconclusive)
    assert entry.latency is not None
    entry = replace(entry, latency=replace(entry.latency, **limits))  # type: ignore[arg-type]
    return findings(entry, llm() if result is None else result)


def test_ttft_and_decode_rate_pass_when_clear_of_the_noise() -> None:
    assert llm_findings(ttft_ms=20.0, tokens_per_s=40.0) == []


def test_ttft_over_budget_and_decode_rate_under_minimum_fail() -> None:
    ttft, rate = llm_findings(ttft_ms=5.0, tokens_per_s=200.0)
    assert ttft.rule == "DG409" and ttft.severity is Severity.ERROR
    assert "time to first token" in ttft.message and "prompt of 128 tokens" in ttft.message
    assert ttft.location is not None and ttft.location.path == "models[0].latency.ttft_ms"
    assert rate.rule == "DG411" and rate.severity is Severity.ERROR
    assert "decode rate 100.0 tokens/s" in rate.message and "200" in rate.message
    assert rate.location is not None and rate.location.path == "models[0].latency.tokens_per_s"


def test_ttft_and_decode_rate_inside_the_noise_follow_on_inconclusive() -> None:
    for choice, severity in (("warn", Severity.WARNING), ("fail", Severity.ERROR)):
        ttft, rate = llm_findings(on_inconclusive=choice, ttft_ms=15.0, tokens_per_s=75.0)
        assert (ttft.rule, ttft.severity) == ("DG410", severity)
        assert (rate.rule, rate.severity) == ("DG412", severity)
        assert "50.0-150.0 tokens/s" in rate.message
        # The effect is said as DG402 says it: not judged under warn, failing under fail.
        said = "NOT JUDGED" if choice == "warn" else "this fails the gate"
        assert said in ttft.message and said in rate.message


def test_llm_limits_on_a_model_without_an_llm_measurement_are_not_checked() -> None:
    onnx_result = measured()
    ttft, rate = llm_findings(onnx_result, ttft_ms=5.0, tokens_per_s=10.0)
    assert ttft.rule == rate.rule == "DG404" and ttft.severity is Severity.WARNING
    assert "only llama.cpp measures" in ttft.message


def test_llm_limits_for_a_named_device_are_judged_only_on_the_device() -> None:
    entry = model(1000.0, device="raspberry-pi-5")
    assert entry.latency is not None
    entry = replace(entry, latency=replace(entry.latency, ttft_ms=5.0))
    art = small_onnx()
    device = load_catalog()["raspberry-pi-5"]
    host = ModelContext(entry, "dc.yaml", art, estimate_memory(art), device, latency=llm())
    (f,) = [f for f in latency.check(host) if f.location and "ttft" in (f.location.path or "")]
    assert f.rule == "DG404" and "--on-device" in f.message
    on_device = replace(host, latency=replace(llm(), measured_on="raspberry-pi-5"))
    assert [f.rule for f in latency.check(on_device)] == ["DG409"]
