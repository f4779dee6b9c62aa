"""Disaggregated columns of the sizing problem: candidate (prefill row, decode row) pairs of a
`DisaggInstance`, each with an integer prefill and decode worker count, one pair per plan (one engine
type per pool, the disaggregated model's default: the MILP's `one_prefill` / `one_decode`).

What one pair (p, d) with k prefill and m decode workers serves, in the target's unit, is defined once
here (`pair_capacity`, exact Fractions of the tables' floats) and used by the MIP path and the brute
force alike:

* **rate (open loop).** ``min(rho[p, d] mu_p k, mu_d m)`` requests/s: the prefill pool at the planned
  utilisation cap that keeps the pair's TTFT (M/D/1 queueing, KV transfer and first decode step
  included: solver/disagg_tables.py) and request latency within the SLOs, and the decode pool at its
  operating concurrency. Serving less never breaks an SLO: lower prefill utilisation waits less,
  fewer decoding requests step no slower.
* **concurrency (closed loop).** ``conc_d * min(m, floor(rho[p, d] mu_p k / mu_d))`` users: the decode
  workers the prefill pool can feed at its TTFT cap, each holding its operating concurrency. The MILP
  requires ``rho mu_p k >= mu_d m`` (row `rate_balance`), so every decode worker is fed. Why that is
  enough: with at most conc_d requests decoding on each worker, TPOT is no worse than the row's, and
  as long as a decode worker's throughput does not fall with its width, C users complete at most
  ``mu_d m`` requests/s, which the prefill pool takes within its cap. Users waiting in the prefill
  stage are not counted as capacity (conservative: they would free decode slots).

Why a mixed fleet (aggregated or static replicas beside a disaggregated pool pair) is allowed: a router
that splits requests (or users) between the two shares load by what each part can take, so the fleet
serves L whenever ``agg capacity + pair capacity >= L``; a random (Bernoulli) split of a Poisson stream
is Poisson, so the prefill pool's M/D/1 model holds at its share. Mixing lets a small replica top up a
pool pair whose worker sizes tile the load badly.

Exact reductions, so the MILP stays small on real tables (thousands of decode rows):

1. Per decode row and prefill *cost class* (GPUs per worker and system: same cost, same GPUs, same
   pool limits), only the prefill row feeding it most (largest ``rho mu_p``, exactly) is kept: any other
   row of the class can be swapped for it at the same cost with no less capacity.
2. Within a decode cost class, a decode row is dropped when another row is at least as good on every
   figure the lexicographic order and the rows read: user speed, each kept prefill class's rate, and
   mu_d (rate: at least as large; concurrency: at most as large, with conc_d at least as large).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import floor

import numpy as np

from sloplan.core.enums import LoadKind

from ..disagg_tables import DisaggInstance
from ..formulation import Constraint, Terms, Variable
from ..groups import ConstraintGroup

WP, WD, Z, S = "wp", "wd", "z", "s"  # prefill workers, decode workers, pair used, pair capacity
_G = ConstraintGroup


@dataclass(frozen=True, eq=False)
class SizingPairs:
    """Candidate pairs (per pair arrays) of one instance for one target kind and price list."""

    instance: DisaggInstance
    kind: LoadKind
    prefill_row: np.ndarray
    decode_row: np.ndarray
    prefill_rate: np.ndarray  # rho[p, d] mu_p: requests/s one prefill worker feeds at its TTFT cap
    decode_rate: np.ndarray  # mu_d
    decode_users: np.ndarray  # conc_d (float)
    prefill_gpus: np.ndarray
    decode_gpus: np.ndarray
    prefill_cost: np.ndarray  # per worker: GPUs, or GPUs x the system's price per GPU-hour
    decode_cost: np.ndarray
    speed: np.ndarray  # tokens/s/user of the decode row
    prices: Mapping[str, float] | None = None

    def figures(self, p: int, d: int, k: int, m: int) -> tuple[Fraction, Fraction, int, float]:
        """(capacity, cost, GPUs, user speed) of k workers of prefill row p and m of decode row d, exactly."""
        inst = self.instance
        cost_p, cost_d = worker_costs(inst, self.prices)
        cost = Fraction(float(cost_p[p])) * k + Fraction(float(cost_d[d])) * m
        gpus = int(inst.prefill.gpus[p]) * k + int(inst.decode.gpus[d]) * m
        return (pair_capacity(inst, self.kind, p, d, k, m), cost, gpus,
                float(inst.decode.tokens_per_s_per_user[d]))

    def __len__(self) -> int:
        return len(self.prefill_row)

    def worker_caps(self, load: float, max_gpus: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Most prefill and decode workers of each pair an optimum can use: more than a pair needs to
        serve the whole load alone is never cheaper (drop one: it still serves what it served or L).
        Also within the GPU cap and the per-pool limits."""
        inst = self.instance
        need = self.decode_rate if self.kind is LoadKind.RATE else self.decode_users
        nd = np.ceil(load / need * (1 + 1e-9))
        for lim in (max_gpus, inst.max_decode_gpus):
            if lim is not None:
                nd = np.minimum(nd, np.floor(lim / self.decode_gpus))
        fed = load if self.kind is LoadKind.RATE else nd * self.decode_rate
        npw = np.ceil(fed / self.prefill_rate * (1 + 1e-9))
        for lim in (max_gpus, inst.max_prefill_gpus):
            if lim is not None:
                npw = np.minimum(npw, np.floor(lim / self.prefill_gpus))
        return np.maximum(npw, 0.0), np.maximum(nd, 0.0)


