"""Lookup: the answer of every perfdb query — latencies plus the source tier of each one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tier import Tier, worst


@dataclass(frozen=True)
class Lookup:
    """`latency_s` (float64 seconds) and `tier` (int8 Tier values) share one shape."""

    latency_s: np.ndarray
    tier: np.ndarray

    def worst_tier(self) -> Tier:
        """The least-trusted tier among all elements (a plan reports this one)."""
        return worst(self.tier)

    @staticmethod
    def of(latency_s, tier) -> "Lookup":
        """Build with the canonical dtypes, broadcasting the tier to the latency shape."""
        lat = np.asarray(latency_s, dtype=np.float64)
        tr = np.broadcast_to(np.asarray(tier, dtype=np.int8), lat.shape).copy()
        return Lookup(lat, tr)


def finish(sol_s, lu, tier, floor=Tier.MEASURED) -> Lookup:
    """A grid family's answer: latency = SOL / util (util = exp(log-util) read from the grid), tier at
    least `floor` (the slice fallback a query took: another KV dtype, distribution, …)."""
    lat = np.asarray(sol_s, dtype=np.float64) / np.exp(lu)
    return Lookup.of(lat, np.maximum(np.asarray(tier), np.asarray(floor, dtype=np.int8)))
