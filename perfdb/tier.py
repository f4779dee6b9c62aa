"""Source tiers: where a latency number came from, ordered from most to least trusted."""
from __future__ import annotations

import numpy as np

from sloplan.core.enums import Tier

__all__ = ["Tier", "worst"]


def worst(tiers: np.ndarray | list[int] | Tier) -> Tier:
    """The least-trusted tier in a collection (a plan reports this one)."""
    arr = np.asarray(tiers)
    return Tier(int(arr.max())) if arr.size else Tier.MEASURED
