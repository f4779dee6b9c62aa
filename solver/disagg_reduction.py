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


def _undominated(keys: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Rows not dominated (>= on every column of `keys`, within their class; ties keep the first)."""
    keep = []
    for i in range(len(keys)):
        same = np.flatnonzero(classes == classes[i])
        ge = (keys[same] >= keys[i]).all(axis=1)
        gt = (keys[same] > keys[i]).any(axis=1)
        dominated = (ge & gt) | (ge & ~gt & (same < i))
        if not dominated.any():
            keep.append(i)
    return np.array(keep, dtype=np.int64)


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
