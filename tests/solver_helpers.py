"""Formulations and checks shared by the solver-backend tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sloplan.solver.backends import BackendResult, SolveStatus, backend_for
from sloplan.solver.formulation import Constraint, Formulation, Sense, Variable
from sloplan.solver.groups import ConstraintGroup as G


def hard_knapsack(items: int = 40, rows: int = 5, seed: int = 0) -> Formulation:
    """A 0/1 multi-dimensional knapsack with capacities at half the weights: all-zero is feasible (so
    incumbents come at once) but proving optimality takes HiGHS 1.16 over 3 s on one core at 40 items
    (measured; the root gap is ~2 %). Limits far below that must stop it."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 1000, size=(rows, items)).astype(float)
    value = weights.sum(axis=0) / rows + rng.integers(0, 10, size=items)
    x = Variable("x", np.zeros(items), np.ones(items), integer=True)
    cons = tuple(Constraint.weighted_sum(f"cap{r}", "x", weights[r], -np.inf, weights[r].sum() / 2, G.GPU_BUDGET)
                 for r in range(rows))
    return Formulation((x,), cons, {"x": value}, Sense.MAXIMIZE)


def highs_file_optimum(path: Path) -> float:
    """The proved optimum of an exported .lp/.mps file, read back by HiGHS at gap 0."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


class StoppedHighs:
    """HiGHS that reports every MIP solve as stopped by the time limit with its (optimal) values as the
    incumbent and a 10 % gap: what a hard instance under --time-limit looks like to the drivers."""

    def __init__(self, formulation):
        self._inner = backend_for("highs")(formulation)
        self.formulation = formulation

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def solve(self, options=None):
        r = self._inner.solve()
        if not r.optimal:
            return r
        return BackendResult(SolveStatus.TIME_LIMIT, r.values, r.objective, 0.1, r.objective * 1.1)


class NothingHighs(StoppedHighs):
    """A backend whose limit passes before any incumbent: no values, only a dual bound."""

    def solve(self, options=None):
        return BackendResult(SolveStatus.TIME_LIMIT, dual_bound=1e9)
