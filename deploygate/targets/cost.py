"""Cost of 1,000 inferences on a priced device.

usd_per_1k = price_per_hour / 3600 x latency_s x 1000 / batch

Requests are served one after another (no concurrency on the device), so an hour buys
3600 / latency_s runs of ``batch`` inferences each. The latency is the mean, not a tail
percentile: what a device is billed for is the total time, and totals follow the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploygate.manifest.model import Device

FORMULA = "price_per_hour / 3600 * latency_s * 1000 / batch"


def usd_per_1k(price_per_hour: float, latency_ms: float, batch: int = 1) -> float:
    """Dollars per 1,000 inferences at ``latency_ms`` per run of ``batch`` inferences."""
    return price_per_hour / 3600.0 * (latency_ms / 1000.0) * 1000.0 / max(batch, 1)


@dataclass(frozen=True)
class CostEstimate:
    """What 1,000 inferences cost on the target, or what is missing to say."""

    usd_per_1k: float | None
    """Dollars per 1,000 inferences; None when it cannot be computed."""
    price_per_hour: float | None
    """The device's price."""
    latency_ms: float | None
    """Latency of one run used for the cost."""
    latency_source: str
    """Where the latency comes from: target estimate, device or host measurement."""
    batch: int = 1
    """Inferences per run (the pinned batch dimension)."""
    missing: str | None = None
    """Why ``usd_per_1k`` is None, in words."""

    def to_json(self) -> dict[str, Any]:
        """The report's ``cost`` estimate, with how it was computed."""
        return {"usd_per_1k": self.usd_per_1k, "price_per_hour": self.price_per_hour,
                "latency_ms": self.latency_ms, "latency_source": self.latency_source,
                "batch": self.batch, "formula": FORMULA, "missing": self.missing}


def estimate_cost(device: Device | None, latency_ms: float | None, latency_source: str,
                  batch: int = 1) -> CostEstimate:
    """The cost of 1,000 inferences on ``device``; says what is missing when it cannot."""
    price = device.price_per_hour if device is not None else None
    missing = []
    if device is None:
        missing.append("the target names no device (set target.device to a priced device)")
    elif price is None:
        missing.append(f"device '{device.id}' has no price_per_hour")
    if latency_ms is None:
        missing.append(f"no latency is known ({latency_source})")
    if missing:
        return CostEstimate(None, price, latency_ms, latency_source, batch, "; ".join(missing))
    assert price is not None and latency_ms is not None
    return CostEstimate(usd_per_1k(price, latency_ms, batch), price, latency_ms, latency_source,
                        batch)
