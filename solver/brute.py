"""Brute force: enumerate every integer replica vector of a small table — the ground truth.

Used by the tests (and benchmarks) to check the MIP path; it shares nothing with it except
`Deployment.from_counts`, the single definition of a deployment's metrics. It does not use the
dominance reduction. Enumeration is vectorized; metrics are first computed in floating point to
shortlist candidates (with a generous relative tolerance), and every shortlisted vector is then
re-evaluated exactly, so ties are decided exactly as in the MIP path.
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

from .deployment import Deployment
from .slo import Slo

MAX_VECTORS = 3_000_000
_REL_TOL = 1e-9


def count_vectors(gpus: np.ndarray, total_gpus: int) -> np.ndarray:
    """Every non-zero integer vector n >= 0 with sum n_i gpus_i <= total_gpus, one per row."""
    vecs = np.zeros((1, 0), dtype=np.int64)
    used = np.zeros(1, dtype=np.int64)
    for g in np.asarray(gpus, dtype=np.int64):
        reps = (total_gpus - used) // g + 1
        if reps.sum() > MAX_VECTORS:
            raise ValueError(f"brute force would enumerate over {MAX_VECTORS} vectors")
        parent = np.repeat(np.arange(len(vecs)), reps)
        count = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        vecs = np.column_stack([vecs[parent], count])
        used = used[parent] + count * g
    return vecs[vecs.any(axis=1)]


def _allowed_vectors(table: OptionTable, total_gpus: int, slo: Slo):
    """(allowed table rows, count vectors over them), or None when no option is usable."""
    rows = np.flatnonzero(slo.allowed(table) & (table.gpus <= total_gpus))
    if len(rows) == 0:
        return None
    vecs = count_vectors(table.gpus[rows], total_gpus)
    return (rows, vecs) if len(vecs) else None


def _exact(table: OptionTable, rows: np.ndarray, vecs: np.ndarray, total_gpus: int) -> list[Deployment]:
    return [Deployment.from_counts(table, {int(r): int(c) for r, c in zip(rows, v) if c}, total_gpus)
            for v in vecs]


def brute_best(table: OptionTable, total_gpus: int, slo: Slo | None = None) -> Deployment | None:
    """Max tokens/s, then fewest GPUs, then highest tokens/s/user — over all vectors."""
    found = _allowed_vectors(table, total_gpus, slo or Slo())
    if found is None:
        return None
    rows, vecs = found
    rate = vecs @ table.tokens_per_s[rows].astype(float)
    top = rate.max()
    near = vecs[rate >= top - _REL_TOL * abs(top) - 1e-12]
    return max(_exact(table, rows, near, total_gpus),
               key=lambda d: (d.tokens_per_s, -d.gpus_used, d.tokens_per_s_per_user))


def front_ceiling(speed: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Per candidate, the best `value` among the candidates at least as fast (equal speeds share their
    group's maximum): a candidate well below its ceiling is dominated, so only those near it are re-evaluated
    exactly. Shared by the aggregated and the disaggregated brute force."""
    order = np.argsort(-speed, kind="stable")
    best_so_far = np.maximum.accumulate(value[order])
    s_sorted = speed[order]
    group_end = np.searchsorted(-s_sorted, -s_sorted, side="right") - 1
    ceiling = np.empty_like(value)
    ceiling[order] = best_so_far[group_end]
    return ceiling


def brute_front(table: OptionTable, total_gpus: int, slo: Slo | None = None) -> list[Deployment]:
    """The non-dominated set of (tokens/s/user, tokens/s/GPU), sorted by user speed ascending."""
    found = _allowed_vectors(table, total_gpus, slo or Slo())
    if found is None:
        return []
    rows, vecs = found
    rate = vecs @ table.tokens_per_s[rows].astype(float)
    speed = np.where(vecs > 0, table.tokens_per_s_per_user[rows], np.inf).min(axis=1)
    ceiling = front_ceiling(speed, rate)
    near = vecs[rate >= ceiling - _REL_TOL * np.abs(ceiling) - 1e-12]
    cands = sorted(_exact(table, rows, near, total_gpus),
                   key=lambda d: (-d.tokens_per_s_per_user, -d.tokens_per_s, d.gpus_used))
    front, best_rate = [], -np.inf
    for d in cands:
        if d.tokens_per_s > best_rate:
            front.append(d)
            best_rate = d.tokens_per_s
    return front[::-1]
