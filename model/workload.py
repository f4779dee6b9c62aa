"""Workload and the metrics every estimator returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    """Fixed-length requests: `isl` prompt tokens of which `prefix` are already cached, `osl` output tokens."""

    isl: int
    osl: int
    prefix: int = 0

    @property
    def new_tokens(self) -> int:
        """Prompt tokens that must actually be prefilled."""
        return max(self.isl - self.prefix, 1)

    @property
    def mean_decode_kv(self) -> float:
        """Mean KV length over a request's decode steps (decode attention is linear in it, so the mean is exact)."""
        return self.isl + self.osl / 2.0


@dataclass(frozen=True)
class ServingMetrics:
    """Per-replica metrics over a grid of client concurrencies (arrays of one length)."""

    concurrency: np.ndarray  # requests the clients keep in flight against this replica
    running: np.ndarray  # requests the replica actually runs at once (≤ concurrency: KV/batch cap)
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    tokens_per_s: np.ndarray  # output tokens/s of the replica
    tier: np.ndarray  # perfdb.Tier of the least-trusted lookup
    source: np.ndarray  # ops.Op of that lookup (named to the user when the tier is extrapolated/roofline)

    def request_latency_s(self, osl: int) -> np.ndarray:
        return self.ttft_s + (osl - 1) * self.tpot_s

    def at(self, i: int) -> dict:
        keys = ("concurrency", "running", "ttft_s", "tpot_s", "tokens_per_s", "tier")
        return {k: getattr(self, k)[i].item() for k in keys}
