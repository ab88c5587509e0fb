"""A/B latency: base and head probed alternately in one run, judged on the ratio of medians.

Two absolute timings from different runs (or runners) differ by more than most regressions;
base and head measured turn about on the same machine, minutes apart, share its noise, so their
ratio holds where the absolute numbers do not.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from deploygate.manifest.model import LatencySpec

AB_ROUNDS = 3
"""Rounds of (base, head); the measuring time is split across them."""


@dataclass(frozen=True)
class ABLatency:
    """p50 latencies of base and head from alternating probes."""

    rounds: int
    """Probes per side."""
    threads: int
    """intra-op threads used for both."""
    base_p50_ms: tuple[float, ...]
    """The base's p50 in each round."""
    head_p50_ms: tuple[float, ...]
    """The head's p50 in each round."""

    @property
    def base_median_ms(self) -> float:
        """Median of the base's p50s."""
        return float(statistics.median(self.base_p50_ms))

    @property
    def head_median_ms(self) -> float:
        """Median of the head's p50s."""
        return float(statistics.median(self.head_p50_ms))

    @property
    def ratio(self) -> float:
        """head / base; 1.5 means 50% slower."""
        return self.head_median_ms / self.base_median_ms if self.base_median_ms > 0 else 1.0


def probe_ab(base: Path, head: Path, spec: LatencySpec, *, threads: int, root: Path,
             base_dir: Path, base_display: str, head_display: str, fmt: str = "onnx",
             rounds: int = AB_ROUNDS,
             progress: Callable[[str], None] | None = None) -> ABLatency:
    """Probe base and head alternately (A B A B ...); raises ProbeError when either fails."""
    from deploygate.probe import probe_latency

    # Each side gets the manifest's measuring time in all, split across the rounds.
    # No budget: both sides measure alike, without the verdict's extra rounds.
    share = replace(spec, max_time_s=spec.max_time_s / rounds, budget_ms=None)
    base_p50: list[float] = []
    head_p50: list[float] = []
    used = threads
    for _ in range(rounds):
        for model, display, out in ((base, base_display, base_p50), (head, head_display, head_p50)):
            result = probe_latency(model, share, threads=threads, root=root, base_dir=base_dir,
                                   display=display, fmt=fmt, progress=progress)
            out.append(result.p50_ms)
            used = result.threads  # at most the host's usable cores
    return ABLatency(rounds, used, tuple(base_p50), tuple(head_p50))