def pair_capacity(inst: DisaggInstance, kind: LoadKind, p: int, d: int, k: int, m: int) -> Fraction:
    """What k prefill workers of row p and m decode workers of row d serve (module docstring), exactly."""
    pre = Fraction(float(inst.rho[p, d])) * Fraction(float(inst.prefill.requests_per_s[p])) * k
    mu = Fraction(float(inst.decode.requests_per_s[d]))
    if kind is LoadKind.RATE:
        return min(pre, mu * m)
    return Fraction(int(inst.decode.concurrency[d])) * min(m, floor(pre / mu))


def worker_costs(inst: DisaggInstance, prices: Mapping[str, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per prefill row and per decode row: what one worker costs (its GPUs without prices)."""
    gp, gd = inst.prefill.gpus.astype(float), inst.decode.gpus.astype(float)
    if prices is None:
        return gp, gd
    price_p = np.array([float(prices[s]) for s in inst.prefill_systems])
    price_d = np.array([float(prices[s]) for s in inst.decode_systems])
    return gp * price_p, gd * price_d


def _best_prefill(inst: DisaggInstance, decode_rows: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """Per prefill cost class: the prefill row feeding each decode row most (exactly; -1 where none
    feeds it at all). Returns the classes and a (classes x decode rows) matrix of rows."""
    c = inst.rho[:, decode_rows] * inst.prefill.requests_per_s[:, None]
    keys = list(zip(inst.prefill.gpus.tolist(), inst.prefill_systems.tolist()))
    classes = list(dict.fromkeys(keys))
    out = np.full((len(classes), len(decode_rows)), -1, np.int64)
    for q, cls in enumerate(classes):
        members = np.array([i for i, key in enumerate(keys) if key == cls])
        sub = c[members]
        top = sub.max(axis=0)
        near = sub >= top * (1 - 1e-12)
        out[q] = np.where(top > 0, members[np.argmax(sub, axis=0)], -1)
        for j in np.flatnonzero((top > 0) & (near.sum(axis=0) > 1)):  # float near-ties: decided exactly
            rows = members[near[:, j]]
            d = int(decode_rows[j])
            out[q, j] = max(rows, key=lambda p: (Fraction(float(inst.rho[p, d]))
                                                 * Fraction(float(inst.prefill.requests_per_s[p])), -p))
    return classes, out


def _undominated(keys: np.ndarray) -> np.ndarray:
    """Rows of `keys` (larger is better in every column) that no other row weakly beats; of identical
    rows the first is kept. In descending lexicographic order a row's dominators all come before it,
    so each row is compared with the kept ones only."""
    n = len(keys)
    order = np.lexsort((np.arange(n), *(-keys[:, c] for c in range(keys.shape[1] - 1, -1, -1))))
    front = np.empty_like(keys)
    size, keep = 0, np.zeros(n, bool)
    for i in order:
        if size and (front[:size] >= keys[i]).all(axis=1).any():
            continue
        front[size] = keys[i]
        size += 1
        keep[i] = True
    return keep


def sizing_pairs(inst: DisaggInstance, kind: LoadKind, prices: Mapping[str, float] | None = None,
                 speed_floor: float | None = None) -> SizingPairs:
    """The candidate pairs of `inst` after the module docstring's exact reductions. `speed_floor`: only
    decode rows faster than it, compared without their speed (the user-speed tie-break asks whether
    any plan above the floor keeps the levels above, which the other figures decide); None: all rows,
    their speed compared too."""
    D = inst.decode
    allowed = inst.decode_allowed & (D.requests_per_s > 0)
    if speed_floor is not None:
        allowed &= D.tokens_per_s_per_user > speed_floor
    cols = np.flatnonzero(allowed)
    classes, best = _best_prefill(inst, cols)
    rate = np.where(best >= 0, inst.rho[np.maximum(best, 0), cols[None, :]]
                    * inst.prefill.requests_per_s[np.maximum(best, 0)], 0.0)
    mu = D.requests_per_s[cols]
    mu_key = mu if kind is LoadKind.RATE else -mu
    users = D.concurrency[cols].astype(float) * (kind is LoadKind.CONCURRENCY)
    speed = D.tokens_per_s_per_user[cols] * (speed_floor is None)
    keys = np.column_stack([speed, mu_key, users, rate.T])
    dkeys = list(zip(D.gpus[cols].tolist(), inst.decode_systems[cols].tolist()))
    keep = np.zeros(len(cols), bool)
    for cls in dict.fromkeys(dkeys):
        members = np.array([j for j, key in enumerate(dkeys) if key == cls])
        keep[members[_undominated(keys[members])]] = True
    q, j = np.nonzero((best >= 0) & keep[None, :])
    p, d = best[q, j], cols[j]
    cost_p, cost_d = worker_costs(inst, prices)
    return SizingPairs(instance=inst, kind=kind, prefill_row=p, decode_row=d, prefill_rate=rate[q, j],
                       decode_rate=D.requests_per_s[d], decode_users=D.concurrency[d].astype(float),
                       prefill_gpus=inst.prefill.gpus[p].astype(float), decode_gpus=D.gpus[d].astype(float),
                       prefill_cost=cost_p[p], decode_cost=cost_d[d], speed=D.tokens_per_s_per_user[d],
                       prices=prices)


@dataclass(frozen=True)
class PairBlocks:
    """What the pairs add to the sizing formulation: terms of the shared rows and their own rows."""

    count: int
    gpus: list[tuple[str, np.ndarray]]
    cost: list[tuple[str, np.ndarray]]
    rows: list[Constraint]


def _row(name: str, group: ConstraintGroup, parts, lb, ub) -> Constraint:
    """A block from (var, row, index, coef) parts."""
    terms = tuple(Terms(v, r, i, c) for v, r, i, c in parts)
    return Constraint(name, terms, np.atleast_1d(np.asarray(lb, float)), np.atleast_1d(np.asarray(ub, float)), group)


def _all(var: str, coef: np.ndarray, row: int = 0):
    coef = np.asarray(coef, float)
    return var, np.full(len(coef), row), np.arange(len(coef)), coef


def _diag(var: str, coef: np.ndarray):
    coef = np.asarray(coef, float)
    return var, np.arange(len(coef)), np.arange(len(coef)), coef


def pair_columns(pairs: SizingPairs, load: float, max_gpus: int | None, variables: list) -> PairBlocks:
    """Append the pair variables to `variables` and return their rows (group names in brackets):

    * [rate_balance] rate: ``s <= sum c_j wp_j``, ``s <= sum mu_j wd_j``; concurrency: ``s <= sum conc_j
      wd_j`` and ``sum mu_j wd_j <= sum c_j wp_j`` (every decode worker fed at the TTFT cap);
    * [engine_choice] ``wp_j <= U z_j``, ``wd_j <= U z_j``, ``sum z <= 1``: one pair, so the sums above
      are that pair's figures;
    * [pool_gpus] ``sum g_p wp <= max_prefill_gpus``, ``sum g_d wd <= max_decode_gpus`` where set.
    """
    m = len(pairs)
    up, ud = pairs.worker_caps(load, max_gpus)
    variables += [Variable(WP, np.zeros(m), up, integer=True), Variable(WD, np.zeros(m), ud, integer=True),
                  Variable(Z, np.zeros(m), np.ones(m), integer=True), Variable(S, 0.0, np.inf)]
    one = (S, np.zeros(1), np.zeros(1), np.ones(1))
    if pairs.kind is LoadKind.RATE:
        balance = [_row("pair_prefill", _G.RATE_BALANCE, [one, _all(WP, -pairs.prefill_rate)], -np.inf, 0.0),
                   _row("pair_decode", _G.RATE_BALANCE, [one, _all(WD, -pairs.decode_rate)], -np.inf, 0.0)]
    else:
        balance = [_row("pair_users", _G.RATE_BALANCE, [one, _all(WD, -pairs.decode_users)], -np.inf, 0.0),
                   _row("pair_fed", _G.RATE_BALANCE, [_all(WD, pairs.decode_rate), _all(WP, -pairs.prefill_rate)],
                        -np.inf, 0.0)]
    rows = balance + [
        _row("pair_prefill_used", _G.ENGINE_CHOICE, [_diag(WP, np.ones(m)), _diag(Z, -up)], np.full(m, -np.inf),
             np.zeros(m)),
        _row("pair_decode_used", _G.ENGINE_CHOICE, [_diag(WD, np.ones(m)), _diag(Z, -ud)], np.full(m, -np.inf),
             np.zeros(m)),
        _row("one_pair", _G.ENGINE_CHOICE, [_all(Z, np.ones(m))], -np.inf, 1.0)]
    inst = pairs.instance
    for name, var, gpus, limit in (("prefill_gpus", WP, pairs.prefill_gpus, inst.max_prefill_gpus),
                                   ("decode_gpus", WD, pairs.decode_gpus, inst.max_decode_gpus)):
        if limit is not None:
            rows.append(_row(name, _G.POOL_GPUS, [_all(var, gpus)], -np.inf, float(limit)))
    return PairBlocks(m, gpus=[(WP, pairs.prefill_gpus), (WD, pairs.decode_gpus)],
                      cost=[(WP, pairs.prefill_cost), (WD, pairs.decode_cost)], rows=rows)


def take(pairs: SizingPairs, idx: np.ndarray) -> SizingPairs:
    """The pairs `idx` only."""
    arrays = {f: getattr(pairs, f)[idx] for f in ("prefill_row", "decode_row", "prefill_rate", "decode_rate",
                                                  "decode_users", "prefill_gpus", "decode_gpus", "prefill_cost",
                                                  "decode_cost", "speed")}
    return SizingPairs(instance=pairs.instance, kind=pairs.kind, prices=pairs.prices, **arrays)


def alone_costs(pairs: SizingPairs, load: float, max_gpus: int | None) -> np.ndarray:
    """Per pair: the cost of serving the whole load with it alone (inf where the limits forbid it). The
    counts are rounded up with a margin, so each is an upper bound on what that pair needs."""
    if pairs.kind is LoadKind.RATE:
        m = np.ceil(load / pairs.decode_rate * (1 + 1e-9))
        k = np.ceil(load / pairs.prefill_rate * (1 + 1e-9))
    else:
        m = np.ceil(load / pairs.decode_users * (1 + 1e-9))
        k = np.ceil(m * pairs.decode_rate / pairs.prefill_rate * (1 + 1e-9))
    ok = _within(pairs, k, m, max_gpus)
    return np.where(ok, k * pairs.prefill_cost + m * pairs.decode_cost, np.inf)


def _within(pairs: SizingPairs, k, m, max_gpus) -> np.ndarray:
    inst, gp, gd = pairs.instance, k * pairs.prefill_gpus, m * pairs.decode_gpus
    ok = np.ones(np.broadcast(gp, gd).shape, bool)
    if max_gpus is not None:
        ok &= gp + gd <= max_gpus
    if inst.max_prefill_gpus is not None:
        ok &= gp <= inst.max_prefill_gpus
    if inst.max_decode_gpus is not None:
        ok &= gd <= inst.max_decode_gpus
    return ok


def lower_bounds(pairs: SizingPairs, load: float, max_gpus: int | None, per_unit: float) -> np.ndarray:
    """Per pair: a lower bound on the cost of any plan that uses it, when replicas cost at least
    `per_unit` per unit of capacity (inf: no replicas). For each worker count the cheapest partner
    count is at an end of the linear pieces of ``cost + per_unit * (load - pair capacity)+``."""
    up, ud = pairs.worker_caps(load, max_gpus)
    best = np.full(len(pairs), np.inf)
    rate = pairs.kind is LoadKind.RATE
    lead = up if rate else ud
    for n in range(1, int(lead.max(initial=0)) + 1):
        if rate:
            k, t = np.full(len(pairs), float(n)), np.minimum(n * pairs.prefill_rate, load)
            ms = [np.ones(len(pairs)), np.maximum(np.floor(t / pairs.decode_rate), 1), np.ceil(t / pairs.decode_rate)]
        else:
            m0 = np.full(len(pairs), float(n))
            ms = [m0]
            k = np.maximum(np.ceil(m0 * pairs.decode_rate / pairs.prefill_rate * (1 - 1e-9)), 1)
        for m in ms:
            m = np.minimum(m, ud)
            cap = np.minimum(k * pairs.prefill_rate, m * pairs.decode_rate) if rate else m * pairs.decode_users
            short = np.maximum(load - cap, 0.0)
            rest = np.where(short > 0, short * per_unit, 0.0) if np.isfinite(per_unit) else np.where(
                short > load * 1e-9, np.inf, 0.0)
            cost = k * pairs.prefill_cost + m * pairs.decode_cost + rest
            ok = (k <= up) & (m >= 1) & _within(pairs, k, m, max_gpus)
            best = np.where(ok, np.minimum(best, cost), best)
    return best


def pruned(pairs: SizingPairs, load: float, max_gpus: int | None, upper: float, per_unit: float) -> SizingPairs:
    """The pairs some plan costing at most `upper` (a plan's cost, so the optimum's at most) may use:
    every level of the lexicographic order keeps the optimal cost, so the others never matter."""
    lb = lower_bounds(pairs, load, max_gpus, per_unit)
    return take(pairs, np.flatnonzero(lb <= upper * (1 + 1e-9) + 1e-12))
