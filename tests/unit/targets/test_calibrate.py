"""Host peaks: environment override, the per-machine cache, thread scaling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploygate.errors import UsageError
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

    def fake() -> HostPeaks:
        calls.append(1)
        return HostPeaks(42e9, 7e9, "cpu", 2, "1.0")

    monkeypatch.setattr(calibrate, "measure_host_peaks", fake)
    first, second = host_peaks(), host_peaks()
    assert len(calls) == 1
    assert (first.source, second.source) == ("measured", "cache")
    assert second.flops == 42e9
    assert cache_file() == tmp_path / "deploygate" / "host.json"
    assert len(json.loads(cache_file().read_text())) == 1


def test_corrupt_cache_is_remeasured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache_file().parent.mkdir(parents=True)
    cache_file().write_text("{not json")
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda: HostPeaks(1e9, 1e9, "c", 1, "n"))
    assert host_peaks().source == "measured"
    assert json.loads(cache_file().read_text())


def test_peak_scales_with_threads() -> None:
    peaks = HostPeaks(80e9, 1e9, "c", 8, "n")
    assert peaks.flops_at(2) == 20e9
    assert peaks.flops_at(64) == 80e9


def test_a_stale_cache_is_refreshed_keeping_the_better_figures(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.delenv("DEPLOYGATE_HOST_PEAKS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda: HostPeaks(1e9, 20e9, "c", 2, "n"))
    stale = host_peaks()  # measured "under load": 1 GFLOPS
    monkeypatch.setattr(calibrate, "measure_host_peaks", lambda: HostPeaks(50e9, 5e9, "c", 2, "n"))
    fresh = calibrate.refresh_host_peaks(stale)
    assert (fresh.flops, fresh.bandwidth) == (50e9, 20e9)
    assert host_peaks().flops == 50e9  # and the cache now holds it
