"""Best plan: maximize served tokens/s within the GPU budget and the SLOs, with exact tie-breaks.

Lexicographic order: (1) most tokens/s (= most tokens/s/GPU, the budget N being fixed), (2) fewest
GPUs used, (3) highest tokens/s/user. Weighted sums with small fudge factors can change the optimum
of (1) when tokens/s values are close, so each level is its own solve on one backend model of the
replica problem (solver/problems/replica.py):

1. maximize T                                           -> T*
2. minimize GPUs subject to T >= T*                     -> G*   (row `throughput_floor`)
3. with T >= T* and GPUs <= G*, raise the user-speed floor above the incumbent's speed until the
   model becomes infeasible (row groups `gpu_budget`, `user_speed_floor`); the last feasible
   solution has the highest user speed.

Every candidate is re-evaluated exactly (`Deployment.from_counts`) and accepted only if it really is
at least as good on the levels above, so solver tolerances on the floor rows can never make the
answer worse than the level-1 optimum.
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

from .backends import DEFAULT_BACKEND, SolverBackend, backend_for, known_backend
from .deployment import Deployment
from .formulation import Sense
from .groups import ConstraintGroup
from .plan import Plan
from .problems.replica import ReplicaProblem, build_replica_problem, replica_plan
from .slo import Slo


def _fewest_gpus(backend: SolverBackend, problem: ReplicaProblem, best: Deployment) -> Deployment:
    backend.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, best.tokens_per_s, np.inf)
    backend.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
    cand = problem.solve(backend)
    if cand is not None and cand.tokens_per_s >= best.tokens_per_s and cand.gpus_used < best.gpus_used:
        return cand
    return best


def _fastest_users(backend: SolverBackend, problem: ReplicaProblem, best: Deployment) -> Deployment:
    backend.set_row_bounds(ConstraintGroup.GPU_BUDGET, -np.inf, float(best.gpus_used))
    speed = problem.user_speed
    while True:
        backend.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0,
                               np.where(speed <= best.tokens_per_s_per_user, 0.0, np.inf))
        cand = problem.solve(backend)
        if (cand is None or cand.tokens_per_s < best.tokens_per_s or cand.gpus_used > best.gpus_used
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best
        best = cand


def top_rate_rows(table: OptionTable, total_gpus: int, slo: Slo) -> np.ndarray:
    """Rows that can appear in a tokens/s-optimal deployment: per GPU size, the SLO-meeting rows
    with that size's highest tokens/s (ties kept). Any other row could be swapped for one of these
    at the same GPU count and strictly more tokens/s, so no optimum uses it; the tie-breaks of
    levels 2 and 3 only ever choose among optima, so they lose nothing either."""
    ok = np.flatnonzero((table.gpus <= total_gpus) & slo.allowed(table))
    gpus, rate = table.gpus[ok], table.tokens_per_s[ok]
    keep = np.zeros(len(ok), dtype=bool)
    for g in sorted(set(gpus.tolist())):  # not np.unique: it imports numpy.ma (~10 ms)
        in_class = gpus == g
        keep |= in_class & (rate == rate[in_class].max())
    return ok[keep]


def best_deployment(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                    backend: str = DEFAULT_BACKEND) -> Deployment | None:
    """The lexicographically best deployment (see module docstring), or None if none is feasible.
    `backend` names the solver backend (`backends.backend_for`)."""
    known_backend(backend)
    slo = slo or Slo()
    rows = top_rate_rows(table, total_gpus, slo)
    if len(rows) == 0:
        return None
    best = _best_on(table.take(rows), total_gpus, slo, backend)
    if best is None:
        return None
    return Deployment.from_counts(table, {int(rows[r]): c for r, c in best.replicas}, total_gpus)


def best_plan(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
              backend: str = DEFAULT_BACKEND) -> Plan | None:
    """`best_deployment` inverted by the replica problem into a typed Plan over `table`."""
    best = best_deployment(table, total_gpus, slo, backend=backend)
    return None if best is None else replica_plan(table, best)


def _best_on(table: OptionTable, total_gpus: int, slo: Slo, backend_name: str) -> Deployment | None:
    problem = build_replica_problem(table, total_gpus, slo)
    if len(problem.rows) == 0:
        return None
    backend = backend_for(backend_name)(problem.formulation)
    best = problem.solve(backend)
    if best is None:
        return None
    best = _fewest_gpus(backend, problem, best)
    return _fastest_users(backend, problem, best)
