"""A backend that keeps the model's changing vectors itself and builds the solver's model at each solve.

Why: the Pyomo and OR-Tools wrappers have no cheap, uniform way to change one row's bounds in place
(Pyomo re-walks expressions, pywraplp and CP-SAT rebuild on every `Solve` anyway), while the
`SolverBackend` contract changes bounds and objectives between solves. So these backends hold the
current column bounds, row bounds, costs and sense as numpy arrays (`ModelState`), and each solve
builds a fresh solver model from them and the formulation's fixed matrix. The matrix is converted to
per-row lists once. Exporting goes through HiGHS, which writes both LP and MPS (one writer, the same
names as the default backend's files), unless a subclass has its own writer.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..formulation import Formulation, Sense
from ..groups import ConstraintGroup
from .base import SolveStatus, SolverBackend, SolverError, BackendResult, LIMITS

INTEGRAL_TOLERANCE = 1e-6  # a solver's integer column within this of an integer is that integer


class BackendRefused(SolverError):
    """The chosen backend cannot solve this model exactly (e.g. CP-SAT and a non-integral coefficient)."""


def relative_gap(objective: float, bound: float | None) -> float:
    """|objective - bound| / |objective| (HiGHS's definition); inf without a bound, 0 when both are 0."""
    if bound is None or not math.isfinite(bound):
        return math.inf
    diff = abs(objective - bound)
    return 0.0 if diff == 0 else diff / max(abs(objective), 1e-10)


class StateBackend(SolverBackend):
    """Current bounds/objective as arrays; subclasses implement `_solve_state(options)`."""

    def __init__(self, formulation: Formulation) -> None:
        super().__init__(formulation)
        self.col_lb, self.col_ub = (a.copy() for a in formulation.col_bounds())
        self.row_lb, self.row_ub = (a.copy() for a in formulation.row_bounds())
        self.integer = formulation.integrality()
        self.cost = formulation.objective_vector()
        self.sense = formulation.sense
        starts, cols, vals = formulation.csr()
        self.rows = [(cols[starts[r]:starts[r + 1]], vals[starts[r]:starts[r + 1]])
                     for r in range(formulation.num_rows)]

    # ---- changes between solves ---------------------------------------------------------------
    def set_objective(self, objective: Mapping[str, np.ndarray], sense: Sense) -> None:
        self.cost = self.formulation.objective_vector(objective)
        self.sense = sense

    def set_row_bounds(self, constraint: str | ConstraintGroup, lb, ub, rows: np.ndarray | None = None) -> None:
        _assign(self.row_lb, self.row_ub, self.formulation.row_slice(constraint), lb, ub, rows)

    def set_col_bounds(self, var: str, lb, ub, index: np.ndarray | None = None) -> None:
        _assign(self.col_lb, self.col_ub, self.formulation.col_slice(var), lb, ub, index)

    # ---- results --------------------------------------------------------------------------------
    def rounded(self, values) -> np.ndarray:
        """Solver values in formulation order, integer columns rounded (refused when far from integral)."""
        out = np.asarray(values, dtype=float).copy()
        ints = out[self.integer]
        if np.any(np.abs(ints - np.round(ints)) > INTEGRAL_TOLERANCE):
            raise SolverError(f"{self.name} returned an integer column off by more than {INTEGRAL_TOLERANCE}")
        out[self.integer] = np.round(ints)
        return out

    def objective_of(self, values: np.ndarray) -> float:
        """The objective of (rounded) values from the formulation's own costs, not the solver's report."""
        return float(self.cost @ values)

    def result(self, status: SolveStatus, values=None, bound: float | None = None) -> BackendResult:
        """A BackendResult from a status, the incumbent (or optimum) and the solver's dual bound."""
        if values is None:  # "optimal" without a solution would be a solver bug: not trusted
            return BackendResult(SolveStatus.ERROR if status is SolveStatus.OPTIMAL else status, dual_bound=bound)
        values = self.rounded(values)
        objective = self.objective_of(values)
        if status is SolveStatus.OPTIMAL:
            return BackendResult(status, values, objective, 0.0, objective if bound is None else bound)
        gap = relative_gap(objective, bound) if status in LIMITS else math.inf
        return BackendResult(status, values, objective, gap, bound)

    def export(self, path: str | Path) -> Path:
        """LP or MPS of the current model, written by HiGHS (same names as the default backend's files)."""
        from .highs import HighsBackend

        h = HighsBackend(self.formulation)
        lb, ub = self.col_lb, self.col_ub
        for v in self.formulation.variables:
            s = self.formulation.col_slice(v.name)
            h.set_col_bounds(v.name, lb[s], ub[s])
        for c in self.formulation.constraints:
            s = self.formulation.row_slice(c.name)
            h.set_row_bounds(c.name, self.row_lb[s], self.row_ub[s])
        objective = {v.name: self.cost[self.formulation.col_slice(v.name)] for v in self.formulation.variables}
        h.set_objective(objective, self.sense)
        return h.export(path)


def _assign(lo: np.ndarray, hi: np.ndarray, block: slice, lb, ub, local: np.ndarray | None) -> None:
    idx = np.arange(block.start, block.stop) if local is None else np.asarray(local, dtype=np.int64) + block.start
    lo[idx] = np.broadcast_to(np.asarray(lb, float), idx.shape)
    hi[idx] = np.broadcast_to(np.asarray(ub, float), idx.shape)


def finite(x: float) -> float | None:
    """A bound as solver libraries take it: None for an infinite one."""
    return float(x) if math.isfinite(x) else None
