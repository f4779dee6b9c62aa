"""SparseGrid: the measured points of one table slice, the compact form every family builds and the cache stores.

A leaf module (numpy only) so that table builders, family modules, the cache and the PerfDB share it without
importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SparseGrid:
    """Measured points of one slice: `axes` keys, `flat` cell indices, `lu` = log(SOL / latency)."""

    axes: list[np.ndarray]
    flat: np.ndarray
    lu: np.ndarray
    fill_order: list[int]

    @classmethod
    def of(cls, coords: list[np.ndarray], lu: np.ndarray, fill_order: list[int]) -> "SparseGrid":
        axes = [np.unique(c) for c in coords]
        idx = tuple(np.searchsorted(a, c) for a, c in zip(axes, coords))
        flat = np.ravel_multi_index(idx, tuple(len(a) for a in axes)).astype(np.int64)
        return cls(axes, flat, lu.astype(np.float64), fill_order)
