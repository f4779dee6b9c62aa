"""Source tiers: where a latency number came from, ordered from most to least trusted."""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class Tier(IntEnum):
    """How an estimate was obtained. Larger values are less trusted, so `max` gives the weakest link."""

    MEASURED = 0  # an exact row of a silicon table
    INTERPOLATED = 1  # inside the convex hull of measured rows on every axis
    EXTRAPOLATED = 2  # outside the measured range on at least one axis (bounded, see perfdb/interp.py)
    ROOFLINE = 3  # speed-of-light / analytic, no measurement of this op

    @property
    def label(self) -> str:
        return self.name.lower()


def worst(tiers: np.ndarray | list[int] | Tier) -> Tier:
    """The least-trusted tier in a collection (a plan reports this one)."""
    arr = np.asarray(tiers)
    return Tier(int(arr.max())) if arr.size else Tier.MEASURED
