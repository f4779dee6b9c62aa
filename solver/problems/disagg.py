"""The disaggregated problem: integer prefill and decode worker counts, jointly, as one exact MILP.

Given a `DisaggInstance` (solver/disagg_tables.py: a prefill table, a decode table, the KV link, the
budgets and the SLO), with mu = requests/s one worker sustains, g = GPUs per worker, and rho[p, d]
the planned-utilisation cap of the pair (the M/D/1 model of disagg_tables.py):

Variables
    np[p] in {0..cap_p}, nd[d] in {0..cap_d}   workers of each prefill / decode row (integer)
    yd[d] in {0, 1}                             decode row d is used (TTFT pairs, engine choice)
    yp[p] in {0, 1}                             prefill row p is used (one engine per pool only)
    x[p] >= 0                                   requests/s routed to prefill row p
    r >= 0                                      requests/s served

Constraint groups (`ConstraintGroup`; block names in brackets)
    rate_balance  [rate_prefill]      r <= sum_p x_p
                  [rate_decode]       r <= sum_d mu_d nd_d
                  [prefill_capacity]  x_p <= max_utilisation mu_p np_p
    slo_ttft      [ttft_base]         x_p <= rhomax_p mu_p np_p,   rhomax_p = max_d rho[p, d]  (where < max_utilisation)
                  [ttft_pair]         x_p <= rho[p,d] mu_p np_p + M_pd (1 - yd_d)   where rho[p,d] < rhomax_p,
                                      M_pd = (rhomax_p - rho[p,d]) mu_p cap_p (inactive when d is unused)
                  [decode_used]       nd_d <= cap_d yd_d
    slo_tpot      [slo_tpot]          nd_d <= 0 for decode rows above the TPOT limit
    memory        [memory]            nd_d <= 0 where concurrency_d > kv_capacity_d
    gpu_budget    [gpu_budget]        sum g_p np_p + sum g_d nd_d <= N
    pool_gpus     [prefill_gpus] / [decode_gpus] / [class_gpus]: each role's GPUs, and each system's
    engine_choice [prefill_link] np_p <= cap_p yp_p, [decode_link] nd_d <= cap_d yd_d,
                  [one_prefill] sum yp <= 1, [one_decode] sum yd <= 1   (absent with mixed_pools)
    user_speed_floor [user_speed_floor] nd_d <= U_d (the Pareto tracer closes slow decode rows)
    throughput_floor [throughput_floor] osl r >= T (tie-breaks; inactive at -inf)

The slo_ttft group holds the TTFT (and request-latency) budget's rows only: without them the model is
that of the same instance with those SLOs unset (the planned-utilisation cap stays in rate_balance).

Objective. Most tokens/s within the budget, osl r (linear: tokens/s/GPU divides it by the fixed
budget N); the tie-breaks (fewest GPUs ``sum g_p np_p + sum g_d nd_d``, then user speed) re-solve the
same model with floor rows moved (solver/disagg.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.base import EXACT, BackendResult, SolveOptions, SolverBackend, has_plan, solve_within_limits
from ..disagg_deployment import DisaggDeployment
from ..disagg_tables import DisaggInstance
from ..formulation import Constraint, Formulation, Sense, Terms, Variable
from ..groups import ConstraintGroup

_G = ConstraintGroup
NP, ND, YP, YD, X, R = "np", "nd", "yp", "yd", "x", "r"


def _row(name: str, parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], lb, ub, group,
         labels=None) -> Constraint:
    """A block from (var, row, index, coef) parts."""
    terms = tuple(Terms(v, r, i, c) for v, r, i, c in parts)
    return Constraint(name, terms, np.asarray(lb, float), np.asarray(ub, float), group, labels)


def _one(var: str, coef) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """All elements of `var` (nonzero coefficients) in a single row."""
    coef = np.atleast_1d(np.asarray(coef, float))
    idx = np.flatnonzero(coef)
    return var, np.zeros(len(idx), int), idx, coef[idx]


def _diag(var: str, coef, index=None) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Element index[i] of `var` in row i."""
    coef = np.atleast_1d(np.asarray(coef, float))
    index = np.arange(len(coef)) if index is None else np.asarray(index)
    return var, np.arange(len(coef)), index, coef


