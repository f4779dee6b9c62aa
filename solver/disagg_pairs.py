"""One engine type per pool: the disaggregated problem solved exactly by its (prefill row, decode row) pairs.

Without `mixed_pools` a plan uses one prefill row p and one decode row d (the MILP's `one_prefill` /
`one_decode` rows), so the problem splits by pair. For a pair and a prefill worker count k the rest is
closed-form: the decode pool gets the most workers the budgets leave, ``nd_max(k)``, the pair serves
``r = min(rho[p, d] mu_p k, mu_d nd_max)``, and the fewest decode workers serving that rate are
``ceil(rho[p, d] mu_p k / mu_d)`` (or nd_max). Enumerating every pair and every integer k (vectorized:
one pass per k over the pair matrix) is therefore an exact solution of the same MILP — no grid, no
sampling — in milliseconds where the branch-and-bound of solver/problems/disagg.py takes seconds on
real tables of thousands of decode rows (it stays the method for mixed pools).

Floats only shortlist: every candidate within a relative 1e-9 of the best (or of its speed class's
ceiling, for the front) is re-evaluated exactly by `DisaggDeployment.from_counts` with its neighbouring
decode counts, so ties are decided exactly as the MILP path and the brute force decide them. The
result is the same as `disagg_best` / `disagg_front` (lexicographic best: tokens/s, fewest GPUs, user
speed; front: non-dominated (tokens/s/user, tokens/s)), which the tests check against brute force.
"""
from __future__ import annotations

import numpy as np

from .brute import front_ceiling
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance

_REL_TOL = 1e-9


def _decode_room(inst: DisaggInstance, k: int) -> np.ndarray:
    """Per (prefill row, decode row): the most decode workers left once k prefill workers are placed."""
    P, D = inst.prefill, inst.decode
    gp = P.gpus * k
    room = np.full((len(P), len(D)), float(inst.total_gpus)) - gp[:, None]
    if inst.max_decode_gpus is not None:
        room = np.minimum(room, float(inst.max_decode_gpus))
    sys_p, sys_d = inst.prefill_systems, inst.decode_systems
    for system, limit in inst.gpus_by_class.items():
        same = (sys_p == system)[:, None] & (sys_d == system)[None, :]
        room = np.where(same, np.minimum(room, float(limit) - gp[:, None]), room)
    nd = np.floor(np.maximum(room, 0.0) / D.gpus[None, :]).astype(np.int64)
    return np.minimum(nd, inst.decode_cap()[None, :])


def _candidates(inst: DisaggInstance):
    """Every (p, d, k, nd) worth evaluating: per pair and k, the rate with the most decode workers and
    the fewest decode workers that serve it. Returns arrays (p, d, k, nd, tokens, lower, upper): tokens
    in floats, lower / upper where nd - 1 / nd + 1 decode workers may serve as much exactly."""
    P, D = inst.prefill, inst.decode
    cap_p = inst.prefill_cap()
    c = inst.rho * P.requests_per_s[:, None]  # prefill rate per worker of each pair
    usable = inst.decode_allowed[None, :] & (c > 0)
    out = []
    for k in range(1, int(cap_p.max(initial=0)) + 1):
        nd_max = _decode_room(inst, k)
        ok = usable & (cap_p >= k)[:, None] & (nd_max >= 1)
        p, d = np.nonzero(ok)
        if not len(p):
            continue
        pre = c[p, d] * k
        full = D.requests_per_s[d] * nd_max[p, d]
        need = np.minimum(np.ceil(pre / D.requests_per_s[d] * (1 - _REL_TOL)).astype(np.int64), nd_max[p, d])
        nd = np.where(full > pre, np.maximum(need, 1), nd_max[p, d])
        # which neighbouring decode counts floats cannot rule out (the exact pass decides them)
        mu = D.requests_per_s[d]
        lower = (nd > 1) & (mu * (nd - 1) >= pre * (1 - _REL_TOL))
        upper = (nd < nd_max[p, d]) & (mu * nd <= pre * (1 + _REL_TOL))
        out.append((p, d, np.full(len(p), k), nd, np.minimum(pre, full) * inst.osl, lower, upper))
    if not out:
        return None
    return tuple(np.concatenate(col) for col in zip(*out))


def _exact(inst: DisaggInstance, p, d, k, nd, lower, upper) -> list[DisaggDeployment]:
    """Exact deployments of the shortlisted candidates and the neighbouring decode counts floats left open."""
    seen, out = set(), []
    for a, b, n, m, lo, up in zip(p.tolist(), d.tolist(), k.tolist(), nd.tolist(), lower.tolist(), upper.tolist()):
        for mm in (m - 1, m, m + 1):
            if (mm == m or (lo and mm < m) or (up and mm > m)) and (a, b, n, mm) not in seen:
                seen.add((a, b, n, mm))
                dep = DisaggDeployment.from_counts(inst, {a: n}, {b: mm})
                if dep.rate_exact > 0 and _within(inst, dep):
                    out.append(dep)
    return out


def _within(inst: DisaggInstance, dep: DisaggDeployment) -> bool:
    """Every GPU limit holds (the neighbours of a candidate may step over one)."""
    if dep.gpus_used > inst.total_gpus or (inst.max_decode_gpus is not None and dep.decode_gpus > inst.max_decode_gpus):
        return False
    for system, limit in inst.gpus_by_class.items():
        used = sum(int(inst.prefill.gpus[r]) * c for r, c in dep.prefill if inst.prefill_system(r) == system)
        used += sum(int(inst.decode.gpus[r]) * c for r, c in dep.decode if inst.decode_system(r) == system)
        if used > limit:
            return False
    return True


def pairs_best(inst: DisaggInstance) -> DisaggDeployment | None:
    """The lexicographically best one-engine-per-pool deployment, or None."""
    found = _candidates(inst)
    if found is None:
        return None
    tokens = found[4]
    near = tokens >= tokens.max() * (1 - _REL_TOL)
    cands = _exact(inst, *(found[i][near] for i in (0, 1, 2, 3, 5, 6)))
    return max(cands, key=lambda x: x.key) if cands else None


def pairs_front(inst: DisaggInstance) -> list[DisaggDeployment]:
    """Non-dominated (tokens/s/user, tokens/s) one-engine-per-pool deployments, by user speed ascending."""
    found = _candidates(inst)
    if found is None:
        return []
    tokens = found[4]
    speed = inst.decode.tokens_per_s_per_user[found[1]]
    near = tokens >= front_ceiling(speed, tokens) * (1 - _REL_TOL)
    cands = sorted(_exact(inst, *(found[i][near] for i in (0, 1, 2, 3, 5, 6))),
                   key=lambda x: (-x.tokens_per_s_per_user, -x.tokens_exact, x.gpus_used))
    front, best = [], None
    for x in cands:
        if best is None or x.tokens_exact > best:
            front.append(x)
            best = x.tokens_exact
    return front[::-1]
