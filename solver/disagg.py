"""Best disaggregated plan and exact Pareto front, over the MILP of solver/problems/disagg.py.

tokens/s/GPU has one convention across modes: served output tokens/s over the request's GPU budget
N (total_gpus), as the aggregated planner's (solver/best.py); `gpus_used` is reported beside it.
With N fixed the objective is linear (osl r), so no fractional programming is needed.

Best plan, lexicographic: (1) most tokens/s within the budget, (2) fewest GPUs used, (3) highest
tokens/s/user. Level 1 maximizes osl r; level 2 keeps ``osl r >= T*`` (row `throughput_floor`) and
minimizes the GPUs of both pools; level 3 caps the GPUs at G* (row `gpu_budget`) and raises the
decode user-speed floor until nothing better is feasible. Every candidate is re-evaluated exactly
(`DisaggDeployment.from_counts`, Fractions) and accepted only when it is at least as good on the
levels above, so solver tolerances on the floor rows never make the answer worse.

Front: the ε-constraint method of solver/pareto.py over (tokens/s/user, tokens/s): at each floor,
max tokens/s with every used decode row faster than the floor; the next floor excludes every decode
row at most as fast as the point; a point whose successor reaches at least its tokens/s (exact
Fractions) is weakly dominated and dropped. Exact for the same reasons as pareto.py.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.enums import Role, ServingMode, Tier

from .backends import DEFAULT_BACKEND, SolverBackend, backend_for, known_backend
from .disagg_deployment import DisaggDeployment
from .disagg_reduction import reduce_instance
from .disagg_tables import DisaggInstance
from .formulation import Sense
from .groups import ConstraintGroup
from .plan import Plan, PlanGroup, PlanMetrics
from .problems.disagg import DisaggProblem, build_disagg_problem

_REL_TOL = 1e-9


def _max_tokens(backend: SolverBackend, problem: DisaggProblem) -> DisaggDeployment | None:
    """Level 1 (and each ε-step): the most tokens/s the model's current bounds allow."""
    backend.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    return problem.solve(backend)


def _speed_bounds(problem: DisaggProblem, floor: float | None) -> np.ndarray:
    speed = problem.instance.decode.tokens_per_s_per_user
    return np.full(len(speed), np.inf) if floor is None else np.where(speed > floor, np.inf, 0.0)


def _fewest_gpus(backend: SolverBackend, problem: DisaggProblem, best: DisaggDeployment) -> DisaggDeployment:
    """Level 2: fewest GPUs with tokens/s at its optimum (`best`'s)."""
    backend.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, best.tokens_per_s * (1 - _REL_TOL), np.inf)
    backend.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
    cand = problem.solve(backend)
    if cand is not None and cand.tokens_exact >= best.tokens_exact and cand.gpus_used < best.gpus_used:
        return cand
    return best


