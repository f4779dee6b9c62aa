"""Which method answers the disaggregated part of `sloplan solve`, and one Outcome across the modes.

Why two methods: without `mixed_pools` the exact pair enumeration (solver/disagg_pairs.py) answers in
about 0.1 s where the MILP (solver/problems/disagg.py) takes seconds per ε-step of the front on real
tables (README, Solver backends), so the default path enumerates and no solver option is involved.
When the request names a solver (`--solver`, `solver:` — even the default `highs`) or a time limit,
or has mixed pools (which only the MILP solves), the MILP runs on that backend under the request's
one deadline (solver/disagg_within.py), so the options always mean what they say. The result's
`solver.disagg` states which method ran.

Merging how far each mode's answer is proved: the best plan across modes is proved only when every
mode's is; otherwise its gap is against the best upper bound any mode leaves open (a limited mode's
incumbent tokens/s times 1 + its gap; infinite when it stopped without one).
"""
from __future__ import annotations

import math

from sloplan.core.enums import ServingMode
from sloplan.solver.limits import PROVED, Deadline, Outcome, SolveStatus

PAIRS = "exact pair enumeration (solver/disagg_pairs.py; no solver options apply)"
MILP = "MILP (solver/problems/disagg.py) on {backend}"


def uses_milp(req, instance) -> bool:
    """The MILP when the request names a solver or a time limit, or mixes engines in a pool."""
    return "solver" in req.model_fields_set or req.time_limit_s is not None or instance.mixed_pools


def disagg_answer(setup, req, deadline: Deadline) -> tuple[object, list, Outcome, Outcome, str]:
    """(best plan, front plans, best Outcome, front Outcome, method line) of the disaggregated mode."""
    inst = setup.instance
    if not uses_milp(req, inst):
        from sloplan.solver.disagg import disagg_plans

        best, front = disagg_plans(inst)
        return best, front, PROVED if best else Outcome(SolveStatus.INFEASIBLE), PROVED, PAIRS
    from sloplan.solver.disagg_within import disagg_plans_within

    best, front, best_outcome, front_outcome = disagg_plans_within(inst, backend=req.solver, deadline=deadline)
    return best, front, best_outcome, front_outcome, MILP.format(backend=req.solver)


def _upper_bound(plan, outcome: Outcome) -> float:
    """The most tokens/s a mode's answer leaves possible."""
    if outcome.status is SolveStatus.INFEASIBLE:
        return 0.0
    if plan is None:
        return 0.0 if outcome.proved else math.inf
    tokens = plan.metrics.tokens_per_s
    return tokens if outcome.proved else tokens * (1 + outcome.gap)


def merged_best(parts: list[tuple[ServingMode | str, object, Outcome]], best) -> Outcome:
    """One Outcome for the best plan across modes (module docstring); `parts`: (label, plan, outcome).
    A limited mode whose upper bound stays below the best plan's tokens/s cannot hold a better (or an
    equal) plan, so it leaves the best plan as proved as its own mode's answer."""
    limited = [(label, o) for label, _, o in parts if not o.proved]
    if not limited:
        return PROVED if best is not None else Outcome(SolveStatus.INFEASIBLE)
    if best is None:
        return Outcome(limited[0][1].status, math.inf, _details(limited, len(parts)))
    label, own = next((label, o) for label, plan, o in parts if plan is best)
    tokens = best.metrics.tokens_per_s
    open_bound = max((_upper_bound(plan, o) for _, plan, o in parts if plan is not best and not o.proved),
                     default=0.0)
    if open_bound < tokens:
        return own if own.proved else Outcome(own.status, own.gap, _details([(label, own)], len(parts)))
    gap = max(0.0 if own.proved else own.gap, open_bound / tokens - 1)
    return Outcome(limited[0][1].status, gap, _details(limited, len(parts)))


def merged_front(parts: list[tuple[str, Outcome]]) -> Outcome:
    """The front is complete when every mode's trace is; else the limited ones say how far they got."""
    limited = [(label, o) for label, o in parts if not o.proved]
    if not limited:
        return Outcome(SolveStatus.INFEASIBLE) if all(o.status is SolveStatus.INFEASIBLE for _, o in parts) else PROVED
    return Outcome(limited[0][1].status, math.inf, _details(limited, len(parts)))


def _details(limited: list[tuple[str, Outcome]], parts: int) -> str:
    """What each limited part left unproved, labelled by its modes when there is more than one part."""
    return "; ".join(f"{label}: {o.detail}" if parts > 1 else o.detail for label, o in limited)
