"""The disaggregated best plan and front on a named solver backend, under the request's deadline.

Why a second driver beside solver/disagg.py: the default disaggregated answer is the exact pair
enumeration (solver/disagg_pairs.py), milliseconds on real tables, which no solver option touches.
When the user names a solver (`--solver`, `solver:`) or a time limit, the same answer comes from the
MILP of solver/problems/disagg.py on that backend, the deadline shared with the replica modes
(solver/limits.py): a solve the limit stops keeps its incumbent, exactly re-evaluated, and the
`Outcome` says what is unproved — never a silently worse plan called optimal.

Best plan: the lexicographic levels of solver/disagg.py (tokens/s, fewest GPUs, user speed), on the
exactly reduced instance (solver/disagg_reduction.py), each solve a MILP of the decode rows that can
matter to it (`_Model`). Level 1 stopped: its incumbent with the gap; a tie-break stopped: tokens/s
proved, the tie-break not.
Front: the ε-constraint trace of solver/disagg.py, each point then taken with the fewest GPUs at its
tokens/s (as the enumeration's front: on a tie in user speed and tokens/s, the fewest GPUs); a step
the limit stops ends the trace, the points before it are exact, and the Outcome says how far it got
(its last point may be weakly dominated).

Exact ties on all three levels may pick another deployment than the enumeration (which prefers the
lowest TTFT among them); the key (tokens/s, GPUs, tokens/s/user) and the front's values (user speed,
tokens/s, GPUs) are the same, which tests/test_disagg_within.py checks against brute force on every
installed backend and against the enumeration.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .backends import BackendResult, backend_for, known_backend
from .disagg import _reduced, disagg_plan
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance, take_rows
from .formulation import Sense
from .groups import ConstraintGroup
from .limits import NO_LIMIT, PROVED, Deadline, Outcome, SolveStatus
from .plan import Plan
from .problems.disagg import build_disagg_problem, pair_rate_bound

_REL_TOL = 1e-9
_TIE_BREAKS_CUT = "tokens/s proved optimal; the GPU-count and user-speed tie-breaks were stopped by the limit"


class _Model:
    """The (reduced) instance, and per solve a model of only the decode rows that solve may use.

    Without mixed pools a plan uses one decode row d and serves at most its pair bound B_d
    (problems/disagg.py: pair_rate_bound, widened by 1e-9). So the most tokens/s over a set of
    decode rows is found in two solves over few rows: first the rows of the largest bound only (a
    plan of rate L), then — only if others could beat it — every row with B_d >= L; no plan over a
    row with B_d < L serves more than L. That is exact (the bound cuts no plan: tests). Each solve
    builds the MILP of its rows only (a decode row outside them could only be at zero workers), so
    a solve sees a handful of rows where the whole model would cost HiGHS most of its time in
    presolve and Pyomo / OR-Tools a model build of every row."""

    def __init__(self, inst: DisaggInstance, backend: str) -> None:
        self.inst, self.name = inst, backend
        self.bound = None if inst.mixed_pools else pair_rate_bound(inst) * (1 + _REL_TOL)
        self.speed = inst.decode.tokens_per_s_per_user
        self.osl = inst.osl
        self.tokens_floor: float | None = None  # level 2: keep tokens/s at least this
        self.gpu_cap: int | None = None  # level 3: use at most this many GPUs

    def reaching(self, tokens_per_s: float) -> np.ndarray:
        """Decode rows whose pair bound reaches `tokens_per_s` (all of them with mixed pools)."""
        if self.bound is None:
            return np.ones(len(self.speed), bool)
        return self.bound * self.osl >= tokens_per_s * (1 - _REL_TOL)

    def solve(self, allowed: np.ndarray, deadline: Deadline, fewest_gpus: bool = False):
        """(deployment over the instance, result): the optimum with decode rows in `allowed` only."""
        rows = np.flatnonzero(allowed)
        if not len(rows):
            return None, BackendResult(SolveStatus.INFEASIBLE)
        sub = replace(self.inst, decode=take_rows(self.inst.decode, rows))
        problem = build_disagg_problem(sub, pair_bound=True)
        backend = backend_for(self.name)(problem.formulation)
        if self.tokens_floor is not None:
            backend.set_row_bounds(ConstraintGroup.THROUGHPUT_FLOOR, self.tokens_floor * (1 - _REL_TOL), np.inf)
        if self.gpu_cap is not None:
            backend.set_row_bounds(ConstraintGroup.GPU_BUDGET, -np.inf, float(self.gpu_cap))
        if fewest_gpus:
            backend.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
        dep, result = problem.solve_within(backend, deadline.options())
        if dep is not None:
            dep = DisaggDeployment.from_counts(self.inst, dict(dep.prefill), {int(rows[r]): c for r, c in dep.decode})
        return dep, result

    def max_tokens(self, allowed: np.ndarray, deadline: Deadline):
        """(deployment, result): the most tokens/s over the decode rows of `allowed` (class docstring)."""
        if self.bound is None:
            return self.solve(allowed, deadline)
        allowed = allowed & (self.bound > 0)
        if not allowed.any():
            return None, BackendResult(SolveStatus.INFEASIBLE)
        top = allowed & (self.bound >= self.bound[allowed].max())
        dep, result = self.solve(top, deadline)
        if result.limited:
            return dep, result
        wider = allowed & (self.bound >= (0.0 if dep is None else float(dep.rate_exact)))
        if (wider == top).all():
            return dep, result
        return self.solve(wider, deadline)


def _fewest_gpus(model: _Model, best: DisaggDeployment, deadline: Deadline, allowed: np.ndarray | None = None
                 ) -> tuple[DisaggDeployment, bool]:
    """Level 2 (solver/disagg.py), over the decode rows of `allowed` (all by default); the flag says a
    limit stopped it."""
    reach = model.reaching(best.tokens_per_s)
    model.tokens_floor = best.tokens_per_s
    cand, result = model.solve(reach if allowed is None else reach & allowed, deadline, fewest_gpus=True)
    model.tokens_floor = None
    if cand is not None and cand.tokens_exact >= best.tokens_exact and cand.gpus_used < best.gpus_used:
        best = cand
    return best, result.limited


def _fastest_users(model: _Model, best: DisaggDeployment, deadline: Deadline) -> tuple[DisaggDeployment, bool]:
    """Level 3 (solver/disagg.py); the flag says a limit stopped it."""
    model.gpu_cap = best.gpus_used
    reach = model.reaching(best.tokens_per_s)
    while True:
        if deadline.expired():  # each solve would still get MIN_SLICE_S: stop raising the floor here
            return best, True
        cand, result = model.solve(reach & (model.speed > best.tokens_per_s_per_user), deadline)
        if result.limited:
            return best, True
        if (cand is None or cand.tokens_exact < best.tokens_exact or cand.gpus_used > best.gpus_used
                or cand.tokens_per_s_per_user <= best.tokens_per_s_per_user):
            return best, False
        best = cand


def disagg_best_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT, reduced=None
                       ) -> tuple[DisaggDeployment | None, Outcome]:
    """The lexicographically best deployment by the MILP on `backend`, and how far it is proved
    (`reduced`: `_reduced(inst, True)` when the caller has it)."""
    known_backend(backend)
    work, back = reduced or _reduced(inst, True)
    model = _Model(work, backend)
    best, result = model.max_tokens(np.ones(len(work.decode), bool), deadline)
    if result.limited:
        detail = "stopped before a plan was found" if best is None else "tokens/s not proved optimal"
        return (None if best is None else back(best)), Outcome(result.status, result.gap, detail)
    if best is None:
        return None, Outcome(SolveStatus.INFEASIBLE)
    best, limited = _fewest_gpus(model, best, deadline)
    if not limited:
        best, limited = _fastest_users(model, best, deadline)
    return back(best), (Outcome(SolveStatus.TIME_LIMIT, 0.0, _TIE_BREAKS_CUT) if limited else PROVED)


def disagg_front_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT, reduced=None
                        ) -> tuple[list[DisaggDeployment], Outcome]:
    """The exact front by the MILP's ε-constraint trace on `backend` (by user speed ascending), cut
    where the deadline stops a step."""
    known_backend(backend)
    work, back = reduced or _reduced(inst, True)
    model = _Model(work, backend)
    front: list[DisaggDeployment] = []
    floor = -np.inf
    while True:
        point, result = model.max_tokens(model.speed > floor, deadline)
        if result.limited:
            return [back(d) for d in front], _cut(front)
        if point is None:
            return [back(d) for d in front], (PROVED if front else Outcome(SolveStatus.INFEASIBLE))
        point, limited = _fewest_gpus(model, point, deadline, model.speed > floor)
        if limited:
            return [back(d) for d in front], _cut(front)
        if front and point.tokens_exact >= front[-1].tokens_exact:
            front.pop()  # as good per GPU at a higher user speed: the previous point is dominated
        front.append(point)
        floor = point.tokens_per_s_per_user
        if deadline.expired() and (model.speed > floor).any():  # each solve gets MIN_SLICE_S: stop here
            return [back(d) for d in front], _cut(front)


def _cut(front: list[DisaggDeployment]) -> Outcome:
    u = front[-1].tokens_per_s_per_user if front else 0.0
    return Outcome(SolveStatus.TIME_LIMIT, math.inf,
                   f"front traced up to {u:.1f} tok/s/user only; its last point may be weakly dominated")


def disagg_plans_within(inst: DisaggInstance, *, backend: str, deadline: Deadline = NO_LIMIT
                        ) -> tuple[Plan | None, list[Plan], Outcome, Outcome]:
    """Best plan, front, and their Outcomes, by the MILP on `backend` under `deadline`."""
    reduced = _reduced(inst, True)
    best, best_outcome = disagg_best_within(inst, backend=backend, deadline=deadline, reduced=reduced)
    front, front_outcome = disagg_front_within(inst, backend=backend, deadline=deadline, reduced=reduced)
    plan = None if best is None else disagg_plan(inst, best)
    return plan, [disagg_plan(inst, d) for d in front], best_outcome, front_outcome
