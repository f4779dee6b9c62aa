"""The class knapsack: the ε-step MIP over GPU-size classes, a handful of integer columns instead of hundreds.

For "max tokens/s with every used option at user speed ≥ ε" only one option per GPU size can be
needed: swapping each replica for its size class's best allowed option keeps the GPU count, does
not lower tokens/s and keeps every used option allowed. So each ε-step is a small knapsack —
one integer count per GPU size, one budget row — whose objective coefficients are the class
winners' tokens/s. One backend model is built once; a step changes only costs and column bounds.
"""
from __future__ import annotations

import numpy as np

from ..backends import DEFAULT_BACKEND, EXACT, SolveOptions, SolverBackend, backend_for
from ..deployment import Deployment
from ..formulation import Constraint, Formulation, Sense, Variable
from ..groups import ConstraintGroup
from .replica import ReplicaProblem

CLASS_VAR = "n_class"
_LIMITED = np.zeros(0, dtype=np.int64)  # sentinel: the search was stopped by a limit


def class_rankings(rate: np.ndarray, speed: np.ndarray, gpus: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Per GPU size, its columns best-first: most tokens/s, ties the faster for users. Ranked once, so
    each ε-step's winners are just the first allowed column of each ranking."""
    return [idx[np.lexsort((-speed[idx], -rate[idx]))] for idx in (np.flatnonzero(gpus == g) for g in sizes)]


def class_winners(allowed: np.ndarray, rankings: list[np.ndarray]) -> np.ndarray:
    """Per GPU size: the allowed column with the most tokens/s (ties: the faster for users), or -1."""
    win = np.full(len(rankings), -1)
    for c, ranked in enumerate(rankings):
        ok = allowed[ranked]  # every size has at least one column: sizes = np.unique(gpus)
        first = int(ok.argmax())
        if ok[first]:
            win[c] = ranked[first]
    return win


class ClassKnapsack:
    """Knapsack over GPU-size classes for one ReplicaProblem; `solve(winners)` returns a Deployment.
    The backend model is built once here (`backend` names it, see `backend_for`)."""

    def __init__(self, model: ReplicaProblem, backend: str = DEFAULT_BACKEND):
        self.model = model
        self.sizes = np.unique(model.gpus, return_index=True)[0]  # return_index: no numpy.ma import
        N = model.total_gpus
        budget, least = ConstraintGroup.GPU_BUDGET, ConstraintGroup.MIN_REPLICAS
        var = Variable(CLASS_VAR, np.zeros(len(self.sizes)), np.floor(N / self.sizes), integer=True)
        cons = (Constraint.weighted_sum(budget.value, CLASS_VAR, self.sizes, -np.inf, float(N), budget),
                Constraint.weighted_sum(least.value, CLASS_VAR, np.ones(len(self.sizes)), 1.0, np.inf, least))
        self.formulation = Formulation((var,), cons, {CLASS_VAR: np.zeros(len(self.sizes))}, Sense.MAXIMIZE)
        self.backend: SolverBackend = backend_for(backend)(self.formulation)

    def solve(self, winners: np.ndarray) -> Deployment | None:
        """Best mix of the class winners (-1 = class closed); None when no class is open."""
        return self.solve_within(winners, EXACT)[0]

    def solve_within(self, winners: np.ndarray, options: SolveOptions) -> tuple[Deployment | None, bool]:
        """`solve` under `options`; the flag says a limit stopped the search (then no point is returned:
        an ε-step's incumbent need not be a front point)."""
        open_ = winners >= 0
        if not open_.any():
            return None, False
        rate = np.where(open_, self.model.tokens_per_s[np.maximum(winners, 0)], 0.0)
        counts = self._integral_lp_optimum(winners, rate)
        if counts is None:
            counts = self._branch_and_bound(open_, rate, options)
        if counts is _LIMITED:
            return None, True
        if counts is None:
            return None, False
        cols = np.zeros(len(self.model.rows), dtype=np.int64)
        for c in np.flatnonzero(counts > 0):
            cols[winners[c]] += counts[c]
        return self.model.deployment(cols), False

    def _integral_lp_optimum(self, winners: np.ndarray, rate: np.ndarray) -> np.ndarray | None:
        """The LP relaxation's optimum is N/g replicas of the class with the best tokens/s per GPU;
        when that g divides N the vertex is integral, hence the MIP optimum too (no search needed).
        Among classes tied on tokens/s per GPU, the one whose option is fastest for users wins, as
        a single class beats any mix of tied classes on the slowest user's speed."""
        N = self.model.total_gpus
        per_gpu = np.where(winners >= 0, rate / self.sizes, -np.inf)
        tied = np.flatnonzero(per_gpu == per_gpu.max())
        c = tied[np.argmax(self.model.user_speed[winners[tied]])]
        if N % self.sizes[c]:
            return None
        counts = np.zeros(len(self.sizes), dtype=np.int64)
        counts[c] = N // int(self.sizes[c])
        return counts

    def _branch_and_bound(self, open_: np.ndarray, rate: np.ndarray, options: SolveOptions = EXACT):
        self.backend.set_objective({CLASS_VAR: rate}, Sense.MAXIMIZE)
        self.backend.set_col_bounds(CLASS_VAR, 0.0, np.where(open_, np.floor(self.model.total_gpus / self.sizes), 0.0))
        result = self.backend.solve(options)
        if result.limited:
            return _LIMITED
        if not result.proved_optimal():
            return None
        return np.rint(self.backend.values(CLASS_VAR, result)).astype(np.int64)
