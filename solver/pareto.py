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

Each step is solved on one small HiGHS model over GPU-size classes (solver/class_model.py); only
its objective and column bounds change between steps.
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

from .deployment import Deployment
from .class_model import ClassModel, class_rankings, class_winners
from .replica_model import build_replica_model
from .slo import Slo


def pareto_front(table: OptionTable, total_gpus: int, slo: Slo | None = None) -> list[Deployment]:
    """Non-dominated deployments, sorted by tokens/s/user ascending (tokens/s/GPU descending)."""
    model = build_replica_model(table, total_gpus, slo or Slo(), feasible_only=True)
    if len(model.rows) == 0:
        return []
    knapsack = ClassModel(model)
    speed, rate, gpus = model.user_speed, model.tokens_per_s, model.gpus
    allowed = _slo_ok(model, slo or Slo())
    rankings = class_rankings(rate, speed, gpus, knapsack.sizes)
    front: list[Deployment] = []
    while allowed.any():
        point = knapsack.solve(class_winners(allowed, rankings))
        if point is None:
            break
        if front and point.tokens_per_s >= front[-1].tokens_per_s:
            front.pop()  # same throughput at a higher user speed: the previous point is dominated
        front.append(point)
        allowed &= speed > point.tokens_per_s_per_user
    return front


def _slo_ok(model, slo: Slo) -> np.ndarray:
    """Columns whose option meets every SLO that is set."""
    ok = np.ones(len(model.rows), dtype=bool)
    sub = model.table.take(model.rows)
    for rows in slo.violators(sub).values():
        ok[rows] = False
    return ok