@dataclass(frozen=True, eq=False)
class DisaggProblem:
    """A Formulation of the module docstring plus what inverts its solutions."""

    instance: DisaggInstance
    formulation: Formulation

    def gpu_objective(self) -> dict[str, np.ndarray]:
        """GPUs of both pools (minimized by the second tie-break)."""
        inst = self.instance
        return {NP: inst.prefill.gpus.astype(float), ND: inst.decode.gpus.astype(float)}

    def rate_objective(self) -> dict[str, np.ndarray]:
        return {R: np.array([float(self.instance.osl)])}

    def solve(self, backend: SolverBackend, options: SolveOptions = EXACT) -> DisaggDeployment | None:
        """The Deployment of the optimum; None when infeasible or when it serves nothing."""
        result = backend.solve(options)
        if not result.proved_optimal():
            return None
        return self.deployment(backend, result)

    def solve_within(self, backend: SolverBackend, options: SolveOptions
                     ) -> tuple[DisaggDeployment | None, BackendResult]:
        """Like `solve`, but a limit is an answer too: the incumbent's deployment (or None) and the result
        saying which limit stopped it and with what gap. SolverError only on a solver error."""
        result = solve_within_limits(backend, options)
        return (self.deployment(backend, result) if has_plan(result) else None), result

    def deployment(self, backend: SolverBackend, result: BackendResult) -> DisaggDeployment | None:
        """The solution's worker counts, re-evaluated exactly; None when it serves nothing."""
        n_p = np.rint(backend.values(NP, result)).astype(np.int64)
        n_d = np.rint(backend.values(ND, result)).astype(np.int64)
        if not n_p.any() or not n_d.any():
            return None
        dep = DisaggDeployment.from_counts(
            self.instance, {int(i): int(n_p[i]) for i in np.flatnonzero(n_p)},
            {int(i): int(n_d[i]) for i in np.flatnonzero(n_d)})
        return dep if dep.rate_exact > 0 else None


def _variables(inst: DisaggInstance) -> tuple[Variable, ...]:
    cp, cd = inst.prefill_cap(), inst.decode_cap()
    k, m = len(cp), len(cd)
    out = [Variable(NP, np.zeros(k), cp.astype(float), integer=True),
           Variable(ND, np.zeros(m), cd.astype(float), integer=True),
           Variable(YD, np.zeros(m), np.ones(m), integer=True)]
    if not inst.mixed_pools:
        out.append(Variable(YP, np.zeros(k), np.ones(k), integer=True))
    out += [Variable(X, np.zeros(k), np.full(k, np.inf)), Variable(R, 0.0, np.inf)]
    return tuple(out)


def _rate_rows(inst: DisaggInstance) -> list[Constraint]:
    k, mu_p, mu_d = len(inst.prefill), inst.prefill.requests_per_s, inst.decode.requests_per_s
    return [_row("rate_prefill", [_one(R, 1.0), _one(X, -np.ones(k))], -np.inf, 0.0, _G.RATE_BALANCE),
            _row("rate_decode", [_one(R, 1.0), _one(ND, -mu_d)], -np.inf, 0.0, _G.RATE_BALANCE),
            _row("prefill_capacity", [_diag(X, np.ones(k)), _diag(NP, -inst.max_utilisation * mu_p)],
                 np.full(k, -np.inf), np.zeros(k), _G.RATE_BALANCE)]


def _ttft_rows(inst: DisaggInstance) -> list[Constraint]:
    m = len(inst.decode)
    mu_p, cp, cd = inst.prefill.requests_per_s, inst.prefill_cap(), inst.decode_cap()
    rho = inst.rho  # over every decode row, so these rows stay right when the exclusion groups are relaxed
    rhomax = rho.max(axis=1)
    tight = np.flatnonzero(rhomax < inst.max_utilisation)  # elsewhere prefill_capacity says as much
    rows = [_row("ttft_base", [_diag(X, np.ones(len(tight)), tight), _diag(NP, -rhomax[tight] * mu_p[tight], tight)],
                 np.full(len(tight), -np.inf), np.zeros(len(tight)), _G.SLO_TTFT, labels=tight)]
    p, d = np.nonzero(rho < rhomax[:, None])
    if len(p):
        big = (rhomax[p] - rho[p, d]) * mu_p[p] * cp[p]
        rows.append(_row("ttft_pair", [_diag(X, np.ones(len(p)), p), _diag(NP, -rho[p, d] * mu_p[p], p),
                                       _diag(YD, big, d)], np.full(len(p), -np.inf), big, _G.SLO_TTFT,
                         labels=p * m + d))
    rows.append(_row("decode_used", [_diag(ND, np.ones(m)), _diag(YD, -cd.astype(float))],
                     np.full(m, -np.inf), np.zeros(m), _G.SLO_TTFT))
    return rows


def _exclusion_rows(inst: DisaggInstance) -> list[Constraint]:
    out = []
    for name, ok, group in (("slo_tpot", inst.decode_tpot_ok, _G.SLO_TPOT),
                            ("memory", inst.decode_memory_ok, _G.MEMORY)):
        bad = np.flatnonzero(~ok)
        if len(bad):
            out.append(Constraint.singletons(name, ND, bad, 0.0, 0.0, group))
    return out


