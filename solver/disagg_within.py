"""The disaggregated best plan and front on a named solver backend, under the request's deadline.

Why a second driver beside solver/disagg.py: the default disaggregated answer is the exact pair
enumeration (solver/disagg_pairs.py), milliseconds on real tables, which no solver option touches.
When the user names a solver (`--solver`, `solver:`) or a time limit, the same answer comes from the
MILP of solver/problems/disagg.py on that backend, the deadline shared with the replica modes
(solver/limits.py): a solve the limit stops keeps its incumbent, exactly re-evaluated, and the
`Outcome` says what is unproved — never a silently worse plan called optimal.

Best plan: the lexicographic levels of solver/disagg.py (tokens/s, fewest GPUs, user speed), each a
solve on one backend model of the exactly reduced instance (solver/disagg_reduction.py). Level 1
stopped: its incumbent with the gap; a tie-break stopped: tokens/s proved, the tie-break not.
Front: the ε-constraint trace of solver/disagg.py; a step the limit stops ends the trace, the points
before it are exact, and the Outcome says how far it got (its last point may be weakly dominated).

Exact ties on all three levels may pick another deployment than the enumeration (which prefers the
lowest TTFT among them); the key (tokens/s, GPUs, tokens/s/user) and the front's values are the same,
which tests/test_disagg_within.py checks against brute force on every installed backend.
"""
from __future__ import annotations

import math

import numpy as np

from .backends import SolverBackend, backend_for, known_backend
from .disagg import _reduced, _speed_bounds, disagg_plan
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance
from .formulation import Sense
from .groups import ConstraintGroup
from .limits import NO_LIMIT, PROVED, Deadline, Outcome, SolveStatus
from .plan import Plan
from .problems.disagg import DisaggProblem, build_disagg_problem

_REL_TOL = 1e-9
_TIE_BREAKS_CUT = "tokens/s proved optimal; the GPU-count and user-speed tie-breaks were stopped by the limit"


def _model(inst: DisaggInstance, backend: str) -> tuple[DisaggProblem, SolverBackend]:
    problem = build_disagg_problem(inst, pair_bound=True)
    return problem, backend_for(backend)(problem.formulation)


def _max_tokens(model: SolverBackend, problem: DisaggProblem, deadline: Deadline):
    model.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    return problem.solve_within(model, deadline.options())


def _fewest_gpus(model, problem, best: DisaggDeployment, deadline: Deadline) -> tuple[DisaggDeployment, bool]:
    """Level 2 (solver/disagg.py); the flag says a limit stopped it."""
    model.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, best.tokens_per_s * (1 - _REL_TOL), np.inf)
    model.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
    cand, result = problem.solve_within(model, deadline.options())
    if cand is not None and cand.tokens_exact >= best.tokens_exact and cand.gpus_used < best.gpus_used:
        best = cand
    return best, result.limited


def _fastest_users(model, problem, best: DisaggDeployment, deadline: Deadline) -> tuple[DisaggDeployment, bool]:
    """Level 3 (solver/disagg.py); the flag says a limit stopped it."""
    model.set_row_bounds(ConstraintGroup.GPU_BUDGET, -np.inf, float(best.gpus_used))
    model.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    while True:
        model.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0, _speed_bounds(problem, best.tokens_per_s_per_user))
        cand, result = problem.solve_within(model, deadline.options())
        if result.limited:
            return best, True
        if (cand is None or cand.tokens_exact < best.tokens_exact or cand.gpus_used > best.gpus_used
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best, False
        best = cand


def disagg_best_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT
                       ) -> tuple[DisaggDeployment | None, Outcome]:
    """The lexicographically best deployment by the MILP on `backend`, and how far it is proved."""
    known_backend(backend)
    work, back = _reduced(inst, True)
    problem, model = _model(work, backend)
    best, result = _max_tokens(model, problem, deadline)
    if result.limited:
        detail = "stopped before a plan was found" if best is None else "tokens/s not proved optimal"
        return (None if best is None else back(best)), Outcome(result.status, result.gap, detail)
    if best is None:
        return None, Outcome(SolveStatus.INFEASIBLE)
    best, limited = _fewest_gpus(model, problem, best, deadline)
    if not limited:
        best, limited = _fastest_users(model, problem, best, deadline)
    return back(best), (Outcome(SolveStatus.TIME_LIMIT, 0.0, _TIE_BREAKS_CUT) if limited else PROVED)


def disagg_front_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT
                        ) -> tuple[list[DisaggDeployment], Outcome]:
    """The exact front by the MILP's ε-constraint trace on `backend` (by user speed ascending), cut
    where the deadline stops a step."""
    known_backend(backend)
    work, back = _reduced(inst, True)
    problem, model = _model(work, backend)
    model.set_objective(problem.rate_objective(), Sense.MAXIMIZE)
    front: list[DisaggDeployment] = []
    floor = None
    while True:
        model.set_row_bounds(ConstraintGroup.USER_SPEED_FLOOR, 0.0, _speed_bounds(problem, floor))
        point, result = problem.solve_within(model, deadline.options())
        if result.limited:
            return [back(d) for d in front], _cut(front)
        if point is None:
            return [back(d) for d in front], (PROVED if front else Outcome(SolveStatus.INFEASIBLE))
        if front and point.tokens_exact >= front[-1].tokens_exact:
            front.pop()  # as good per GPU at a higher user speed: the previous point is dominated
        front.append(point)
        floor = point.tokens_per_s_per_user


def _cut(front: list[DisaggDeployment]) -> Outcome:
    u = front[-1].tokens_per_s_per_user if front else 0.0
    return Outcome(SolveStatus.TIME_LIMIT, math.inf,
                   f"front traced up to {u:.1f} tok/s/user only; its last point may be weakly dominated")


def disagg_plans_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT
                        ) -> tuple[Plan | None, list[Plan], Outcome, Outcome]:
    """Best plan, front, and their Outcomes, by the MILP on `backend` under `deadline`."""
    best, best_outcome = disagg_best_within(inst, backend=backend, deadline=deadline)
    front, front_outcome = disagg_front_within(inst, backend=backend, deadline=deadline)
    plan = None if best is None else disagg_plan(inst, best)
    return plan, [disagg_plan(inst, d) for d in front], best_outcome, front_outcome
