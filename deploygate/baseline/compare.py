"""What a comparison with the base ref found, and how a change reads (before -> after, %)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TYPE_CHECKING

from deploygate.artifacts.base import ArtifactInfo
from deploygate.manifest.units import format_bytes, format_count

if TYPE_CHECKING:

    from deploygate.probe.ab import ABLatency


@dataclass(frozen=True)
class Change:
    """One measure before (base) and after (head)."""

    before: float
    """On the base ref."""
    after: float
    """In the working tree."""

    @property
    def delta(self) -> float:
        """after - before."""
        return self.after - self.before

    @property
    def fraction(self) -> float | None:
        """Relative change (0.25 for +25%); None when the base was zero and the head is not."""
        if self.before == 0:
            return 0.0 if self.after == 0 else None
        return self.delta / self.before

    def to_json(self) -> dict[str, Any]:
        """``{before, after, delta, change}``; change is the fraction (0.25 for +25%)."""
        return {"before": self.before, "after": self.after, "delta": self.delta,
                "change": self.fraction}


def signed_percent(fraction: float | None) -> str:
    """0.25 as ``+25%``; None (growth from zero) as ``+inf%``."""
    if fraction is None:
        return "+inf%"
    return f"{fraction * 100:+.3g}%" if abs(fraction) < 10 else f"{fraction * 100:+.0f}%"


def describe(measure: str, change: Change) -> str:
    """``4.75 MB → 19 MB (+300%)`` for sizes, counts for params, ms for latency."""
    if measure == "size":
        before, after = format_bytes(int(change.before)), format_bytes(int(change.after))
    elif measure == "params":
        before, after = format_count(int(change.before)), format_count(int(change.after))
    else:
        before, after = f"{change.before:.3f} ms", f"{change.after:.3f} ms"
    return f"{before} → {after} ({signed_percent(change.fraction)})"


Status = Literal["compared", "new", "skipped", "unavailable"]
"""What became of a comparison with the base ref."""


@dataclass(frozen=True)
class BaselineComparison:
    """What the baseline stage learned about one model: the boundary type the checks judge."""

    ref: str | None
    """The ref compared with (None when none could be chosen)."""
    source: str | None
    """Where the ref came from."""
    status: Status
    """``compared``, ``new`` (no base version), ``skipped`` or ``unavailable`` (git failed)."""
    commit: str | None = None
    """The base commit id."""
    base_path: str | None = None
    """Repository-relative path of the base artifact."""
    base_format: str | None = None
    """The format the base manifest declares for it, if any."""
    base_allow_globals: tuple[str, ...] | None = None
    """The pickle globals the base manifest accepted for it; None when no base entry was read."""
    base: ArtifactInfo | None = None
    """Inspection of the base artifact; None when it could not be inspected."""
    size: Change | None = None
    """Bytes on disk."""
    params: Change | None = None
    """Parameter count."""
    latency: ABLatency | None = None
    """Alternating base/head probes, when ``max_latency_increase`` is set and both ran."""
    size_from_lfs_pointers: bool = False
    """Whether the base size is the one recorded in LFS pointers."""
    reason: str | None = None
    """Why the comparison is ``unavailable`` or ``skipped``."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Measures (size, params, latency) not compared, and why."""
    notes: tuple[str, ...] = ()
    """Other facts worth showing (e.g. the base manifest could not be parsed)."""

    def to_json(self) -> dict[str, Any]:
        """The report's per-model ``baseline`` object."""
        latency = None
        if self.latency is not None:
            ab = self.latency
            latency = {**Change(ab.base_median_ms, ab.head_median_ms).to_json(),
                       "ratio": ab.ratio, "rounds": ab.rounds, "threads": ab.threads,
                       "base_p50_ms": list(ab.base_p50_ms), "head_p50_ms": list(ab.head_p50_ms)}
        return {
            "ref": self.ref, "source": self.source, "commit": self.commit,
            "status": self.status, "base_path": self.base_path,
            "size_bytes": self.size.to_json() if self.size else None,
            "params": self.params.to_json() if self.params else None,
            "latency_ms": latency,
            "size_from_lfs_pointers": self.size_from_lfs_pointers,
            "reason": self.reason, "skipped": dict(self.skipped), "notes": list(self.notes),
        }