def _gpu_rows(inst: DisaggInstance) -> list[Constraint]:
    gp, gd = inst.prefill.gpus.astype(float), inst.decode.gpus.astype(float)
    out = [_row("gpu_budget", [_one(NP, gp), _one(ND, gd)], -np.inf, float(inst.total_gpus), _G.GPU_BUDGET)]
    if inst.max_prefill_gpus is not None:
        out.append(_row("prefill_gpus", [_one(NP, gp)], -np.inf, float(inst.max_prefill_gpus), _G.POOL_GPUS))
    if inst.max_decode_gpus is not None:
        out.append(_row("decode_gpus", [_one(ND, gd)], -np.inf, float(inst.max_decode_gpus), _G.POOL_GPUS))
    if inst.gpus_by_class:
        classes = [c for c in inst.gpu_classes if c in inst.gpus_by_class]
        sys_p = np.array([inst.prefill_system(i) for i in range(len(gp))])
        sys_d = np.array([inst.decode_system(i) for i in range(len(gd))])
        parts, ub = [], []
        for j, c in enumerate(classes):
            cp_, cd_ = np.where(sys_p == c, gp, 0.0), np.where(sys_d == c, gd, 0.0)
            for var, coef in ((NP, cp_), (ND, cd_)):
                v, r, i, co = _one(var, coef)
                parts.append((v, r + j, i, co))
            ub.append(float(inst.gpus_by_class[c]))
        out.append(_row("class_gpus", parts, np.full(len(ub), -np.inf), np.array(ub), _G.POOL_GPUS,
                        labels=np.arange(len(ub))))
    return out


def _choice_rows(inst: DisaggInstance) -> list[Constraint]:
    if inst.mixed_pools:
        return []
    cp, cd = inst.prefill_cap().astype(float), inst.decode_cap().astype(float)
    k, m = len(cp), len(cd)
    return [_row("prefill_link", [_diag(NP, np.ones(k)), _diag(YP, -cp)], np.full(k, -np.inf), np.zeros(k),
                 _G.ENGINE_CHOICE),
            _row("decode_link", [_diag(ND, np.ones(m)), _diag(YD, -cd)], np.full(m, -np.inf), np.zeros(m),
                 _G.ENGINE_CHOICE),
            _row("one_prefill", [_one(YP, np.ones(k))], -np.inf, 1.0, _G.ENGINE_CHOICE),
            _row("one_decode", [_one(YD, np.ones(m))], -np.inf, 1.0, _G.ENGINE_CHOICE)]


def _floor_rows(inst: DisaggInstance) -> list[Constraint]:
    m = len(inst.decode)
    return [Constraint.singletons(_G.USER_SPEED_FLOOR.value, ND, np.arange(m), 0.0, np.inf, _G.USER_SPEED_FLOOR),
            _row(_G.THROUGHPUT_FLOOR.value, [_one(R, float(inst.osl))], -np.inf, np.inf, _G.THROUGHPUT_FLOOR)]


def pair_rate_bound(inst: DisaggInstance) -> np.ndarray:
    """Per decode row d, the most requests/s any one-engine-per-pool plan using d can serve: the best
    over prefill rows p and worker counts k of ``min(rho[p, d] mu_p k, mu_d nd_max(k))``, nd_max(k)
    the decode workers every budget and limit leaves (solver/disagg_pairs.py, same arithmetic)."""
    from ..disagg_pairs import _decode_room

    rows, cols = np.arange(len(inst.prefill)), np.arange(len(inst.decode))
    rate_p = inst.rho * inst.prefill.requests_per_s[:, None]
    cap_p, best = inst.prefill_cap(), np.zeros(len(cols))
    for k in range(1, int(cap_p.max(initial=0)) + 1):
        room = _decode_room(inst, rows, cols, k)
        served = np.minimum(rate_p * k, inst.decode.requests_per_s[None, :] * room)
        best = np.maximum(best, np.where((cap_p >= k)[:, None], served, 0.0).max(axis=0))
    return best


def _pair_bound_rows(inst: DisaggInstance) -> list[Constraint]:
    """[pair_bound] r <= sum_d B_d yd_d (one engine per pool only; B from `pair_rate_bound`, widened by
    a relative 1e-9 so float rounding never cuts a plan). Valid for every plan, so the optimum is the
    same; it makes the LP bound that of the best pair, which is what makes branch-and-bound fast."""
    bound = pair_rate_bound(inst) * (1 + 1e-9)
    return [_row("pair_bound", [_one(R, 1.0), _one(YD, -bound)], -np.inf, 0.0, _G.RATE_BALANCE)]


def build_disagg_problem(inst: DisaggInstance, pair_bound: bool = False) -> DisaggProblem:
    """Formulate the module docstring's MILP; `pair_bound` adds the valid [pair_bound] row (one engine
    per pool only) that the solve drivers use and the certificates, which relax groups, do not."""
    if len(inst.prefill) == 0 or len(inst.decode) == 0:
        raise ValueError("a disaggregated problem needs prefill and decode options")
    rows = (_rate_rows(inst) + _ttft_rows(inst) + _exclusion_rows(inst) + _gpu_rows(inst)
            + _choice_rows(inst) + _floor_rows(inst))
    if pair_bound and not inst.mixed_pools:
        rows += _pair_bound_rows(inst)
    variables = _variables(inst)
    objective = {R: np.array([float(inst.osl)])}
    return DisaggProblem(inst, Formulation(variables, tuple(rows), objective, Sense.MAXIMIZE))
