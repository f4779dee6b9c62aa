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

Under a deadline (`best_plan_within`, limits.py) a level stopped by the limit keeps the answer of the
level above, and the Outcome says what is unproved: level 1 stopped means the incumbent's tokens/s
with its gap; a tie-break stopped means tokens/s proved, the tie-break not.
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

from .backends import DEFAULT_BACKEND, SolverBackend, SolverError, SolveStatus, backend_for, known_backend
from .deployment import Deployment
from .formulation import Sense
from .groups import ConstraintGroup
from .limits import NO_LIMIT, PROVED, Deadline, Outcome
from .plan import Plan
from .problems.replica import ReplicaProblem, build_replica_problem, replica_plan
from .slo import Slo


def _fewest_gpus(backend: SolverBackend, problem: ReplicaProblem, best: Deployment,
                 deadline: Deadline = NO_LIMIT) -> tuple[Deployment, bool]:
    """Level 2; the flag says a limit stopped it (then `best` stands, unproved on this level)."""
    backend.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, best.tokens_per_s, np.inf)
    backend.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
    cand, result = problem.solve_within(backend, deadline.options())
    if cand is not None and cand.tokens_per_s >= best.tokens_per_s and cand.gpus_used < best.gpus_used:
        best = cand
    return best, result.limited


def _fastest_users(backend: SolverBackend, problem: ReplicaProblem, best: Deployment,
                   deadline: Deadline = NO_LIMIT) -> tuple[Deployment, bool]:
    """Level 3; the flag says a limit stopped it."""
    backend.set_row_bounds(ConstraintGroup.GPU_BUDGET, -np.inf, float(best.gpus_used))
    speed = problem.user_speed
    while True:
        backend.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0,
                               np.where(speed <= best.tokens_per_s_per_user, 0.0, np.inf))
        cand, result = problem.solve_within(backend, deadline.options())
        if result.limited:
            return best, True
        if (cand is None or cand.tokens_per_s < best.tokens_per_s or cand.gpus_used > best.gpus_used
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best, False
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
    best, outcome = best_deployment_within(table, total_gpus, slo, backend=backend)
    if not outcome.proved:  # cannot happen without a deadline; kept as the exact path's guarantee
        raise SolverError(f"the solver stopped with status {outcome.status.value}")
    return best


def best_deployment_within(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                           backend: str = DEFAULT_BACKEND, deadline: Deadline = NO_LIMIT
                           ) -> tuple[Deployment | None, Outcome]:
    """`best_deployment` under a deadline: the answer and how far it is proved (limits.Outcome)."""
    known_backend(backend)
    slo = slo or Slo()
    rows = top_rate_rows(table, total_gpus, slo)
    if len(rows) == 0:
        return None, Outcome(SolveStatus.INFEASIBLE)
    best, outcome = _best_on(table.take(rows), total_gpus, slo, backend, deadline)
    if best is None:
        return None, outcome
    return Deployment.from_counts(table, {int(rows[r]): c for r, c in best.replicas}, total_gpus), outcome


def best_plan(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
              backend: str = DEFAULT_BACKEND) -> Plan | None:
    """`best_deployment` inverted by the replica problem into a typed Plan over `table`."""
    best = best_deployment(table, total_gpus, slo, backend=backend)
    return None if best is None else replica_plan(table, best)


def best_plan_within(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                     backend: str = DEFAULT_BACKEND, deadline: Deadline = NO_LIMIT) -> tuple[Plan | None, Outcome]:
    """`best_plan` under a deadline, with its Outcome (a limited answer is the incumbent, marked so)."""
    best, outcome = best_deployment_within(table, total_gpus, slo, backend=backend, deadline=deadline)
    return (None if best is None else replica_plan(table, best)), outcome


def _best_on(table: OptionTable, total_gpus: int, slo: Slo, backend_name: str,
             deadline: Deadline) -> tuple[Deployment | None, Outcome]:
    problem = build_replica_problem(table, total_gpus, slo)
    if len(problem.rows) == 0:
        return None, Outcome(SolveStatus.INFEASIBLE)
    backend = backend_for(backend_name)(problem.formulation)
    best, result = problem.solve_within(backend, deadline.options())
    if result.limited:
        detail = "stopped before a plan was found" if best is None else "tokens/s not proved optimal"
        return best, Outcome(result.status, result.gap, detail)
    if best is None:
        return None, Outcome(SolveStatus.INFEASIBLE)
    best, limited = _fewest_gpus(backend, problem, best, deadline)
    if not limited:
        best, limited = _fastest_users(backend, problem, best, deadline)
    if limited:
        return best, Outcome(SolveStatus.TIME_LIMIT, 0.0, "tokens/s proved optimal; the GPU-count and user-speed "
                                                          "tie-breaks were stopped by the limit")
    return best, PROVED
