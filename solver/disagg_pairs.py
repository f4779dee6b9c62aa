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
speed, and among exact ties the lowest TTFT; front: non-dominated (tokens/s/user, tokens/s)), which
the tests check against brute force.
"""
from __future__ import annotations

import numpy as np

from .brute import front_ceiling
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance

_REL_TOL = 1e-9


def _decode_room(inst: DisaggInstance, rows: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Per (prefill row, decode row) of `rows` x `cols`: the most decode workers left once k workers of
    the prefill row are placed."""
    P, D = inst.prefill, inst.decode
    gp = (P.gpus[rows] * k).astype(float)
    room = np.broadcast_to(float(inst.total_gpus) - gp[:, None], (len(rows), len(cols)))
    if inst.max_decode_gpus is not None:
        room = np.minimum(room, float(inst.max_decode_gpus))
    sys_p, sys_d = inst.prefill_systems[rows], inst.decode_systems[cols]
    for system, limit in inst.gpus_by_class.items():
        same = (sys_p == system)[:, None] & (sys_d == system)[None, :]
        room = np.where(same, np.minimum(room, float(limit) - gp[:, None]), room)
    nd = np.floor(np.maximum(room, 0.0) / D.gpus[cols][None, :]).astype(np.int64)
    return np.minimum(nd, inst.decode_cap()[cols][None, :])


def candidates(inst: DisaggInstance):
    """Every (p, d, k, nd) worth evaluating: per pair and k, the rate with the most decode workers and
    the fewest decode workers that serve it — kept only where it comes within the float tolerance of
    the best rate of its decode row (the front and the best plan both take a decode row's best, and
    a decode row is one user speed). Returns arrays (p, d, k, nd, tokens, lower, upper): tokens in
    floats, lower / upper where nd - 1 / nd + 1 decode workers may serve as much exactly; False when
    there is no plan.

    Prefill rows with the same GPUs, worker cap and system leave the decode pool the same room at
    every k, so a decode row's best over such a group is ``min(k max_p c[p, d], mu_d nd_max)``: the
    first pass costs one vector per group and k, and the second looks only at the decode rows where
    a group comes near that best."""
    P, D = inst.prefill, inst.decode
    cols = np.flatnonzero(inst.decode_allowed)
    c_all = inst.rho[:, cols] * P.requests_per_s[:, None]  # prefill rate per worker of each pair
    rows = np.flatnonzero((c_all > 0).any(axis=1) & (inst.prefill_cap() >= 1))
    if not len(rows) or not len(cols):
        return False
    c, cap_p, mu = c_all[rows], inst.prefill_cap()[rows], D.requests_per_s[cols]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(P.gpus[rows].tolist(), cap_p.tolist(), inst.prefill_systems[rows].tolist())):
        groups.setdefault(key, []).append(i)
    rooms, best = [], np.zeros(len(cols))
    for (_, cap, _), idx in groups.items():
        idx = np.array(idx)
        cmax = c[idx].max(axis=0)
        for k in range(1, cap + 1):
            nd_max = _decode_room(inst, rows[idx[:1]], cols, k)[0]
            rooms.append((idx, k, nd_max, cmax))
            best = np.maximum(best, np.where(nd_max >= 1, np.minimum(cmax * k, mu * nd_max), 0.0))
    floor = best * (1 - _REL_TOL)
    out = []
    for idx, k, nd_max, cmax in rooms:
        near = np.flatnonzero((nd_max >= 1) & (best > 0) & (np.minimum(cmax * k, mu * nd_max) >= floor))
        if not len(near):
            continue
        sub = c[np.ix_(idx, near)]
        i, j = np.nonzero((sub > 0) & (np.minimum(sub * k, (mu * nd_max)[near][None, :]) >= floor[near][None, :]))
        if len(i):
            out.append(_counts(rows[idx[i]], cols[near[j]], k, sub[i, j] * k, mu[near[j]], nd_max[near[j]]))
    if not out:
        return False
    return _decode_bound_once(inst, *(np.concatenate(col) for col in zip(*out)))


def _counts(p, d, k, pre, mu, top):
    """Decode counts of candidates: the fewest that serve the prefill rate (or all the room leaves), and
    where floats leave nd - 1 (`lower`) or nd + 1 (`upper`) open for the exact pass."""
    full = mu * top
    need = np.minimum(np.ceil(pre / mu * (1 - _REL_TOL)).astype(np.int64), top)
    nd = np.where(full > pre, np.maximum(need, 1), top)
    lower = (nd > 1) & (mu * (nd - 1) >= pre * (1 - _REL_TOL))
    upper = (nd < top) & (mu * nd <= pre * (1 + _REL_TOL))
    return p, d, np.full(len(p), k), nd, pre, full, lower, upper


