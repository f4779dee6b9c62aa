"""One front and one best plan across serving modes, from each mode's exact answers.

Every mode's front is exact over its own options (static and agg: solver/pareto.py over one option
table; disagg: solver/disagg.py), and all of them measure tokens/s/GPU over the same GPU budget, so
they share one pair of axes (tokens/s/user, tokens/s). The front of a union is the non-dominated set
of the union of the fronts: a point dominated within its own mode is dominated in the union too, so
nothing outside the per-mode fronts can be on the merged one. The best plan across modes is the
lexicographic best of the per-mode bests in the one order every mode uses: most tokens/s, fewest GPUs
used, highest tokens/s/user.
"""
from __future__ import annotations

from collections.abc import Iterable

from .plan import Plan


def plan_key(plan: Plan) -> tuple[float, int, float]:
    """Larger is better: tokens/s, then fewer GPUs used, then tokens/s/user."""
    m = plan.metrics
    return (m.tokens_per_s, -m.gpus_used, m.tokens_per_s_per_user)


def union_best(plans: Iterable[Plan | None]) -> Plan | None:
    """The best of the per-mode best plans (the first on an exact tie), or None when no mode has one."""
    best = None
    for plan in plans:
        if plan is not None and (best is None or plan_key(plan) > plan_key(best)):
            best = plan
    return best


def union_front(fronts: Iterable[list[Plan]]) -> list[Plan]:
    """Non-dominated (tokens/s/user, tokens/s) plans of all fronts, by tokens/s/user ascending; of
    points equal on both, the first front's is kept."""
    points = [(p.metrics.tokens_per_s_per_user, p.metrics.tokens_per_s, i, p)
              for i, p in enumerate(q for front in fronts for q in front)]
    points.sort(key=lambda t: (-t[0], -t[1], t[2]))
    out: list[Plan] = []
    top = None
    for _, tokens, _, plan in points:
        if top is None or tokens > top:
            out.append(plan)
            top = tokens
    return out[::-1]
