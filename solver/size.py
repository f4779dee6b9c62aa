"""Exact sizing: the fewest GPUs (or, with prices, the lowest cost per hour) that serve a target load.

The target is a request rate (requests/s, open loop) or a number of concurrent users (closed loop).
One integer program over every SLO-meeting option of the table (solver/problems/sizing.py) and, with
a disaggregated instance, one prefill/decode pool pair with integer worker counts beside or instead of
the replicas (solver/problems/sizing_pairs.py), mixing wherever that is cheaper: not a doubling
search over GPU counts and not ``ceil(load / capacity)`` copies of one candidate (which is what a
per-candidate sizing does, and which overshoots whenever a mix tiles the load better).

Lexicographic order, each level its own solve on one backend model (weights with fudge factors could
change the optimum of the level above; with pool pairs the last level rebuilds the model per
user-speed floor, problems/sizing_pairs.py reducing the pairs per floor):

1. minimize cost (GPUs without prices) s.t. load, SLOs, GPU cap             -> C*
2. with prices only: minimize GPUs s.t. cost <= C*   (row `cost_budget`)     -> G*
3. maximize the served capacity (the most spare rate, or spare concurrency) s.t. cost <= C*,
   GPUs <= G* (row `gpu_budget`)                                              -> K*
4. with capacity >= K* (row `load_target`), raise the user-speed floor above the incumbent's speed
   until infeasible (row `user_speed_floor`): the last plan has the highest tokens/s/user.

Every candidate is re-evaluated exactly (`problems.sizing.sizing_of`: sums rounded once, exactly) and
accepted only if it serves the load exactly and is no worse on the levels above, so solver tolerances
on the rows can never make the answer worse than the level-1 optimum. A load row met only within
the solver's tolerance raises its bound by the shortfall and solves again.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import LoadKind
from sloplan.model.option_table import OptionTable

from .backends import DEFAULT_BACKEND, SolverError, SolveStatus, backend_for, known_backend
from .disagg_tables import DisaggInstance
from .formulation import Sense
from .groups import ConstraintGroup
from .limits import NO_LIMIT, PROVED, Deadline, Outcome
from .plan import Plan
from .problems.sizing import Sizing, SizingProblem, build_sizing_problem, serves
from .slo import Slo

_G = ConstraintGroup
_NUDGES = 8  # tolerance retries of one solve (each at least doubles the bound's margin)


@dataclass(frozen=True)
class LoadTarget:
    """What the deployment must serve: `value` requests/s (RATE) or concurrent requests (CONCURRENCY)."""

    kind: LoadKind
    value: float

    def __post_init__(self) -> None:
        if not (self.value > 0 and np.isfinite(self.value)):
            raise ValueError(f"LoadTarget.value must be a finite number > 0, got {self.value!r}")

    def capacity(self, table: OptionTable) -> np.ndarray:
        """What one replica of each row serves in this target's unit, at the row's operating point."""
        if self.kind is LoadKind.RATE:
            return table.requests_per_s.astype(float)
        return table.concurrency.astype(float)


@dataclass(frozen=True)
class SizePlan:
    """A sizing answer with its typed Plans (tokens/s/GPU over the GPUs each uses): `plan` the whole
    fleet, `replica` its static/agg replicas and `disagg` its pool pair (None where it has none), and
    `instance` the disaggregated instance the pair's Plan is over (its budget: the pair's GPUs)."""

    sizing: Sizing
    plan: Plan
    replica: Plan | None = None
    disagg: Plan | None = None
    instance: DisaggInstance | None = None


def row_costs(table: OptionTable, price_per_gpu_hour: Mapping[str, float] | None) -> np.ndarray:
    """Per row: what the objective counts for one replica, its GPUs or its cost per hour."""
    if price_per_gpu_hour is None:
        return table.gpus.astype(float)
    return table.cost_per_hour(price_per_gpu_hour)


def size_deployment(table: OptionTable | None, target: LoadTarget, slo: Slo | None = None, *,
                    max_gpus: int | None = None, price_per_gpu_hour: Mapping[str, float] | None = None,
                    backend: str = DEFAULT_BACKEND, disagg: DisaggInstance | None = None) -> Sizing | None:
    """The lexicographically best sizing (module docstring), or None when no mix of SLO-meeting
    options within `max_gpus` (None: no cap) serves the target. `disagg`: a disaggregated instance
    whose pool pairs may serve the load too, alone or beside replicas (problems/sizing_pairs.py);
    `table` None sizes pool pairs only."""
    best, outcome = size_deployment_within(table, target, slo, max_gpus=max_gpus,
                                           price_per_gpu_hour=price_per_gpu_hour, backend=backend, disagg=disagg)
    if not outcome.proved:  # cannot happen without a deadline
        raise SolverError(f"the solver stopped with status {outcome.status.value}")
    return best


def size_deployment_within(table: OptionTable | None, target: LoadTarget, slo: Slo | None = None, *,
                           max_gpus: int | None = None, price_per_gpu_hour: Mapping[str, float] | None = None,
                           backend: str = DEFAULT_BACKEND, disagg: DisaggInstance | None = None,
                           deadline: Deadline = NO_LIMIT) -> tuple[Sizing | None, Outcome]:
    """`size_deployment` under a deadline: the answer and how far it is proved. A limit during the
    first level returns its incumbent (or None) with the gap of the cost; a limit during a tie-break
    level returns the best plan so far, its cost proved."""
    known_backend(backend)
    slo = slo or Slo()

    bound = _pair_bound(table, target, slo, max_gpus, price_per_gpu_hour, disagg, backend, deadline)

    def build(floor: float) -> SizingProblem:
        return sizing_problem(table, target, slo, max_gpus, price_per_gpu_hour, disagg, floor, bound)

    problem = build(-np.inf)
    if len(problem.rows) == 0 and problem.pairs is None:
        return None, Outcome(SolveStatus.INFEASIBLE)
    run = _Run(backend, problem, deadline)
    best = run.serving(problem.load)
    if run.stopped is not None:
        detail = "stopped before a plan was found" if best is None else "cost not proved minimal"
        return best, Outcome(run.stopped.status, run.stopped.gap, detail)
    if best is None:
        return None, Outcome(SolveStatus.INFEASIBLE)
    levels = ([_fewest_gpus] if price_per_gpu_hour is not None else []) + [_most_capacity]
    for level in levels:
        best = level(run, best)
        if run.stopped is not None:
            break
    if run.stopped is None:
        best = _fastest_users(run, best, build if disagg is not None else None)
    if run.stopped is not None:
        return best, Outcome(SolveStatus.TIME_LIMIT, 0.0, "cost proved minimal; the GPU-count, capacity and "
                                                           "user-speed tie-breaks were stopped by the limit")
    return best, PROVED


def sizing_problem(table, target: LoadTarget, slo: Slo, max_gpus, prices, disagg,
                   speed_floor: float = -np.inf, bound: tuple[float, float] | None = None) -> SizingProblem:
    """The formulation of one sizing question (problems/sizing.py, with the pairs of `disagg` whose
    decode rows are faster than `speed_floor`; `bound` = (a plan's cost, the replicas' least cost per
    unit of capacity) prunes the pairs no optimum uses: problems/sizing_pairs.py `pruned`)."""
    pairs = None
    if disagg is not None:
        from .problems.sizing_pairs import pruned, sizing_pairs

        pairs = sizing_pairs(disagg, target.kind, prices, speed_floor)
        if bound is not None and np.isfinite(bound[0]):
            pairs = pruned(pairs, target.value, max_gpus, *bound)
    if table is None:
        return build_sizing_problem(None, target.value, None, None, slo, max_gpus, pairs=pairs)
    return build_sizing_problem(table, target.value, target.capacity(table), row_costs(table, prices), slo,
                                max_gpus, pairs=pairs)


def size_plan(table: OptionTable | None, target: LoadTarget, slo: Slo | None = None, *,
              max_gpus: int | None = None, price_per_gpu_hour: Mapping[str, float] | None = None,
              backend: str = DEFAULT_BACKEND, disagg: DisaggInstance | None = None,
              deadline: Deadline = NO_LIMIT) -> tuple[SizePlan | None, Outcome]:
    """`size_deployment_within` with its answer inverted into typed Plans (solver/size_plan.py)."""
    best, outcome = size_deployment_within(table, target, slo, max_gpus=max_gpus,
                                           price_per_gpu_hour=price_per_gpu_hour, backend=backend, disagg=disagg,
                                           deadline=deadline)
    if best is None:
        return None, outcome
    from .size_plan import sized_plan

    return sized_plan(table, disagg, best), outcome


def copies_of_one(table: OptionTable, target: LoadTarget, slo: Slo | None = None, *, max_gpus: int | None = None,
                  price_per_gpu_hour: Mapping[str, float] | None = None) -> tuple[int, float] | None:
    """(GPUs, cost) of the cheapest ``ceil(load / capacity)`` copies of one SLO-meeting option: what a
    per-candidate sizing answers on the same table, for comparison with the exact mix (None: no option)."""
    cap, cost = target.capacity(table), row_costs(table, price_per_gpu_hour)
    ok = (slo or Slo()).allowed(table) & (cap > 0)
    copies = np.ceil(target.value / np.where(ok, cap, 1.0))
    if max_gpus is not None:
        ok &= copies * table.gpus <= max_gpus
    if not ok.any():
        return None
    rows = np.flatnonzero(ok)
    best = rows[np.lexsort((copies[rows] * table.gpus[rows], copies[rows] * cost[rows]))[0]]
    return int(copies[best] * table.gpus[best]), float(copies[best] * cost[best])


def _pair_bound(table, target: LoadTarget, slo: Slo, max_gpus, prices, disagg, backend: str,
                deadline: Deadline) -> tuple[float, float] | None:
    """(upper, per_unit) for pruning pairs: the cost of the best replica-only plan (its own exact solve)
    or of the cheapest pair serving the load alone, whichever is lower; and the least cost per unit of
    capacity of any SLO-meeting replica (inf without replicas): a lower bound on what replicas serving
    t cost is t times it."""
    if disagg is None:
        return None
    from .problems.sizing_pairs import alone_costs, sizing_pairs

    upper = float(alone_costs(sizing_pairs(disagg, target.kind, prices), target.value, max_gpus).min(initial=np.inf))
    per_unit = np.inf
    if table is not None:
        cap, cost = target.capacity(table), row_costs(table, prices)
        ok = slo.allowed(table) & (cap > 0) & (True if max_gpus is None else table.gpus <= max_gpus)
        if ok.any():
            per_unit = float(np.min(cost[ok] / cap[ok])) * (1 - 1e-9)
            only = sizing_problem(table, target, slo, max_gpus, prices, None)
            if len(only.rows):
                run = _Run(backend, only, deadline)
                agg = run.serving(only.load)
                if agg is not None and run.stopped is None:
                    upper = min(upper, agg.cost)
    return upper, per_unit


class _Run:
    """One backend model solved level after level under one deadline; `stopped` holds the result of
    the solve a limit stopped (then no further level runs)."""

    def __init__(self, backend: str, problem: SizingProblem, deadline: Deadline) -> None:
        self.backend, self.deadline, self.stopped = backend, deadline, None
        self.use(problem)

    def use(self, problem: SizingProblem) -> None:
        self.problem, self.model = problem, backend_for(self.backend)(problem.formulation)

    def serving(self, floor: float) -> Sizing | None:
        """Solve with load rows >= `floor`; a solution short of it (within the solver's tolerance only)
        raises the rows' bound by more than the shortfall and solves again."""
        lb = floor
        for _ in range(_NUDGES):
            self.model.set_row_bounds(_G.LOAD_TARGET, lb, np.inf)
            cand, result = self.problem.solve_within(self.model, self.deadline.options())
            if result.limited:
                self.stopped = result
                return cand if cand is not None and serves(cand.capacity, floor) else None
            if cand is None or serves(cand.capacity, floor):
                return cand
            lb += max(2 * (floor - cand.capacity), abs(floor) * 1e-12, 1e-12)
        return None


def _fewest_gpus(run: _Run, best: Sizing) -> Sizing:
    run.model.set_row_bounds(_G.COST_BUDGET, -np.inf, best.cost)
    run.model.set_objective(run.problem.gpu_objective(), Sense.MINIMIZE)
    cand = run.serving(run.problem.load)
    if cand is not None and cand.cost <= best.cost and cand.gpus < best.gpus:
        return cand
    return best


def _most_capacity(run: _Run, best: Sizing) -> Sizing:
    run.model.set_row_bounds(_G.COST_BUDGET, -np.inf, best.cost)
    run.model.set_row_bounds(_G.GPU_BUDGET, -np.inf, float(best.gpus))
    run.model.set_objective(run.problem.capacity_objective(), Sense.MAXIMIZE)
    cand = run.serving(run.problem.load)
    if cand is not None and cand.cost <= best.cost and cand.gpus <= best.gpus and cand.capacity > best.capacity:
        return cand
    return best


def _fastest_users(run: _Run, best: Sizing, build=None) -> Sizing:
    """Raise the user-speed floor while cost, GPUs and capacity keep their optima. With pool pairs the
    model is rebuilt at each floor (`build`): its pairs are then reduced among the faster decode rows
    only, without comparing speeds (problems/sizing_pairs.py)."""
    while run.stopped is None:
        if build is not None:
            run.use(build(best.tokens_per_s_per_user))
        run.model.set_row_bounds(_G.COST_BUDGET, -np.inf, best.cost)
        run.model.set_row_bounds(_G.GPU_BUDGET, -np.inf, float(best.gpus))
        run.model.set_objective(run.problem.cost_objective(), Sense.MINIMIZE)
        speed = run.problem.user_speed
        run.model.set_row_bounds(_G.USER_SPEED_FLOOR, 0.0, np.where(speed <= best.tokens_per_s_per_user, 0.0, np.inf))
        cand = run.serving(best.capacity)
        if (cand is None or cand.cost > best.cost or cand.gpus > best.gpus
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best
        best = cand
    return best
