"""Host peaks: environment override, the per-machine cache, thread scaling."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from deploygate.errors import UsageError
from deploygate.host import usable_cores
from deploygate.targets import calibrate
from deploygate.targets.calibrate import HostPeaks, cache_file, host_peaks


def test_environment_override() -> None:
    peaks = host_peaks()  # the autouse fixture sets 100 GFLOPS, 10 GB/s
    assert (peaks.flops, peaks.bandwidth, peaks.source) == (100e9, 10e9, "env")


def test_bad_override_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYGATE_HOST_PEAKS", "fast")
    with pytest.raises(UsageError, match="GFLOPS,GB/s"):
        host_peaks()


def test_measured_once_then_cached_in_the_user_cache(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake(threads: int | None = None) -> HostPeaks:
        calls.append(threads)
        return HostPeaks(42e9, 7e9, "cpu", usable_cores(), "1.0", threads=threads or 1,
                         repeats=9,
                         spread=0.05, measured_at=time.time())

    monkeypatch.setattr(calibrate, "measure_host_peaks", fake)
    first, second = host_peaks(), host_peaks()
    assert len(calls) == 1
    assert (first.source, second.source) == ("measured", "cache")
    assert second.flops == 42e9
    path = cache_file()
    assert path == tmp_path / "deploygate" / "host.json"
    assert len(json.loads(path.read_text())) == 1


def test_corrupt_cache_is_remeasured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cache_file()
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda threads=None: fake_peaks(1e9, threads))
    assert host_peaks().source == "measured"
    assert json.loads(path.read_text())


def fake_peaks(flops: float, threads: int | None, *, at: float | None = None) -> HostPeaks:
    return HostPeaks(flops, 5e9, "c", usable_cores(), "n", threads=threads or 1,
                     repeats=7, spread=0.1,
                     measured_at=time.time() if at is None else at)


def test_peak_scales_with_threads() -> None:
    peaks = HostPeaks(80e9, 1e9, "c", 8, "n")  # all cores (the environment's figures)
    assert peaks.flops_at(2) == 20e9
    assert peaks.flops_at(64) == 80e9
    measured = HostPeaks(30e9, 1e9, "c", 8, "n", threads=2)
    assert measured.flops_at(2) == 30e9 and measured.flops_at(4) == 60e9


def test_a_cached_entry_expires_and_may_come_back_lower(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    old = time.time() - calibrate.CACHE_TTL_S - 60
    monkeypatch.setattr(calibrate, "measure_host_peaks",
                        lambda threads=None: fake_peaks(90e9, threads, at=old))
    assert host_peaks(1).flops == 90e9  # measured (a lucky run, long ago)
    monkeypatch.setattr(calibrate, "measure_host_peaks",
                        lambda threads=None: fake_peaks(40e9, threads))
    again = host_peaks(1)
    assert (again.source, again.flops) == ("measured", 40e9)  # expired: measured, lower
    assert host_peaks(1).source == "cache" and host_peaks(1).flops == 40e9


def test_a_model_beating_the_cached_peak_replaces_it_lower_or_higher(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda threads=None: fake_peaks(1e9, threads))
    assert host_peaks(1).flops == 1e9  # measured "under load"
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda threads=None: fake_peaks(50e9, threads))
    # 1 GFLOP in 0.1 ms is 10 TFLOPS: faster than the cached peak, so it is measured again.
    fresh = calibrate.host_peaks_for(1e9, 0.1, 1)
    assert (fresh.source, fresh.flops) == ("measured", 50e9)
    assert host_peaks(1).flops == 50e9  # and the cache now holds it
    assert calibrate.host_peaks_for(1e6, 1000.0, 1).source == "cache"  # a slow model: no refresh


def test_entries_are_per_thread_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calibrate, "usable_cores", lambda: 4)
    monkeypatch.setattr(calibrate, "measure_host_peaks",
                        lambda threads=None: replace(fake_peaks(10e9 * (threads or 4), threads),
                                                     cores=4))
    assert (host_peaks(1).flops, host_peaks(2).flops, host_peaks(9).flops) == (10e9, 20e9, 40e9)
    assert len(json.loads(cache_file().read_text())) == 3  # type: ignore[union-attr]


def test_the_estimate_names_its_calibration() -> None:
    now = 1_000_000.0
    cached = replace(fake_peaks(42e9, 2, at=now - 3 * 3600), source="cache")
    assert cached.describe(now) == ("host peak 42 GFLOPS at 2 threads, best of 7 matmuls "
                                    "(spread 10%), cached 3.0 h ago")
    assert host_peaks().describe().endswith("from DEPLOYGATE_HOST_PEAKS")
    assert cached.to_json()["threads"] == 2 and cached.to_json()["source"] == "cache"


@pytest.mark.slow
def test_a_real_measurement_reports_its_spread() -> None:
    peaks = calibrate.measure_host_peaks(1)
    assert peaks.threads == 1 and peaks.repeats >= calibrate.MIN_REPEATS
    assert peaks.spread >= 0 and peaks.flops > 0 and peaks.bandwidth > 0


@pytest.mark.parametrize("entry", [
    {"measured_at": float("nan")}, {"measured_at": -1.0}, {"spread": float("inf")},
    {"spread": -0.5}, {"threads": 0}, {"threads": 10**6}, {"repeats": 0}, {"threads": True},
])
def test_cached_statistics_that_are_not_measurements_are_measured_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, entry: dict[str, object]) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda threads=None: fake_peaks(7e9, threads))
    host_peaks(1)
    file = cache_file()
    assert file is not None
    stored = json.loads(file.read_text())
    (key,) = stored
    stored[key].update(entry)
    file.write_text(json.dumps(stored))  # Python writes NaN and Infinity bare, as a bad file would
    assert host_peaks(1).source == "measured"
    json.loads(file.read_text(), parse_constant=lambda name: pytest.fail(f"{name} written"))
