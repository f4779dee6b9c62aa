"""Deployment: integer replica counts per option row, with the metrics they imply.

All metrics are computed in exactly one place, `Deployment.from_counts`, which the MIP path and the
brute-force enumerator both use; so "equal" means the same thing for both, and tests can compare
fronts as sets of floats. The served rate is the *correctly rounded exact* sum of
``count * tokens_per_s`` (via Fraction): two count vectors whose rates are mathematically equal get
bit-identical floats, whatever order their terms come in. Ties (the lexicographic tie-breaks and the
"drop the weakly dominated point" rule of the Pareto tracer) depend on that.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from collections.abc import Iterable, Mapping

import numpy as np

from sloplan.model.option_table import OptionTable

from .slo import Slo, SloKind


def exact_rate(tokens_per_s: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> float:
    """sum(counts * tokens_per_s[rows]) rounded once, exactly."""
    total = sum((Fraction(float(tokens_per_s[r])) * int(c) for r, c in zip(rows, counts)), Fraction(0))
    return float(total)


@dataclass(frozen=True)
class Deployment:
    """Replica counts and metrics. tokens_per_s_per_gpu divides by the *budget* (idle GPUs are paid)."""

    replicas: tuple[tuple[int, int], ...]  # (option row, count), rows ascending, counts > 0
    tokens_per_s: float
    gpus_used: int
    total_gpus: int
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float  # the slowest used option's decode speed
    ttft_s: float
    tpot_s: float
    request_latency_s: float

    @staticmethod
    def from_counts(table: OptionTable, counts: Mapping[int, int] | Iterable[int] | np.ndarray,
                    total_gpus: int) -> "Deployment":
        """Metrics of using `counts` replicas: a mapping row -> count, or one count per table row."""
        if isinstance(counts, Mapping):
            items = sorted((int(r), int(c)) for r, c in counts.items() if int(c) > 0)
        else:
            arr = np.rint(np.asarray(counts, dtype=float)).astype(np.int64)
            if len(arr) != len(table):
                raise ValueError(f"{len(arr)} counts for a table of {len(table)} rows")
            items = [(int(r), int(arr[r])) for r in np.flatnonzero(arr > 0)]
        if not items or any(c < 0 for _, c in items):
            raise ValueError("a deployment needs at least one replica and no negative counts")
        rows = np.array([r for r, _ in items])
        cnt = np.array([c for _, c in items])
        rate = exact_rate(table.tokens_per_s, rows, cnt)
        return Deployment(
            replicas=tuple(items),
            tokens_per_s=rate,
            gpus_used=int(np.dot(table.gpus[rows].astype(np.int64), cnt)),
            total_gpus=int(total_gpus),
            tokens_per_s_per_gpu=rate / total_gpus,
            tokens_per_s_per_user=float(np.min(table.tokens_per_s_per_user[rows])),
            ttft_s=float(np.max(table.ttft_s[rows])),
            tpot_s=float(np.max(table.tpot_s[rows])),
            request_latency_s=float(np.max(table.request_latency_s[rows])),
        )

    def counts(self, rows: int) -> np.ndarray:
        """Dense count vector over a table of `rows` rows."""
        out = np.zeros(rows, dtype=np.int64)
        for r, c in self.replicas:
            out[r] = c
        return out

    def meets(self, slo: Slo) -> bool:
        """True when every SLO that is set holds (the deployment metrics are max over used rows)."""
        return all(slo.limit(kind) is None or getattr(self, kind.field) <= slo.limit(kind) for kind in SloKind)
