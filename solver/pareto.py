"""Exact Pareto front of (tokens/s/user, tokens/s/GPU), both maximized, by the epsilon-constraint method.

With the budget N fixed, tokens/s/GPU = T / N, so the front is that of (user speed u, T). Loop:

* solve max T with every used option's user speed >= epsilon (start: no floor);
* the solution (u_k, T_k) has u_k >= epsilon; next floor: exclude every option with speed <= u_k,
  compared on the table's own floats, so no option between two floors can be skipped;
* stop when infeasible.

Why exact. T*(epsilon) is non-increasing in epsilon, and between two consecutive floors the feasible
set does not change (the floor only moves across option speeds, and it moves to just above u_k).
A front point (u, T) therefore appears as the solution of the last floor before T*(epsilon) drops
below T. Weak dominance: if the next solve returns the same T (compared as the correctly rounded
exact sums of `Deployment`), the previous point had the same T at a lower user speed — it is
dropped. The result is strictly increasing in u and strictly decreasing in T: nothing dominated.

Each step is solved on one small backend model over GPU-size classes (solver/problems/class_knapsack.py);
only its objective and column bounds change between steps.

Under a deadline (`pareto_plans_within`) the trace stops at the first step the limit cuts: the points
so far are exact, the front beyond them is missing, and the Outcome says so.
"""
from __future__ import annotations

import math

from sloplan.model.option_table import OptionTable

from .backends import DEFAULT_BACKEND, SolverError, SolveStatus, known_backend
from .deployment import Deployment
from .limits import NO_LIMIT, PROVED, Deadline, Outcome
from .problems.class_knapsack import ClassKnapsack, class_rankings, class_winners
from .plan import Plan
from .problems.replica import ReplicaProblem, build_replica_problem
from .slo import Slo


def pareto_front(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                 backend: str = DEFAULT_BACKEND) -> list[Deployment]:
    """Non-dominated deployments, sorted by tokens/s/user ascending (tokens/s/GPU descending).
    `backend` names the solver backend (`backends.backend_for`)."""
    problem, front, outcome = _trace(table, total_gpus, slo, backend)
    if not outcome.proved:  # cannot happen without a deadline
        raise SolverError(f"the solver stopped with status {outcome.status.value}")
    return front


def pareto_plans(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                 backend: str = DEFAULT_BACKEND) -> list[Plan]:
    """The front of `pareto_front`, each point inverted by the replica problem into a typed Plan."""
    plans, outcome = pareto_plans_within(table, total_gpus, slo, backend=backend)
    if not outcome.proved:  # cannot happen without a deadline
        raise SolverError(f"the solver stopped with status {outcome.status.value}")
    return plans


def pareto_plans_within(table: OptionTable, total_gpus: int, slo: Slo | None = None, *,
                        backend: str = DEFAULT_BACKEND, deadline: Deadline = NO_LIMIT
                        ) -> tuple[list[Plan], Outcome]:
    """`pareto_plans` under a deadline: the points traced before the limit (each exact) and an Outcome
    saying whether the front is complete."""
    problem, front, outcome = _trace(table, total_gpus, slo, backend, deadline)
    return [problem.plan(d) for d in front], outcome


def _trace(table: OptionTable, total_gpus: int, slo: Slo | None, backend: str, deadline: Deadline = NO_LIMIT
           ) -> tuple[ReplicaProblem, list[Deployment], Outcome]:
    """The ε-constraint loop of the module docstring, with the problem whose solutions it returns."""
    known_backend(backend)
    slo = slo or Slo()
    problem = build_replica_problem(table, total_gpus, slo, feasible_only=True)
    if len(problem.rows) == 0:
        return problem, [], Outcome(SolveStatus.INFEASIBLE)
    knapsack = ClassKnapsack(problem, backend)
    speed, rate, gpus = problem.user_speed, problem.tokens_per_s, problem.gpus
    allowed = slo.allowed(table)[problem.rows]
    rankings = class_rankings(rate, speed, gpus, knapsack.sizes)
    front: list[Deployment] = []
    while allowed.any():
        point, limited = knapsack.solve_within(class_winners(allowed, rankings), deadline.options())
        if limited:
            return problem, front, _cut(front)
        if point is None:
            break
        if front and point.tokens_per_s >= front[-1].tokens_per_s:
            front.pop()  # same throughput at a higher user speed: the previous point is dominated
        front.append(point)
        allowed &= speed > point.tokens_per_s_per_user
        if deadline.expired() and allowed.any():
            return problem, front, _cut(front)
    return problem, front, PROVED


def _cut(front: list[Deployment]) -> Outcome:
    u = front[-1].tokens_per_s_per_user if front else 0.0
    return Outcome(SolveStatus.TIME_LIMIT, math.inf,
                   f"front traced up to {u:.1f} tok/s/user only; its last point may be weakly dominated")