def _fastest_users(backend: SolverBackend, problem: DisaggProblem, best: DisaggDeployment) -> DisaggDeployment:
    """Level 3: raise the decode speed floor while levels 1 and 2 keep their optima."""
    backend.set_row_bounds(ConstraintGroup.GPU_BUDGET, -np.inf, float(best.gpus_used))
    backend.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    while True:
        backend.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0,
                               _speed_bounds(problem, best.tokens_per_s_per_user))
        cand = problem.solve(backend)
        if (cand is None or cand.tokens_exact < best.tokens_exact or cand.gpus_used > best.gpus_used
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best
        best = cand


def _reduced(inst: DisaggInstance, reduce: bool):
    """(instance to solve, map of its deployments back to `inst`)."""
    if not reduce:
        return inst, lambda d: d
    sub, p_rows, d_rows = reduce_instance(inst)

    def back(d: DisaggDeployment) -> DisaggDeployment:
        return DisaggDeployment.from_counts(inst, {int(p_rows[r]): c for r, c in d.prefill},
                                            {int(d_rows[r]): c for r, c in d.decode})
    return sub, back


METHODS = ("auto", "milp", "pairs")


def _pairs(inst: DisaggInstance, method: str) -> bool:
    """Whether to solve by pair enumeration (solver/disagg_pairs.py): `auto` does without mixed pools."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "pairs" and inst.mixed_pools:
        raise ValueError("pair enumeration solves one engine type per pool only (mixed_pools is set)")
    return method == "pairs" or (method == "auto" and not inst.mixed_pools)


def disagg_best(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND, reduce: bool = True,
                method: str = "auto") -> DisaggDeployment | None:
    """The lexicographically best disaggregated deployment (module docstring), or None. `method`: the
    MILP (`milp`), the exact pair enumeration (`pairs`, one engine per pool), or `auto` (pairs unless
    mixed pools). `reduce` solves the MILP on the exactly reduced instance (solver/disagg_reduction.py);
    the answer is over `inst` either way."""
    known_backend(backend)
    if _pairs(inst, method):
        from .disagg_pairs import pairs_best

        return pairs_best(inst)
    work, back = _reduced(inst, reduce)
    problem = build_disagg_problem(work)
    model = backend_for(backend)(problem.formulation)
    best = _max_tokens(model, problem)
    if best is None:
        return None
    best = _fewest_gpus(model, problem, best)
    return back(_fastest_users(model, problem, best))


def disagg_front(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND, reduce: bool = True,
                 method: str = "auto") -> list[DisaggDeployment]:
    """Non-dominated (tokens/s/user, tokens/s) deployments, by tokens/s/user ascending (`method` and
    `reduce` as for `disagg_best`)."""
    known_backend(backend)
    if _pairs(inst, method):
        from .disagg_pairs import pairs_front

        return pairs_front(inst)
    work, back = _reduced(inst, reduce)
    return [back(d) for d in _trace(work, backend)]


def _trace(inst: DisaggInstance, backend: str) -> list[DisaggDeployment]:
    """The ε-constraint loop of the module docstring on `inst` as given."""
    problem = build_disagg_problem(inst)
    model = backend_for(backend)(problem.formulation)
    front: list[DisaggDeployment] = []
    floor = None
    while True:
        model.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0, _speed_bounds(problem, floor))
        point = _max_tokens(model, problem)
        if point is None:
            return front
        if front and point.tokens_exact >= front[-1].tokens_exact:
            front.pop()  # as good per GPU at a higher user speed: the previous point is dominated
        front.append(point)
        floor = point.tokens_per_s_per_user


def disagg_plan(inst: DisaggInstance, dep: DisaggDeployment) -> Plan:
    """Invert a DisaggDeployment into a typed Plan: prefill groups (role prefill), then decode groups.
    Every group's `mode` is disagg; `role` says what its workers do."""
    from sloplan.model.ops import Op

    classes = inst.gpu_classes
    groups = []
    for role, table, items, conc in ((Role.PREFILL, inst.prefill, dep.prefill, inst.prefill.batch),
                                     (Role.DECODE, inst.decode, dep.decode, inst.decode.concurrency)):
        for row, count in items:
            pool = table.pools[int(table.pool[row])]
            by_class = tuple(int(table.gpus[row]) if c == pool.system else 0 for c in classes)
            groups.append(PlanGroup(
                row=row, slot=table.slots[int(table.engine_index[row])] if table.slots else None,
                mode=ServingMode.DISAGG, role=role, pool=pool, count=count, concurrency=int(conc[row]),
                gpus_per_replica=int(table.gpus[row]), gpus_by_class=by_class,
                tokens_per_s=float(table.requests_per_s[row]) * inst.osl,
                requests_per_s=float(table.requests_per_s[row]), tier=Tier(int(table.tier[row])),
                tier_source=Op(int(table.source[row]))))
    weakest = max(groups, key=lambda g: g.tier)  # first of the least trusted
    used = [sum(g.gpus_by_class[j] * g.count for g in groups) for j in range(len(classes))]
    metrics = PlanMetrics(
        tokens_per_s=dep.tokens_per_s, tokens_per_s_per_gpu=dep.tokens_per_s_per_gpu,
        tokens_per_s_per_user=dep.tokens_per_s_per_user, requests_per_s=dep.requests_per_s, ttft_s=dep.ttft_s,
        tpot_s=dep.tpot_s, request_latency_s=dep.request_latency_s, gpus_used=dep.gpus_used,
        total_gpus=dep.total_gpus)
    return Plan(groups=tuple(groups), metrics=metrics, tier=weakest.tier,
                tier_source=weakest.tier_source if weakest.tier >= Tier.EXTRAPOLATED else None,
                gpus_by_class=tuple(zip(classes, used)), deployment=dep)


def disagg_plans(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND) -> tuple[Plan | None, list[Plan]]:
    """The best plan and the front's plans together (one enumeration of candidates without mixed pools)."""
    if inst.mixed_pools:
        return disagg_best_plan(inst, backend=backend), disagg_front_plans(inst, backend=backend)
    from .disagg_pairs import candidates, pairs_best, pairs_front

    found = candidates(inst)
    best = pairs_best(inst, found)
    return (None if best is None else disagg_plan(inst, best)), [disagg_plan(inst, d) for d in pairs_front(inst, found)]


def disagg_best_plan(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND) -> Plan | None:
    best = disagg_best(inst, backend=backend)
    return None if best is None else disagg_plan(inst, best)


def disagg_front_plans(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND) -> list[Plan]:
    return [disagg_plan(inst, d) for d in disagg_front(inst, backend=backend)]
