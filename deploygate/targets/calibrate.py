"""The host's own peaks: numpy matmul FLOPS and memory-copy bandwidth, at the probe's threads.

They turn the probe's measured latency into an efficiency (how much of the host's peak the model
reached), which the target estimate then applies to the target's peak.

How, so that two calls agree: the benchmark runs in a child process whose BLAS uses exactly the
probe's thread count (the same load as the probe, not all cores scaled down), repeats a 1024²
fp32 matmul for about ``BENCH_SECONDS`` (at least ``MIN_REPEATS``, at most ``MAX_REPEATS`` runs)
and keeps the best run, timed in CPU time (``time.process_time``), which other processes taking
turns on the cores do not stretch; ``spread`` (median over best, minus one) says how steady it
was.
The figures are cached in ``$XDG_CACHE_HOME/deploygate/host.json`` (``~/.cache`` by default),
keyed by CPU name, usable cores, numpy version and threads, for ``CACHE_TTL_S``; after that, or
when a model runs faster than the cached peak (the cache was taken on a busy machine), the next
measurement replaces the entry, lower or higher.

``DEPLOYGATE_HOST_PEAKS="GFLOPS,GB/s"`` (e.g. ``"100,10"``, all cores) replaces the benchmark and
the cache: for tests, and for runners whose peaks are known.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploygate import children
from deploygate.errors import UsageError
from deploygate.host import cpu_name, usable_cores

ENV_PEAKS = "DEPLOYGATE_HOST_PEAKS"
MATMUL_N = 1024
"""Square fp32 matmul size: large enough for BLAS to reach its peak, ~2 GFLOP a run."""
COPY_BYTES = 64 * 2**20
"""Copied array size: well past any last-level cache, so the copy runs at DRAM speed."""
MIN_REPEATS = 5
"""Timed runs of each kernel at least: the peak is the fastest, not the typical, run."""
MAX_REPEATS = 40
"""Timed runs of each kernel at most."""
BENCH_SECONDS = 0.4
"""About how long the matmul repeats for (the copy gets half): best-of-N over a steady stretch."""
CACHE_TTL_S = 24 * 3600.0
"""A cached entry older than this is measured again (and may come out lower)."""
CHILD_TIMEOUT_S = 60.0
"""The benchmark child is killed after this long."""


@dataclass(frozen=True)
class HostPeaks:
    """What this machine reaches at best with ``threads`` threads busy."""

    flops: float
    """fp32 operations per second (numpy matmul with ``threads`` BLAS threads)."""
    bandwidth: float
    """Memory-copy bytes per second (read + write)."""
    cpu: str
    """CPU model name."""
    cores: int
    """Usable cores of the machine (affinity and cgroup quota)."""
    numpy: str
    """numpy version (its BLAS decides the matmul peak)."""
    source: str = "measured"
    """measured, cache or env."""
    threads: int = 0
    """Threads the matmul ran with; 0: all ``cores`` (the environment's figures)."""
    repeats: int = 0
    """Timed matmul runs the best was taken from."""
    spread: float = 0.0
    """Median matmul time over the best, minus one: 0.05 means the typical run was 5% slower."""
    measured_at: float = 0.0
    """When it was measured (Unix time)."""

    def flops_at(self, threads: int) -> float:
        """Peak with ``threads`` threads: as measured at the same count, else scaled by cores."""
        measured_with = self.threads or self.cores
        return self.flops * min(max(threads, 1), self.cores) / measured_with

    def describe(self, now: float | None = None) -> str:
        """How this calibration was obtained, in words, for an estimate's method."""
        gflops = f"{self.flops / 1e9:.3g} GFLOPS"
        if self.source == "env":
            return f"host peak {gflops} on {self.cores} cores from {ENV_PEAKS}"
        age = max(0.0, (time.time() if now is None else now) - self.measured_at)
        when = "measured now" if self.source == "measured" else f"cached {_age(age)} ago"
        threads = self.threads or self.cores
        return (f"host peak {gflops} at {threads} thread{'s' * (threads != 1)}, best of "
                f"{self.repeats} matmuls (spread {self.spread:.0%}), {when}")

    def to_json(self) -> dict[str, Any]:
        """The calibration as the report shows it."""
        return {"source": self.source, "flops": self.flops, "bandwidth": self.bandwidth,
                "threads": self.threads or self.cores, "repeats": self.repeats,
                "spread": self.spread, "measured_at": self.measured_at or None}


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cache_file() -> Path | None:
    """Where host peaks are cached: the user's cache dir, never beside their artifacts.

    None when there is no home to hold one (no ``HOME`` and no password entry, as in some
    containers): the peaks are then measured each run.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec ignores a relative path
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError, OSError):
            return None
    return Path(base) / "deploygate" / "host.json"


def _cache_key(threads: int) -> str:
    """This machine's entry in the cache: CPU, usable cores, numpy version and threads."""
    import numpy as np

    return f"{cpu_name()}|{usable_cores()}|numpy {np.__version__}|threads {threads}"


def _clamped(threads: int | None, cores: int) -> int:
    """The BLAS threads to measure at: ``threads`` within 1 to ``cores`` (default: all)."""
    return min(max(threads or cores, 1), cores)


def measure_host_peaks(threads: int | None = None) -> HostPeaks:
    """Run the benchmark in a child whose BLAS uses ``threads`` threads (default: every usable
    core); about half a second. Falls back to this process's BLAS if the child fails."""
    cores = usable_cores()
    threads = _clamped(threads, cores)
    env = children.child_environment(**{
        name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                        "OMP_NUM_THREADS", "BLIS_NUM_THREADS",
                                        "VECLIB_MAXIMUM_THREADS")})
    try:
        done = subprocess.run(children.module_command("deploygate.targets.calibrate", str(threads)),
                              capture_output=True, timeout=CHILD_TIMEOUT_S, env=env,
                              cwd=children.PACKAGE_PARENT, stdin=subprocess.DEVNULL, check=True)
        figures = _figures(json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        figures, threads = benchmark(cores), 0  # this process's BLAS: all its threads
    import numpy as np

    return HostPeaks(figures["flops"], figures["bandwidth"], cpu_name(), cores, np.__version__,
                     "measured", threads, int(figures["repeats"]), figures["spread"], time.time())


def _figures(data: object) -> dict[str, float]:
    """The child's answer, checked: finite positive rates, a repeat count, a spread."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    out = {k: float(data[k]) for k in ("flops", "bandwidth", "repeats", "spread")}
    if not all(math.isfinite(v) for v in out.values()) or min(out["flops"], out["bandwidth"]) <= 0 \
            or out["repeats"] < 1 or out["spread"] < 0:
        raise ValueError("not a measurement")
    return out


def benchmark(threads: int = 1, seconds: float = BENCH_SECONDS) -> dict[str, float]:
    """Best-of-N matmul and copy in this process, timed in CPU time: flops, bandwidth, repeats,
    spread. ``threads``: the BLAS threads this process runs (its peak is that many times the
    rate per CPU-second)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: BLAS thread pool start, page faults
    times = _repeat(lambda: np.matmul(a, b, out=out), seconds)
    best = min(times)

    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copy = min(_repeat(lambda: np.copyto(dst, src), seconds / 2))
    return {"flops": threads * 2.0 * MATMUL_N**3 / best,
            "bandwidth": 2.0 * src.nbytes / copy,  # a copy reads and writes every byte
            "repeats": float(len(times)), "spread": statistics.median(times) / best - 1.0}


def _repeat(fn: Callable[[], object], seconds: float) -> list[float]:
    """CPU seconds of each call of ``fn``: at least MIN_REPEATS, then until ``seconds`` of wall
    time or MAX_REPEATS. CPU time, not wall time: other processes taking turns on the cores
    stretch the wall clock but not the work, so a busy host gives the same peak."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while len(times) < MIN_REPEATS or (len(times) < MAX_REPEATS and time.perf_counter() < end):
        start = time.process_time()
        fn()
        times.append(max(time.process_time() - start, 1e-9))
    return times


def host_peaks(threads: int | None = None) -> HostPeaks:
    """This machine's peaks at ``threads`` threads (default: every usable core): from the
    environment, the cache (younger than CACHE_TTL_S), or a fresh measurement."""
    override = os.environ.get(ENV_PEAKS)
    cores = usable_cores()
    if override:
        try:
            gflops, gbps = (float(x) for x in override.split(","))
            if not all(math.isfinite(x) and x > 0 for x in (gflops, gbps)):
                raise ValueError("not positive")
        except ValueError as e:
            raise UsageError(f"{ENV_PEAKS}={override!r}: expected 'GFLOPS,GB/s', e.g. '100,10'") \
                from e
        return HostPeaks(gflops * 1e9, gbps * 1e9, cpu_name(), cores, "", "env")
    threads = _clamped(threads, cores)
    key = _cache_key(threads)
    file = cache_file()
    cached = _read_cache(file)
    entry = _entry(cached.get(key), cores)
    if entry is not None and 0 <= time.time() - entry.measured_at <= CACHE_TTL_S:
        return entry
    return _measure_and_store(file, key, threads, cached)


def host_peaks_for(flops: float, measured_ms: float, threads: int) -> HostPeaks:
    """This machine's peaks to calibrate a run of ``flops`` measured at ``measured_ms``.

    A run faster than the cached peak means the cache was measured on a busy machine: measure
    again (unless the peaks come from the environment, which the user set on purpose).
    """
    host = host_peaks(threads)
    if host.source == "cache" and measured_ms > 0 and \
            flops / (measured_ms / 1000) > host.flops_at(threads):
        host = refresh_host_peaks(threads)
    return host


def refresh_host_peaks(threads: int | None = None) -> HostPeaks:
    """Measure again and replace the cached entry, whether the new figures are higher or lower:
    for when a run just beat the cached peak (the cache was measured on a busy machine)."""
    threads = _clamped(threads, usable_cores())
    file = cache_file()
    return _measure_and_store(file, _cache_key(threads), threads, _read_cache(file))


def _measure_and_store(file: Path | None, key: str, threads: int,
                       cached: dict[str, object]) -> HostPeaks:
    peaks = measure_host_peaks(threads)
    if peaks.threads == threads:  # a fallback measured at other threads is not this entry
        _store(file, key, peaks, cached)
    return peaks


MAX_CACHE_BYTES = 1 << 20
"""host.json holds one small entry per machine image; a bigger file is not ours."""
MAX_CORES = 1 << 16
"""More logical cores than any machine has: a cached count beyond it is not a measurement."""


def _read_cache(file: Path | None) -> dict[str, object]:
    """The cache's entries, or {} when it is missing, a link, too big or not our JSON."""
    if file is None:
        return {}
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_CACHE_BYTES + 1)
        if len(raw) > MAX_CACHE_BYTES:
            return {}
        cached = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (OSError, ValueError, RecursionError):
        return {}
    finally:
        os.close(fd)
    return cached if isinstance(cached, dict) else {}


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a measurement")


