"""The host-peaks cache (``host.json``) as an attacker with write access to the cache folder
would leave it: links to other files, a planted link in place of the folder, values that are
not measurements. Reading never trusts it; writing never follows a link."""

from __future__ import annotations

import json
import math
import os
import pwd
import stat
from pathlib import Path

import pytest

from deploygate.targets import calibrate
from deploygate.targets.calibrate import ENV_PEAKS, cache_file, host_peaks


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache home; host_peaks measures for real (about half a second)."""
    monkeypatch.delenv(ENV_PEAKS, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    file = cache_file()
    assert file is not None
    return file


@pytest.fixture(scope="session")
def measured_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """host.json as a real measurement leaves it: measured once, then tampered with per case."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(ENV_PEAKS, raising=False)
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("measured")))
        peaks = host_peaks()
        file = cache_file()
    assert peaks.source == "measured" and file is not None
    _valid(peaks)
    return file.read_text()


def _valid(peaks: calibrate.HostPeaks) -> None:
    assert math.isfinite(peaks.flops) and peaks.flops > 0
    assert math.isfinite(peaks.bandwidth) and peaks.bandwidth > 0
    assert 1 <= peaks.cores <= (os.cpu_count() or 1)
    json.dumps(peaks.__dict__, allow_nan=False)


@pytest.mark.parametrize("entry", [
    {"cores": 0}, {"cores": -1}, {"cores": 10**6}, {"cores": True}, {"cores": "4"},
    {"flops": "NaN"}, {"flops": "Infinity"}, {"bandwidth": 0}, {"bandwidth": -5.0},
    {"flops": 1e300}, {"cpu": None}, {"numpy": 3},
])
def test_cache_values_that_are_not_measurements_are_measured_again(
        cache: Path, measured_cache: str, entry: dict[str, object]) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text(measured_cache)
    assert host_peaks().source == "cache"  # the untampered entry is read back as it is
    stored = json.loads(measured_cache)
    key = next(iter(stored))
    stored[key].update(entry)
    text = json.dumps(stored)
    for name in ("NaN", "Infinity"):
        text = text.replace(f'"{name}"', name)  # as Python's json writes them
    cache.write_text(text)
    peaks = host_peaks()
    assert peaks.source == "measured"
    _valid(peaks)
    json.loads(cache.read_text(), parse_constant=lambda name: pytest.fail(name))


def test_host_json_linking_to_a_private_file_is_neither_read_nor_written(
        cache: Path, tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.write_text("TOKEN-that-must-stay-put\n")
    private.chmod(0o600)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(private)
    peaks = host_peaks()
    assert peaks.source == "measured"
    assert private.read_text() == "TOKEN-that-must-stay-put\n"
    # The link was replaced by our own regular file, not written through.
    assert not cache.is_symlink() and stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "TOKEN" not in cache.read_text()


def test_cache_folder_that_is_a_link_is_not_written_into(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.parent.parent.mkdir(parents=True)
    cache.parent.symlink_to(elsewhere)
    assert host_peaks().source == "measured"
    assert list(elsewhere.iterdir()) == []


def test_planted_files_beside_the_cache_are_left_alone(cache: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    cache.parent.mkdir(parents=True)
    for name in (f"host.{os.getpid()}.tmp", "host.json.tmp", "host.tmp"):
        (cache.parent / name).symlink_to(victim)
    host_peaks()
    assert victim.read_text() == "keep\n"
    assert json.loads(cache.read_text())
    assert not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp") and
                not p.is_symlink()], "a temporary file was left behind"


def test_cache_that_is_huge_or_a_fifo_is_not_read(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    os.mkfifo(cache)  # reading it would wait for a writer forever
    assert host_peaks().source == "measured"
    cache.write_text("[" * 2_000_000)
    assert host_peaks().source == "measured"


def test_no_home_at_all_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in a container whose user has no password entry and no HOME.
    monkeypatch.delenv(ENV_PEAKS, raising=False)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert cache_file() is None
    _valid(host_peaks())


@pytest.mark.parametrize("value", ["nan,10", "100,inf", "0,10", "-1,10"])
def test_peaks_from_the_environment_must_be_measurements(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from deploygate.errors import UsageError

    monkeypatch.setenv(ENV_PEAKS, value)
    with pytest.raises(UsageError):
        host_peaks()