def _decode_bound_once(inst: DisaggInstance, p, d, k, nd, pre, full, lower, upper):
    """The candidates, where those clearly bound by their decode pool (``mu_d nd < c k`` beyond
    the float tolerance: the rate is exactly mu_d nd, whichever prefill row feeds it) keep, per decode
    row and count, only the prefill row with the fewest GPUs (the one the tie-break prefers; its TTFT
    is within the SLO as every candidate's is). Others are all kept."""
    bound = np.flatnonzero(full < pre * (1 - _REL_TOL))
    gpus = inst.prefill.gpus[p[bound]] * k[bound]
    order = bound[np.lexsort((gpus, nd[bound], d[bound]))]  # by decode row, count, then prefill GPUs
    first = np.ones(len(order), bool)
    first[1:] = (d[order][1:] != d[order][:-1]) | (nd[order][1:] != nd[order][:-1])
    keep = np.ones(len(p), bool)
    keep[bound] = False
    keep[order[first]] = True
    tokens = np.minimum(pre, full) * inst.osl
    return p[keep], d[keep], k[keep], nd[keep], tokens[keep], lower[keep], upper[keep]


def _expanded(found, mask) -> list[tuple[int, int, int, int]]:
    """(p, d, k, nd) of the masked candidates and the neighbouring decode counts floats left open
    (nd + 1 only where it fits: `upper` requires nd < the room left)."""
    p, d, k, nd, _, lower, upper = (col[mask].tolist() for col in found)
    out = dict.fromkeys((a, b, n, m) for a, b, n, m in zip(p, d, k, nd))
    for a, b, n, m, lo, up in zip(p, d, k, nd, lower, upper):
        if lo:
            out[(a, b, n, m - 1)] = None
        if up:
            out[(a, b, n, m + 1)] = None
    return list(out)


def _dyadic(x) -> tuple[int, int]:
    """(num, e) with x == num / 2**e exactly: a finite float's integer ratio has a power-of-two denominator."""
    num, den = float(x).as_integer_ratio()
    return num, den.bit_length() - 1


def _exact_keys(inst: DisaggInstance, plans: list[tuple[int, int, int, int]]) -> list[tuple]:
    """Per plan (tokens/s exactly, GPUs, user speed): `DisaggDeployment.from_counts`'s rate for one prefill
    and one decode row, without the rest of its metrics. The rate is an integer: the exact rational
    times 2**K, one K for all of `plans` (every float is num / 2**e, so the products and the minimum are
    exact integers at a common power of two), hence the same order and the same ties among `plans` as
    the Fractions `from_counts` computes, without a gcd per operation."""
    P, D = inst.prefill, inst.decode
    terms = []
    for a, b, n, m in plans:
        (rn, rk), (pn, pk), (dn, dk) = _dyadic(inst.rho[a, b]), _dyadic(P.requests_per_s[a]), \
            _dyadic(D.requests_per_s[b])
        terms.append((rn * pn * n, rk + pk, dn * m, dk))
    top = max((max(pe, de) for _, pe, _, de in terms), default=0)
    out = []
    for (a, b, n, m), (pre, pe, dec, de) in zip(plans, terms):
        rate = min(pre << (top - pe), dec << (top - de))
        out.append((rate * inst.osl, int(P.gpus[a]) * n + int(D.gpus[b]) * m,
                    float(D.tokens_per_s_per_user[b])))
    return out


def _deployment(inst: DisaggInstance, plan: tuple[int, int, int, int]) -> DisaggDeployment:
    a, b, n, m = plan
    return DisaggDeployment.from_counts(inst, {a: n}, {b: m})


def pairs_best(inst: DisaggInstance, found=None) -> DisaggDeployment | None:
    """The lexicographically best one-engine-per-pool deployment, or None (`found`: `candidates(inst)`
    when the caller has them already)."""
    found = candidates(inst) if found is None else found
    if found is False:
        return None
    tokens = found[4]
    plans = _expanded(found, tokens >= tokens.max() * (1 - _REL_TOL))
    keys = [(t, -g, u) for t, g, u in _exact_keys(inst, plans)]
    top = max(keys)
    if top[0] <= 0:
        return None
    # exact ties on all three levels: the lowest TTFT, then the first rows (a stable, stated choice)
    tied = sorted(plans[i] for i, k in enumerate(keys) if k == top)
    return min((_deployment(inst, plan) for plan in tied), key=lambda dep: dep.ttft_s)


def pairs_front(inst: DisaggInstance, found=None) -> list[DisaggDeployment]:
    """Non-dominated (tokens/s/user, tokens/s) one-engine-per-pool deployments, by user speed ascending."""
    found = candidates(inst) if found is None else found
    if found is False:
        return []
    tokens = found[4]
    speed = inst.decode.tokens_per_s_per_user[found[1]]
    plans = _expanded(found, tokens >= front_ceiling(speed, tokens) * (1 - _REL_TOL))
    keys = _exact_keys(inst, plans)
    order = sorted(range(len(plans)), key=lambda i: (-keys[i][2], -keys[i][0], keys[i][1]))
    front, best = [], 0
    for i in order:
        if keys[i][0] > best:
            front.append(plans[i])
            best = keys[i][0]
    return [_deployment(inst, plan) for plan in front[::-1]]
