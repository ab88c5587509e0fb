"""Statistics on known numbers: percentiles, summaries, windows, the run-count rule."""

from __future__ import annotations

import numpy as np
import pytest

from deploygate.probe import stats

KNOWN = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 9.0, 7.0, 8.0]


def test_percentiles_interpolate_linearly() -> None:
    ordered = sorted(KNOWN)  # 1..10
    assert stats.percentile(ordered, 0.5) == pytest.approx(5.5)
    assert stats.percentile(ordered, 0.9) == pytest.approx(9.1)
    assert stats.percentile(ordered, 0.95) == pytest.approx(9.55)
    assert stats.percentile(ordered, 0.99) == pytest.approx(9.91)
    assert stats.percentile(ordered, 0.0) == 1.0
    assert stats.percentile(ordered, 1.0) == 10.0
    assert stats.percentile([7.0], 0.99) == 7.0


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_percentiles_match_numpy_linear(q: float) -> None:
    values = sorted(np.random.default_rng(3).exponential(2.0, 137).tolist())
    assert stats.percentile(values, q) == pytest.approx(np.percentile(values, q * 100))


def test_summary_of_known_numbers() -> None:
    summary = stats.summarize(KNOWN)
    assert summary["min_ms"] == 1.0
    assert summary["mean_ms"] == pytest.approx(5.5)
    assert summary["stdev_ms"] == pytest.approx(np.std(KNOWN, ddof=1))
    assert summary["p50_ms"] == pytest.approx(5.5)
    assert summary["runs"] == 10


def test_windows_are_consecutive_and_cover_every_run() -> None:
    runs = [float(i) for i in range(23)]
    windows = stats.split_windows(runs)
    assert len(windows) == stats.WINDOWS
    assert [x for w in windows for x in w] == runs
    assert max(len(w) for w in windows) - min(len(w) for w in windows) <= 1
    figures = stats.window_summaries(runs)
    assert [f["runs"] for f in figures] == [len(w) for w in windows]
    assert figures[0]["p50_ms"] < figures[-1]["p50_ms"]  # order kept: drift stays visible


def test_runs_wanted_gives_five_runs_above_each_percentile() -> None:
    assert {p: stats.runs_wanted(p) for p in stats.PERCENTILE_FRACTIONS} == \
        {"p50": 10, "p90": 50, "p95": 100, "p99": 500}
    assert stats.estimated_percentiles(10) == ("p90", "p95", "p99")
    assert stats.estimated_percentiles(120) == ("p99",)
    assert stats.estimated_percentiles(500) == ()


def test_percentile_rejects_empty_input() -> None:
    with pytest.raises(ValueError):
        stats.percentile([], 0.5)
