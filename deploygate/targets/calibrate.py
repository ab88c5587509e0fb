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
import os
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


def cache_file() -> Path:
    """Where host peaks are cached: the user's cache dir, never beside their artifacts."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
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
        except ValueError as e:
            raise UsageError(f"{ENV_PEAKS}={override!r}: expected 'GFLOPS,GB/s', e.g. '100,10'") \
                from e
        return HostPeaks(gflops * 1e9, gbps * 1e9, cpu_name(), cores, "", "env")
    key = _cache_key()
    file = cache_file()
    try:
        cached = json.loads(file.read_text("utf-8"))
        entry = cached.get(key) if isinstance(cached, dict) else None
        if isinstance(entry, dict):
            return HostPeaks(float(entry["flops"]), float(entry["bandwidth"]), entry["cpu"],
                             int(entry["cores"]), entry["numpy"], "cache")
    except (OSError, ValueError, KeyError, TypeError):
        cached = {}
    peaks = measure_host_peaks()
    _store(file, key, peaks, cached if isinstance(cached, dict) else {})
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
    try:
        cached = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError):
        cached = {}
    _store(file, _cache_key(), best,
           cached if isinstance(cached, dict) else {})
    return best


def _store(file: Path, key: str, peaks: HostPeaks, cached: dict[str, object]) -> None:
    """Write the cache atomically; a read-only home only costs a re-measurement next time."""
    entry = {k: v for k, v in asdict(peaks).items() if k != "source"}
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**cached, key: entry}, indent=2) + "\n", "utf-8")
        os.replace(tmp, file)
    except OSError:
        pass
