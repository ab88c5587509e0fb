"""The host's own peaks, measured once per machine: numpy matmul FLOPS and memory-copy bandwidth.

They turn the probe's measured latency into an efficiency (how much of the host's peak the model
reached), which the target estimate then applies to the target's peak. The figures are cached in
``$XDG_CACHE_HOME/deploygate/host.json`` (``~/.cache`` by default), keyed by CPU name, core count
and numpy version, so a CI runner pays the ~0.5 s benchmark once per image.

``DEPLOYGATE_HOST_PEAKS="GFLOPS,GB/s"`` (e.g. ``"100,10"``) replaces the benchmark and the cache:
for tests, and for runners whose peaks are known.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from deploygate.errors import UsageError
from deploygate.host import cpu_name

ENV_PEAKS = "DEPLOYGATE_HOST_PEAKS"
MATMUL_N = 1024
"""Square fp32 matmul size: large enough for BLAS to reach its peak, ~2 GFLOP a run."""
COPY_BYTES = 64 * 2**20
"""Copied array size: well past any last-level cache, so the copy runs at DRAM speed."""
REPEATS = 5
"""Best of this many runs: the peak is the fastest, not the typical, run."""


@dataclass(frozen=True)
class HostPeaks:
    """What this machine reaches at best, all cores busy."""

    flops: float
    """fp32 operations per second (numpy matmul, all cores)."""
    bandwidth: float
    """Memory-copy bytes per second (read + write)."""
    cpu: str
    """CPU model name."""
    cores: int
    """Logical cores the benchmark could use."""
    numpy: str
    """numpy version (its BLAS decides the matmul peak)."""
    source: str = "measured"
    """measured, cache or env."""

    def flops_at(self, threads: int) -> float:
        """Peak with ``threads`` threads, assuming it scales with the cores used."""
        return self.flops * min(max(threads, 1), self.cores) / self.cores


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


def _cache_key() -> str:
    """This machine's entry in the cache: CPU, core count and numpy version."""
    import numpy as np

    return f"{cpu_name()}|{os.cpu_count() or 1}|numpy {np.__version__}"


def measure_host_peaks() -> HostPeaks:
    """Run the microbenchmark (about half a second)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm-up: BLAS thread pool start, page faults
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(REPEATS))
    flops = 2.0 * MATMUL_N**3 / best

    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(REPEATS))
    bandwidth = 2.0 * src.nbytes / best  # a copy reads and writes every byte
    return HostPeaks(flops, bandwidth, cpu_name(), os.cpu_count() or 1, np.__version__)


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return max(time.perf_counter() - start, 1e-9)


def host_peaks() -> HostPeaks:
    """This machine's peaks: from the environment, the cache, or a fresh measurement."""
    override = os.environ.get(ENV_PEAKS)
    cores = os.cpu_count() or 1
    if override:
        try:
            gflops, gbps = (float(x) for x in override.split(","))
            if not all(math.isfinite(x) and x > 0 for x in (gflops, gbps)):
                raise ValueError("not positive")
        except ValueError as e:
            raise UsageError(f"{ENV_PEAKS}={override!r}: expected 'GFLOPS,GB/s', e.g. '100,10'") \
                from e
        return HostPeaks(gflops * 1e9, gbps * 1e9, cpu_name(), cores, "", "env")
    key = _cache_key()
    file = cache_file()
    cached = _read_cache(file)
    entry = _entry(cached.get(key), cores)
    if entry is not None:
        return entry
    peaks = measure_host_peaks()
    _store(file, key, peaks, cached)
    return peaks


def host_peaks_for(flops: float, measured_ms: float, threads: int) -> HostPeaks:
    """This machine's peaks to calibrate a run of ``flops`` measured at ``measured_ms``.

    A run faster than the cached peak means the cache was measured on a busy machine: measure
    again (unless the peaks come from the environment, which the user set on purpose).
    """
    host = host_peaks()
    if host.source != "env" and measured_ms > 0 and \
            flops / (measured_ms / 1000) > host.flops_at(threads):
        host = refresh_host_peaks(host)
    return host


def refresh_host_peaks(stale: HostPeaks) -> HostPeaks:
    """Measure again and keep the better of both: for when a run just beat the cached peak,
    which happens when the cache was measured on a busy machine."""
    fresh = measure_host_peaks()
    best = replace(fresh, flops=max(fresh.flops, stale.flops),
                   bandwidth=max(fresh.bandwidth, stale.bandwidth))
    file = cache_file()
    _store(file, _cache_key(), best, _read_cache(file))
    return best


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
    if not (rates_ok and isinstance(cached_cores, int) and not isinstance(cached_cores, bool)
            and 1 <= cached_cores <= min(cores, MAX_CORES)
            and isinstance(cpu, str) and isinstance(numpy_version, str)):
        return None
    return HostPeaks(float(flops), float(bandwidth), cpu, cached_cores,  # type: ignore[arg-type]
                     numpy_version, "cache")


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
