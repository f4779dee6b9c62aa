"""Best disaggregated plan and exact Pareto front, over the MILP of solver/problems/disagg.py.

Best plan, lexicographic: (1) most tokens/s/GPU (over the GPUs of both pools), (2) most tokens/s,
(3) highest tokens/s/user. Level 1 is Dinkelbach's method (`_max_ratio`); level 2 re-solves a model
with the row ``osl r - lam* G >= -tol`` and maximizes r; level 3 raises the decode user-speed floor
while tokens/s/GPU and tokens/s stay at their optima. Every candidate is re-evaluated exactly
(`DisaggDeployment.from_counts`, Fractions) and accepted only when it is at least as good on the
levels above, so solver tolerances on the floor rows never make the answer worse.

Front: the ε-constraint method of solver/pareto.py with tokens/s/GPU in place of tokens/s: at each
floor, max tokens/s/GPU with every used decode row faster than the floor; the next floor excludes
every decode row at most as fast as the point; a point whose successor reaches at least its
tokens/s/GPU (exact Fractions) is weakly dominated and dropped. Exact for the same reasons.
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


def _max_ratio(backend: SolverBackend, problem: DisaggProblem) -> DisaggDeployment | None:
    """Dinkelbach: max osl r - lam G, lam := the optimum's exact ratio, until nothing beats lam."""
    best, lam = None, 0.0
    while True:
        backend.set_objective(problem.dinkelbach_objective(lam), Sense.MAXIMIZE)
        cand = problem.solve(backend)
        if cand is None or (best is not None and cand.ratio_exact <= best.ratio_exact):
            return best
        best, lam = cand, float(cand.ratio_exact)


def _speed_bounds(problem: DisaggProblem, floor: float | None) -> np.ndarray:
    speed = problem.instance.decode.tokens_per_s_per_user
    return np.full(len(speed), np.inf) if floor is None else np.where(speed > floor, np.inf, 0.0)


def _most_tokens(inst: DisaggInstance, best: DisaggDeployment, backend_name: str
                 ) -> tuple[DisaggDeployment, SolverBackend, DisaggProblem]:
    """Level 2: max tokens/s with tokens/s/GPU at its optimum (`best`'s)."""
    lam = float(best.ratio_exact)
    tol = -_REL_TOL * best.tokens_per_s
    problem = build_disagg_problem(inst, ratio=lam, ratio_lb=tol)
    backend = backend_for(backend_name)(problem.formulation)
    backend.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    cand = problem.solve(backend)
    if cand is not None and cand.ratio_exact >= best.ratio_exact and cand.rate_exact > best.rate_exact:
        best = cand
    return best, backend, problem


def _fastest_users(backend: SolverBackend, problem: DisaggProblem, best: DisaggDeployment) -> DisaggDeployment:
    """Level 3: raise the decode speed floor while levels 1 and 2 keep their optima."""
    backend.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, best.tokens_per_s * (1 - _REL_TOL), np.inf)
    while True:
        backend.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0,
                               _speed_bounds(problem, best.tokens_per_s_per_user))
        cand = problem.solve(backend)
        if (cand is None or cand.ratio_exact < best.ratio_exact or cand.rate_exact < best.rate_exact
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


def disagg_best(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND, reduce: bool = True
                ) -> DisaggDeployment | None:
    """The lexicographically best disaggregated deployment (module docstring), or None. `reduce`
    solves the exactly reduced instance (solver/disagg_reduction.py); the answer is over `inst`."""
    known_backend(backend)
    work, back = _reduced(inst, reduce)
    problem = build_disagg_problem(work)
    best = _max_ratio(backend_for(backend)(problem.formulation), problem)
    if best is None:
        return None
    best, model, problem2 = _most_tokens(work, best, backend)
    return back(_fastest_users(model, problem2, best))


def disagg_front(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND, reduce: bool = True
                 ) -> list[DisaggDeployment]:
    """Non-dominated (tokens/s/user, tokens/s/GPU) deployments, by tokens/s/user ascending."""
    known_backend(backend)
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
        point = _max_ratio(model, problem)
        if point is None:
            return front
        if front and point.ratio_exact >= front[-1].ratio_exact:
            front.pop()  # as good per GPU at a higher user speed: the previous point is dominated
        front.append(point)
        floor = point.tokens_per_s_per_user


def disagg_plan(inst: DisaggInstance, dep: DisaggDeployment) -> Plan:
    """Invert a DisaggDeployment into a typed Plan: prefill groups (role prefill), then decode groups.
    Both pools' workers schedule in flight, so their `mode` is agg; `role` says what they do."""
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
                mode=ServingMode.AGG, role=role, pool=pool, count=count, concurrency=int(conc[row]),
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


def disagg_best_plan(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND) -> Plan | None:
    best = disagg_best(inst, backend=backend)
    return None if best is None else disagg_plan(inst, best)


def disagg_front_plans(inst: DisaggInstance, *, backend: str = DEFAULT_BACKEND) -> list[Plan]:
    return [disagg_plan(inst, d) for d in disagg_front(inst, backend=backend)]
