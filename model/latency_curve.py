"""LatencyCurve: piecewise-linear metrics over concurrency, fitted on a knot grid.

Step latency is close to piecewise linear in batch size (GEMMs are flat while memory-bound, then
linear once compute-bound; attention is linear in batch), so a geometric knot grid with linear
interpolation reproduces the estimator within a fraction of a percent at a tenth of the cost. The
interpolated options are the *surrogate*; plans are re-checked with the full estimator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .workload import ServingMetrics


def knot_grid(cap: int) -> np.ndarray:
    """1..8 densely, then ~12% geometric steps, always ending exactly at `cap`."""
    cap = max(int(cap), 1)
    dense = np.arange(1, min(cap, 8) + 1)
    geo = np.unique(np.round(np.geomspace(8, max(cap, 8), num=max(2, int(np.log(max(cap, 8) / 8) / np.log(1.12)) + 2))))
    return np.unique(np.concatenate([dense, geo[geo <= cap], [cap]]).astype(int))


@dataclass(frozen=True)
class LatencyCurve:
    knots: np.ndarray
    metrics: ServingMetrics

    @staticmethod
    def fit(knots: np.ndarray, metrics: ServingMetrics) -> "LatencyCurve":
        return LatencyCurve(np.asarray(knots, dtype=int), metrics)

    def on_integers(self) -> ServingMetrics:
        """Metrics at every integer concurrency from the first knot to the last."""
        x = np.arange(self.knots[0], self.knots[-1] + 1)
        k, m = self.knots, self.metrics
        lerp = lambda y: np.interp(x, k, y)  # noqa: E731
        # the tier of a between-knots point is the worse of its two neighbours
        hi = np.clip(np.searchsorted(k, x), 0, len(k) - 1)
        lo = np.clip(hi - 1, 0, len(k) - 1)
        tier = np.maximum(m.tier[lo], m.tier[hi])
        return ServingMetrics(concurrency=x, running=np.round(lerp(m.running)).astype(int), ttft_s=lerp(m.ttft_s),
                              tpot_s=lerp(m.tpot_s), tokens_per_s=lerp(m.tokens_per_s), tier=tier)
