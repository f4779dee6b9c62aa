"""HiGHS backend: one highspy model per Formulation, re-solvable after bound/objective changes.

highspy is imported inside the constructor, never at module import: importing it costs ~50 ms and
the CLI's whole start-up target is 0.7 s, most of which other commands never need.

The MIP is solved to proven optimality: ``mip_rel_gap = 0`` *and* ``mip_abs_gap = 0`` (the latter
defaults to 1e-6, which would let a solution worse by a micro-token/s pass as optimal).
Callers that change bounds (the Pareto tracer, the lexicographic tie-breaks) keep one model and
call `set_row_bounds` / `set_col_bounds` / `set_objective` between `solve` calls; HiGHS keeps the
matrix and only the changed vectors cross the Python boundary.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .formulation import Formulation, Sense
from .solution import SolveStatus, Solution


def _status_map(highspy) -> dict:
    s = highspy.HighsModelStatus
    return {
        s.kOptimal: SolveStatus.OPTIMAL,
        s.kInfeasible: SolveStatus.INFEASIBLE,
        s.kUnbounded: SolveStatus.UNBOUNDED,
        s.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
        s.kTimeLimit: SolveStatus.TIME_LIMIT,
    }


def _new_highs(highspy):
    """A bare HiGHS instance: the core class, because highspy.Highs() prints a banner to stdout
    (before any option can switch output off) and wraps `run` in interrupt-handling threads."""
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    return core() if core is not None else highspy.Highs()


class HighsModel:
    """A built HiGHS model of `formulation`. Mutable on purpose: bounds change between solves."""

    def __init__(self, formulation: Formulation, *, time_limit_s: float | None = None) -> None:
        import highspy

        self._highspy = highspy
        self.formulation = formulation
        h = _new_highs(highspy)
        for key, value in (("output_flag", False), ("log_to_console", False),
                           ("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0),
                           ("mip_heuristic_run_feasibility_jump", False)):
            h.setOptionValue(key, value)
        if time_limit_s is not None:
            h.setOptionValue("time_limit", float(time_limit_s))
        self._h = h
        self._status = _status_map(highspy)
        self._build()

    def _build(self) -> None:
        f, h, hp = self.formulation, self._h, self._highspy
        lb, ub = f.col_bounds()
        n = len(lb)
        empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0)
        h.addCols(n, np.zeros(n), lb, ub, 0, np.zeros(n, np.int32), empty_i, empty_f)
        integer = np.flatnonzero(f.integrality()).astype(np.int32)
        if len(integer):
            types = np.full(len(integer), hp.HighsVarType.kInteger)
            h.changeColsIntegrality(len(integer), integer, types)
        if f.num_rows:
            starts, cols, vals = f.csr()
            rlb, rub = f.row_bounds()
            h.addRows(f.num_rows, rlb, rub, len(cols), starts[:-1].astype(np.int32),
                      cols.astype(np.int32), vals)
        self.set_objective(f.objective, f.sense)

    # ---- changes between solves ---------------------------------------------------------------
    def set_objective(self, objective: Mapping[str, np.ndarray], sense: Sense) -> None:
        """Replace the whole objective (coefficients of blocks not named become 0)."""
        cost = self.formulation.objective_vector(objective)
        idx = np.arange(len(cost), dtype=np.int32)
        self._h.changeColsCost(len(cost), idx, cost)
        hp_sense = self._highspy.ObjSense
        self._h.changeObjectiveSense(hp_sense.kMaximize if sense is Sense.MAXIMIZE
                                     else hp_sense.kMinimize)

    def set_row_bounds(self, constraint: str, lb, ub, rows: np.ndarray | None = None) -> None:
        """New bounds for rows of one constraint block (all of them, or the block-local `rows`)."""
        idx, lb, ub = _block_bounds(self.formulation.row_slice(constraint), lb, ub, rows)
        if len(idx):
            self._h.changeRowsBounds(len(idx), idx, lb, ub)

    def set_col_bounds(self, var: str, lb, ub, index: np.ndarray | None = None) -> None:
        """New bounds for elements of one variable block (all, or the block-local `index`)."""
        idx, lb, ub = _block_bounds(self.formulation.col_slice(var), lb, ub, index)
        if len(idx):
            self._h.changeColsBounds(len(idx), idx, lb, ub)

    # ---- solving --------------------------------------------------------------------------------
    def solve(self) -> Solution:
        """Run HiGHS; values are rounded for integer columns (HiGHS returns them within 1e-6)."""
        self._h.run()
        raw = self._h.getModelStatus()
        if raw == self._highspy.HighsModelStatus.kModelEmpty:
            return self._solve_empty()
        status = self._status.get(raw, SolveStatus.ERROR)
        if status is not SolveStatus.OPTIMAL:
            return Solution(status)
        values = np.asarray(self._h.getSolution().col_value, dtype=float)
        integer = self.formulation.integrality()
        values[integer] = np.round(values[integer])
        return Solution(status, values, float(self._h.getInfo().objective_function_value))

    def _solve_empty(self) -> Solution:
        """No columns: every row's activity is 0, so the model is feasible iff 0 fits every row."""
        lb, ub = self._h.getLp().row_lower_, self._h.getLp().row_upper_
        if all(lo <= 0.0 <= hi for lo, hi in zip(lb, ub)):
            return Solution(SolveStatus.OPTIMAL, np.zeros(0), 0.0)
        return Solution(SolveStatus.INFEASIBLE)

    def values(self, var: str, solution: Solution) -> np.ndarray:
        """The slice of `solution.values` that belongs to variable block `var`."""
        assert solution.values is not None
        return solution.values[self.formulation.col_slice(var)]


def _block_bounds(block: slice, lb, ub, local: np.ndarray | None):
    """Global int32 indices of a block's (local) elements and their bounds broadcast to them."""
    local = np.arange(block.stop - block.start) if local is None else np.asarray(local)
    idx = (local + block.start).astype(np.int32)
    return (idx, np.broadcast_to(np.asarray(lb, float), idx.shape).copy(),
            np.broadcast_to(np.asarray(ub, float), idx.shape).copy())
