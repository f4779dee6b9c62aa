"""Analytic memory-bound ops without tables (peer §1.6): embedding gather. Tier ROOFLINE like memory_op."""
from __future__ import annotations

import numpy as np

from .lookup import Lookup


class AnalyticMixin:
    """PerfDB methods for ops that are priced by bytes moved only (mixed into PerfDB)."""

    def embedding(self, tokens, hidden: int, dtype_bytes: float = 2.0) -> Lookup:
        """Embedding lookup of `tokens` tokens: reads only the touched rows (tokens · hidden · bytes) and
        writes them out, so bytes = 2 · tokens · hidden · dtype_bytes; priced like `memory_op`
        (bytes / (0.8 · HBM bandwidth) + 3 µs). The vocabulary size does not matter: untouched rows are
        never read."""
        t = np.maximum(np.asarray(tokens, dtype=np.float64), 0.0)
        return self.memory_op(2.0 * t * float(hidden) * dtype_bytes)
