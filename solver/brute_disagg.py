"""Brute force for disaggregated plans: every pair of worker-count vectors — the ground truth.

Shares nothing with the MILP path except `DisaggDeployment.from_counts` (the one definition of a
plan's metrics) and the instance's data (`rho`, the allowed decode rows). Enumeration is vectorized
in floating point to shortlist candidates (generous relative tolerance); every shortlisted plan is
then re-evaluated exactly, so ties are decided exactly as in the MILP path.
"""
from __future__ import annotations

import numpy as np

from .brute import MAX_VECTORS, count_vectors, front_ceiling
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance

_REL_TOL = 1e-9


def _vectors(gpus: np.ndarray, cap: np.ndarray, usable: np.ndarray, limit: int, single: bool) -> np.ndarray:
    """Non-zero count vectors within `cap` per row and `limit` GPUs, over usable rows only."""
    rows = np.flatnonzero(usable & (cap > 0))
    out = np.zeros((0, len(gpus)), np.int64)
    if len(rows) == 0 or limit < 1:
        return out
    if single:
        vecs = [np.eye(len(gpus), dtype=np.int64)[r] * c for r in rows for c in range(1, int(cap[r]) + 1)]
        return np.array(vecs, dtype=np.int64).reshape(-1, len(gpus))
    sub = count_vectors(gpus[rows], limit)
    sub = sub[(sub <= cap[rows]).all(axis=1)]
    out = np.zeros((len(sub), len(gpus)), np.int64)
    out[:, rows] = sub
    return out


def _class_ok(inst: DisaggInstance, pv: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """(prefill vector, decode vector) pairs within every budget."""
    gp, gd = pv @ inst.prefill.gpus, dv @ inst.decode.gpus
    ok = (gp[:, None] + gd[None, :]) <= inst.total_gpus
    for c, lim in inst.gpus_by_class.items():
        mp = np.array([inst.prefill_system(i) == c for i in range(len(inst.prefill))])
        md = np.array([inst.decode_system(i) == c for i in range(len(inst.decode))])
        ok &= ((pv @ (inst.prefill.gpus * mp))[:, None] + (dv @ (inst.decode.gpus * md))[None, :]) <= lim
    return ok


def _candidates(inst: DisaggInstance):
    """Float metrics of every valid plan: (pv, dv, pair indices, tokens/s, gpus, speed), or None."""
    P, D = inst.prefill, inst.decode
    lim_p = inst.limit_for(inst.max_prefill_gpus, "")  # "": no system; class limits are `_class_ok`'s
    lim_d = inst.limit_for(inst.max_decode_gpus, "")
    single = not inst.mixed_pools
    pv = _vectors(P.gpus, inst.prefill_cap(), np.ones(len(P), bool), lim_p, single)
    dv = _vectors(D.gpus, inst.decode_cap(), inst.decode_allowed, lim_d, single)
    if len(pv) == 0 or len(dv) == 0:
        return None
    if len(pv) * len(dv) > MAX_VECTORS:
        raise ValueError(f"brute force would enumerate over {MAX_VECTORS} plans")
    used_d = dv > 0
    rho_star = np.where(used_d[:, None, :], inst.rho[None, :, :], np.inf).min(axis=2)  # (dv, prefill rows)
    cap_p = pv @ (P.requests_per_s[:, None] * rho_star.T)  # (pv, dv)
    cap_d = dv @ D.requests_per_s
    rate = np.minimum(cap_p, cap_d[None, :])
    g = (pv @ P.gpus)[:, None] + (dv @ D.gpus)[None, :]
    ok = _class_ok(inst, pv, dv) & (rate > 0)
    i, j = np.nonzero(ok)
    speed = np.where(used_d, D.tokens_per_s_per_user[None, :], np.inf).min(axis=1)
    return pv, dv, i, j, rate[i, j] * inst.osl, g[i, j], speed[j]


def _exact(inst: DisaggInstance, pv, dv, i, j) -> list[DisaggDeployment]:
    out = []
    for a, b in zip(i, j):
        p = {int(r): int(pv[a, r]) for r in np.flatnonzero(pv[a])}
        d = {int(r): int(dv[b, r]) for r in np.flatnonzero(dv[b])}
        out.append(DisaggDeployment.from_counts(inst, p, d))
    return out


def brute_disagg_best(inst: DisaggInstance) -> DisaggDeployment | None:
    """Most tokens/s, then fewest GPUs, then highest tokens/s/user — over every plan."""
    found = _candidates(inst)
    if found is None or len(found[2]) == 0:
        return None
    pv, dv, i, j, tokens, _, _ = found
    near = tokens >= tokens.max() * (1 - _REL_TOL)
    return max(_exact(inst, pv, dv, i[near], j[near]), key=lambda d: d.key)


def brute_disagg_front(inst: DisaggInstance) -> list[DisaggDeployment]:
    """The non-dominated set of (tokens/s/user, tokens/s), by user speed ascending."""
    found = _candidates(inst)
    if found is None or len(found[2]) == 0:
        return []
    pv, dv, i, j, tokens, _, speed = found
    ceiling = front_ceiling(speed, tokens)
    near = tokens >= ceiling * (1 - _REL_TOL)
    cands = sorted(_exact(inst, pv, dv, i[near], j[near]),
                   key=lambda d: (-d.tokens_per_s_per_user, -d.tokens_exact))
    front, best = [], None
    for d in cands:
        if best is None or d.tokens_exact > best:
            front.append(d)
            best = d.tokens_exact
    return front[::-1]
