"""Exact dominance reduction of a disaggregated instance (the fast path of solver/disagg.py).

Prefill row p is dominated by q when both sit in the same pool with the same GPUs per worker and q
sustains at least as much at every planned-utilisation cap: ``mu_q >= mu_p`` and
``rho[q, d] mu_q >= rho[p, d] mu_p`` for every decode row d. Replacing every p worker by a q worker
keeps every GPU count (total, per role, per class, one engine per pool) and cannot lower the
prefill capacity for any set of used decode rows, so the served rate, tokens/s/GPU and tokens/s/user
do not drop.

Decode row d (usable: meets TPOT and memory) is dominated by e (usable, same pool, same GPUs) when
``mu_e >= mu_d``, ``tpot_e <= tpot_d`` and ``rho[p, e] >= rho[p, d]`` for every prefill row p: the
swap keeps GPUs, does not lower the decode capacity, the slowest user's speed, or any prefill row's
cap (its minimum over used decode rows). Rows that cannot be used (TPOT, memory) are dropped.

Equal rows dominate each other; the first is kept. So the reduced instance has the same optimal
key (tokens/s/GPU, tokens/s, tokens/s/user) and the same Pareto front values, which the tests
check against brute force on the unreduced instance. Relaxing constraint groups (certificates) must
use the unreduced formulation, as the dropped rows are exactly what a relaxation readmits.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .disagg_tables import DisaggInstance, take_rows
from .reduction import _undominated_in_class


def _undominated(keys: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Rows not dominated (>= on every column of `keys`, within their class; ties keep the first), sorted.

    Within a class the rows go best-first lexicographically (index last, so of equal rows the first
    leads): a row that dominates another is lexicographically greater, so only earlier rows can
    dominate later ones, and solver/reduction.py's batch skyline finds the survivors comparing each
    row with the survivors only, not with every row of its class."""
    order = np.lexsort((np.arange(len(keys)), *(-keys[:, c] for c in reversed(range(keys.shape[1]))), classes))
    bounds = np.flatnonzero(np.diff(classes[order])) + 1
    keep = [rows[_undominated_in_class(keys[rows])] for rows in np.split(order, bounds) if len(rows)]
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def reduce_instance(inst: DisaggInstance) -> tuple[DisaggInstance, np.ndarray, np.ndarray]:
    """(reduced instance, its prefill rows in `inst`, its decode rows in `inst`)."""
    P, D = inst.prefill, inst.decode
    usable = np.flatnonzero(inst.decode_allowed)
    if len(usable) == 0:
        usable = np.zeros(1, np.int64)  # keep one (excluded by its rows) so the tables stay non-empty
    rho = inst.rho[:, usable]
    mu_p = P.requests_per_s
    p_keys = np.column_stack([mu_p, rho * mu_p[:, None]])
    p_rows = _undominated(p_keys, P.pool * 1_000_003 + P.gpus)
    d_keys = np.column_stack([D.requests_per_s[usable], -D.tpot_s[usable], inst.rho[p_rows][:, usable].T])
    d_local = _undominated(d_keys, (D.pool * 1_000_003 + D.gpus)[usable])
    d_rows = usable[d_local]
    sub = replace(inst, prefill=take_rows(P, p_rows), decode=take_rows(D, d_rows))
    return sub, p_rows, d_rows
