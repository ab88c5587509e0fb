"""The noise-aware verdict on constructed results: pass, fail, inconclusive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deploygate.probe.result import LatencyResult
from deploygate.probe.verdict import judge, noise_band


def result(p95: float, windows: list[float]) -> LatencyResult:
    return LatencyResult(
        threads=1, runs=500, p50_ms=p95 * 0.8, p90_ms=p95 * 0.95, p95_ms=p95, p99_ms=p95 * 1.2,
        mean_ms=p95 * 0.85, min_ms=p95 * 0.7, stdev_ms=1.0,
        windows_ms=tuple({"p95_ms": w, "runs": 100} for w in windows),
    )


STEADY = result(10.0, [9.8, 10.0, 10.1, 9.9, 10.2])


def test_band_is_window_range_widened_by_mad() -> None:
    low, high = noise_band(STEADY, "p95")
    # windows 9.8..10.2, median 10.0, MAD 0.1 -> widen by 0.14826 (over the 1% floor of 0.1)
    assert low == pytest.approx(9.8 - 0.14826)
    assert high == pytest.approx(10.2 + 0.14826)


def test_identical_windows_still_get_the_relative_floor() -> None:
    low, high = noise_band(result(10.0, [10.0] * 5), "p95")
    assert (low, high) == (pytest.approx(9.9), pytest.approx(10.1))


def test_band_always_holds_the_overall_value() -> None:
    low, high = noise_band(result(12.0, [10.0] * 5), "p95")
    assert low < 10.0 and high > 12.0


def test_three_outcomes() -> None:
    assert judge(STEADY, "p95", 11.0) == "pass"
    assert judge(STEADY, "p95", 9.0) == "fail"
    assert judge(STEADY, "p95", 10.0) == "inconclusive"


def test_noisy_windows_make_a_close_budget_inconclusive() -> None:
    noisy = result(10.0, [7.0, 10.0, 13.0, 9.0, 11.0])
    assert judge(noisy, "p95", 14.0) == "inconclusive"   # band reaches 13 + 1.4826
    assert judge(noisy, "p95", 20.0) == "pass"
    assert judge(noisy, "p95", 3.0) == "fail"


def test_without_windows_the_floor_alone_applies() -> None:
    bare = result(10.0, [])
    assert judge(bare, "p95", 10.05) == "inconclusive"
    assert judge(bare, "p95", 10.2) == "pass"


def test_a_stored_band_is_used_as_is() -> None:
    stored = replace(STEADY, noise_band_ms={"p95": (5.0, 6.0)})
    assert judge(stored, "p95", 7.0) == "pass"
    assert judge(stored, "p95", 5.5) == "inconclusive"