def _entry(entry: object, cores: int) -> HostPeaks | None:
    """A cached entry as HostPeaks, when every figure in it is one this machine could have."""
    if not isinstance(entry, dict):
        return None
    flops, bandwidth, cached_cores = (entry.get(k) for k in ("flops", "bandwidth", "cores"))
    cpu, numpy_version = entry.get("cpu"), entry.get("numpy")
    rates_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and
                   math.isfinite(v) and 0 < v < 1e18 for v in (flops, bandwidth))
    threads, repeats = entry.get("threads"), entry.get("repeats")
    spread, measured_at = entry.get("spread"), entry.get("measured_at")
    counts_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (threads, repeats))
    stats_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and v >= 0 for v in (spread, measured_at))
    if not (rates_ok and counts_ok and stats_ok
            and isinstance(cached_cores, int) and not isinstance(cached_cores, bool)
            and 1 <= cached_cores <= min(cores, MAX_CORES)
            and 1 <= threads <= cached_cores and repeats >= 1  # type: ignore[operator]
            and isinstance(cpu, str) and isinstance(numpy_version, str)):
        return None
    return HostPeaks(float(flops), float(bandwidth), cpu, cached_cores,  # type: ignore[arg-type]
                     numpy_version, "cache", threads, repeats,  # type: ignore[arg-type]
                     float(spread), float(measured_at))  # type: ignore[arg-type]


def _store(file: Path | None, key: str, peaks: HostPeaks, cached: dict[str, object]) -> None:
    """Write the cache without following links, atomically; failing costs a re-measurement.

    The cache folder is opened without following a link, the new content goes to a fresh
    file created exclusively (O_EXCL|O_NOFOLLOW, mode 0600) and is renamed over host.json, so
    a planted link is replaced, never written through, and a reader never sees half a file.
    """
    if file is None:
        return
    entry = {k: v for k, v in asdict(peaks).items() if k != "source"}
    data = (json.dumps({**cached, key: entry}, indent=2, allow_nan=False) + "\n").encode()
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = os.open(file.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow)
    except (OSError, ValueError):
        return
    tmp = f"{file.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, file.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            os.unlink(tmp, dir_fd=folder)
            raise
    except OSError:
        pass
    finally:
        os.close(folder)


if __name__ == "__main__":
    # The benchmark child: BLAS threads were set through the environment before numpy loaded.
    print(json.dumps(benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 1), allow_nan=False))
