"""Exact sizing: the fewest GPUs (or, with prices, the lowest cost per hour) that serve a target load.

The target is a request rate (requests/s, open loop) or a number of concurrent users (closed loop).
One integer program over every SLO-meeting option of the table (solver/problems/sizing.py), mixing
replica types wherever that is cheaper: not a doubling search over GPU counts and not
``ceil(load / capacity)`` copies of one candidate (which is what a per-candidate sizing does, and
which overshoots whenever a mix tiles the load better).

Lexicographic order, each level its own solve on one backend model (weights with fudge factors could
change the optimum of the level above):

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

from .backends import DEFAULT_BACKEND, SolverBackend, backend_for, known_backend
from .formulation import Sense
from .groups import ConstraintGroup
from .plan import Plan
from .problems.replica import replica_plan
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
    """A sizing answer with its typed Plan (tokens/s/GPU over the GPUs it uses)."""

    sizing: Sizing
    plan: Plan


def row_costs(table: OptionTable, price_per_gpu_hour: Mapping[str, float] | None) -> np.ndarray:
    """Per row: what the objective counts for one replica, its GPUs or its cost per hour."""
    if price_per_gpu_hour is None:
        return table.gpus.astype(float)
    return table.cost_per_hour(price_per_gpu_hour)


def size_deployment(table: OptionTable, target: LoadTarget, slo: Slo | None = None, *,
                    max_gpus: int | None = None, price_per_gpu_hour: Mapping[str, float] | None = None,
                    backend: str = DEFAULT_BACKEND) -> Sizing | None:
    """The lexicographically best sizing (module docstring), or None when no mix of SLO-meeting
    options within `max_gpus` (None: no cap) serves the target."""
    known_backend(backend)
    problem = build_sizing_problem(table, target.value, target.capacity(table), row_costs(table, price_per_gpu_hour),
                                   slo or Slo(), max_gpus)
    if len(problem.rows) == 0:
        return None
    model = backend_for(backend)(problem.formulation)
    best = _cheapest(model, problem)
    if best is None:
        return None
    if price_per_gpu_hour is not None:
        best = _fewest_gpus(model, problem, best)
    best = _most_capacity(model, problem, best)
    return _fastest_users(model, problem, best)


def size_plan(table: OptionTable, target: LoadTarget, slo: Slo | None = None, *, max_gpus: int | None = None,
              price_per_gpu_hour: Mapping[str, float] | None = None,
              backend: str = DEFAULT_BACKEND) -> SizePlan | None:
    """`size_deployment` with its answer inverted into a typed Plan over `table`."""
    best = size_deployment(table, target, slo, max_gpus=max_gpus, price_per_gpu_hour=price_per_gpu_hour,
                           backend=backend)
    return None if best is None else SizePlan(best, replica_plan(table, best.deployment(table)))


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


def _solve_serving(model: SolverBackend, problem: SizingProblem, floor: float) -> Sizing | None:
    """Solve with load rows >= `floor`; a solution short of it (within the solver's tolerance only)
    raises the rows' bound by more than the shortfall and solves again."""
    lb = floor
    for _ in range(_NUDGES):
        model.set_row_bounds(_G.LOAD_TARGET, lb, np.inf)
        cand = problem.solve(model)
        if cand is None or serves(cand.capacity, floor):
            return cand
        lb += max(2 * (floor - cand.capacity), abs(floor) * 1e-12, 1e-12)
    return None


def _cheapest(model: SolverBackend, problem: SizingProblem) -> Sizing | None:
    return _solve_serving(model, problem, problem.load)


def _fewest_gpus(model: SolverBackend, problem: SizingProblem, best: Sizing) -> Sizing:
    model.set_row_bounds(_G.COST_BUDGET, -np.inf, best.cost)
    model.set_objective(problem.column_objective(problem.table.gpus), Sense.MINIMIZE)
    cand = _solve_serving(model, problem, problem.load)
    if cand is not None and cand.cost <= best.cost and cand.gpus < best.gpus:
        return cand
    return best


def _most_capacity(model: SolverBackend, problem: SizingProblem, best: Sizing) -> Sizing:
    model.set_row_bounds(_G.COST_BUDGET, -np.inf, best.cost)
    model.set_row_bounds(_G.GPU_BUDGET, -np.inf, float(best.gpus))
    model.set_objective(problem.column_objective(problem.capacity), Sense.MAXIMIZE)
    cand = _solve_serving(model, problem, problem.load)
    if cand is not None and cand.cost <= best.cost and cand.gpus <= best.gpus and cand.capacity > best.capacity:
        return cand
    return best


def _fastest_users(model: SolverBackend, problem: SizingProblem, best: Sizing) -> Sizing:
    model.set_objective(problem.column_objective(problem.cost), Sense.MINIMIZE)
    speed = problem.user_speed
    while True:
        model.set_row_bounds(_G.USER_SPEED_FLOOR, 0.0, np.where(speed <= best.tokens_per_s_per_user, 0.0, np.inf))
        cand = _solve_serving(model, problem, best.capacity)
        if (cand is None or cand.cost > best.cost or cand.gpus > best.gpus
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best
        best = cand
