"""The latency verdict, exactly: physical floors, order-statistic intervals, simulated contention.

The simulated sources (tests/fixtures/noise.py) are seeded streams, so every count here is the
same on every machine: no timing is measured.
"""

from __future__ import annotations

import itertools
import random

import pytest

from deploygate.manifest.model import LatencySpec, Percentile
from deploygate.probe import stats
from deploygate.probe.result import LatencyResult
from deploygate.probe.verdict import decide, judge

from tests.fixtures.noise import SOURCES, simulate_check, true_percentile


def measured(samples: list[float], tick_ms: float = 1e-6) -> LatencyResult:
    return LatencyResult.from_description(stats.describe(samples), threads=1,
                                          clock_tick_ms=tick_ms)


def test_order_statistic_ranks_of_known_cases() -> None:
    # Binomial(10, 0.5): P(X <= 0) = 1/1024 <= 0.005 and P(X <= 9) = 1023/1024 >= 0.995.
    assert stats.order_statistic_ranks(10, 0.5) == (1, 10)
    # p95 from 100 runs: P(X <= 99) = 1 - 0.95**100 = 0.9941 < 0.995, so no upper rank yet.
    assert stats.order_statistic_ranks(100, 0.95)[1] is None
    assert stats.order_statistic_ranks(104, 0.95)[1] == 104
    assert stats.order_statistic_ranks(1, 0.5) == (None, None)
    low, high = stats.order_statistic_ranks(100_000, 0.95)
    assert low is not None and high is not None and low < 95_000 < high


def test_intervals_cover_the_true_quantile_of_independent_runs() -> None:
    truth = 2.995732273553991  # exponential(1): -ln(0.05)
    misses = 0
    for seed in range(400):
        rng = random.Random(seed)
        low, high = stats.percentile_interval([rng.expovariate(1.0) for _ in range(300)], 0.95)
        misses += not low <= truth <= high
    assert misses <= 8  # 99% intervals: about 4 misses expected in 400


def test_bursts_count_as_fewer_runs() -> None:
    rng = random.Random(1)
    independent = [rng.random() for _ in range(1000)]
    bursts = [float(i // 50 % 2) + rng.random() / 10 for i in range(1000)]
    assert stats.effective_runs(independent, 0.5) > 800
    assert stats.effective_runs(bursts, 0.5) < 100


def test_interval_holds_the_estimate_and_stays_inside_the_runs() -> None:
    rng = random.Random(7)
    runs = [rng.lognormvariate(0, 1) for _ in range(37)]
    for name, (low, high) in stats.percentile_intervals(runs).items():
        value = stats.percentile(sorted(runs), stats.PERCENTILE_FRACTIONS[name])
        assert min(runs) <= low <= value <= high <= max(runs)


BUDGET_FACTORS = (0.3, 0.8, 1.0, 1.25, 3.0, 10.0)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_never_passes_under_the_fastest_run_never_fails_over_the_slowest(source: str) -> None:
    checks = 0
    percentiles: tuple[Percentile, ...] = ("p50", "p95", "p99")
    for percentile, runs, seed in itertools.product(percentiles, (10, 40, 150),
                                                    range(3)):
        truth = true_percentile(source, percentile)
        for factor in BUDGET_FACTORS:
            budget = truth * factor
            spec = LatencySpec(budget_ms=budget, percentile=percentile, max_time_s=1.0)
            verdict, result = simulate_check(source, seed, spec, runs)
            checks += 1
            if budget < result.min_ms:
                assert verdict == "fail", (percentile, runs, seed, factor)
            if budget >= result.max_ms + result.clock_tick_ms:
                assert verdict == "pass", (percentile, runs, seed, factor)
            # The same result, judged at its own extremes.
            assert judge(result, percentile, result.min_ms * 0.999) == "fail"
            assert judge(result, percentile, result.max_ms * 2) == "pass"
    assert checks == 3 * 3 * 3 * len(BUDGET_FACTORS)


def test_wrong_verdicts_are_rare_under_contention() -> None:
    """False pass: a pass when the true p95 is over the budget; false fail: the reverse."""
    wrong = checks = 0
    for source in SOURCES:
        truth = true_percentile(source, "p95")
        for factor in (0.8, 0.9, 1.1, 1.25):
            spec = LatencySpec(budget_ms=truth * factor, percentile="p95", max_time_s=1.0)
            for seed in range(15):
                verdict, _ = simulate_check(source, 1000 + seed, spec, 150)
                checks += 1
                wrong += verdict == ("pass" if factor < 1 else "fail")
    assert checks == 360
    assert wrong <= 3  # 99% intervals: ~0.5% per side at a budget right at the truth


def test_more_rounds_only_when_unsure() -> None:
    decisive = LatencySpec(budget_ms=1000.0, percentile="p50", max_time_s=1.0)
    _, result = simulate_check("steady", 1, decisive, 150)
    assert result.rounds == 1
    close = LatencySpec(budget_ms=true_percentile("lognormal", "p95"), percentile="p95",
                        max_time_s=1.0)
    _, result = simulate_check("lognormal", 1, close, 150)
    assert result.rounds == 3 and result.runs == 150 + 75 + 75


def test_a_pass_on_too_few_runs_measures_more_first() -> None:
    # 20 runs cannot bound a p95 from above: the pass rests on the slowest run alone.
    spec = LatencySpec(budget_ms=1000.0, percentile="p95", max_time_s=1.0)
    verdict, result = simulate_check("steady", 2, spec, 20)
    assert verdict == "pass" and result.rounds == 3 and result.runs == 40


def test_single_run() -> None:
    one = measured([5.0])
    assert one.runs == 1 and one.interval_ms["p95"] == (5.0, 5.0)
    assert judge(one, "p95", 4.9) == "fail"
    assert judge(one, "p95", 5.1) == "pass"


def test_budget_zero_or_negative_always_fails() -> None:
    assert judge(measured([0.0] * 20), "p50", 0.0) == "fail"
    assert judge(measured([1.0] * 20), "p50", -1.0) == "fail"
    assert judge(measured([1.0] * 20), "p50", float("nan")) == "fail"
    assert judge(measured([1.0] * 20), "p50", float("inf")) == "pass"


def test_a_model_faster_than_the_clock() -> None:
    # Every run read 0 ns: each took less than one tick (1 ns), no more can be said.
    fast = measured([0.0] * 50, tick_ms=1e-6)
    assert judge(fast, "p95", 1e-3) == "pass"
    assert judge(fast, "p95", 1e-7) == "inconclusive"  # under one tick: cannot tell


def test_decide_between_the_floors() -> None:
    floors = {"fastest_ms": 1.0, "slowest_ms": 10.0, "low_ms": 4.0, "high_ms": 6.0}
    assert decide(0.5, **floors) == "fail"
    assert decide(5.0, **floors) == "inconclusive"
    assert decide(3.9, **floors) == "fail"
    assert decide(6.0, **floors) == "pass"
    assert decide(10.0, **floors) == "pass"


def test_a_result_without_intervals_falls_back_to_its_runs() -> None:
    bare = LatencyResult(threads=1, runs=20, p50_ms=5, p90_ms=6, p95_ms=7, p99_ms=8,
                         mean_ms=5, min_ms=4, max_ms=9, stdev_ms=1)
    assert judge(bare, "p95", 3.0) == "fail"
    assert judge(bare, "p95", 7.0) == "inconclusive"
    assert judge(bare, "p95", 9.0) == "pass"
