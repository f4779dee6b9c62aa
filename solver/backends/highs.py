"""HiGHS through highspy: the first `SolverBackend`, and the only module that imports highspy.

highspy is imported when the first model is built (`_hp`), never by importing `sloplan.solver`:
it costs ~50 ms to import and most CLI commands never solve anything. This module itself is light
and loads with the package, as the default backend that every solve uses.

Exact by default: ``mip_rel_gap = 0`` *and* ``mip_abs_gap = 0`` (the latter defaults to 1e-6, which
would let a solution worse by a micro-token/s pass as optimal). Options are applied per solve, only
where they differ from the last solve, so the hot path (many solves with the default options) sets
nothing. HiGHS keeps the matrix between solves; only changed vectors cross the Python boundary.
Duals: HiGHS returns them for LPs only (none for a MIP). IIS: highspy's `getIis` where the
installed highspy has it (1.16 does; checked at call time), computed on the LP relaxation — a model
infeasible only through integrality has none. Exported names write ``n[3]`` as ``n(3)``: HiGHS's
LP writer rejects brackets.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np

from ..formulation import Formulation, Sense
from ..groups import ConstraintGroup
from .base import EXACT, Iis, SolveOptions, BackendResult, SolverBackend, SolverError, SolveStatus, export_suffix


@cache
def _hp():
    """highspy, imported on first use."""
    import highspy

    return highspy


@cache
def _status() -> dict:
    s = _hp().HighsModelStatus
    return {
        s.kOptimal: SolveStatus.OPTIMAL,
        s.kInfeasible: SolveStatus.INFEASIBLE,
        s.kUnbounded: SolveStatus.UNBOUNDED,
        s.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
        s.kTimeLimit: SolveStatus.TIME_LIMIT,
        s.kSolutionLimit: SolveStatus.NODE_LIMIT,  # HiGHS's status for mip_max_nodes (we set no other)
    }


_BASE_OPTIONS = (("output_flag", False), ("log_to_console", False), ("mip_rel_gap", 0.0),
                 ("mip_abs_gap", 0.0), ("mip_heuristic_run_feasibility_jump", False))
_FEASIBLE = 2  # HiGHS SolutionStatus kSolutionStatusFeasible
_IIS_STRATEGY = 2 | 4  # kIisStrategyFromLp | kIisStrategyIrreducible: a true (irreducible) IIS


def _new_highs():
    """A bare HiGHS instance: the core class, because highspy.Highs() prints a banner to stdout
    (before any option can switch output off) and wraps `run` in interrupt-handling threads."""
    highspy = _hp()
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    return core() if core is not None else highspy.Highs()


def _highs_options(options: SolveOptions) -> dict:
    highspy = _hp()
    return {"time_limit": highspy.kHighsInf if options.time_limit_s is None else float(options.time_limit_s),
            "mip_rel_gap": float(options.mip_gap),
            "mip_max_nodes": highspy.kHighsIInf if options.node_limit is None else int(options.node_limit)}


def _export_name(name: str) -> str:
    return name.replace("[", "(").replace("]", ")")


class HighsBackend(SolverBackend):
    """A built HiGHS model of `formulation`."""

    name = "highs"

    def __init__(self, formulation: Formulation) -> None:
        super().__init__(formulation)
        h = _new_highs()
        for key, value in _BASE_OPTIONS:
            h.setOptionValue(key, value)
        self._h = h
        self._applied = _highs_options(EXACT)
        self._integer = formulation.integrality()
        self._named = False
        self._build()

    def _build(self) -> None:
        f, h = self.formulation, self._h
        lb, ub = f.col_bounds()
        n = len(lb)
        empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0)
        h.addCols(n, np.zeros(n), lb, ub, 0, np.zeros(n, np.int32), empty_i, empty_f)
        integer = np.flatnonzero(self._integer).astype(np.int32)
        if len(integer):
            types = np.full(len(integer), _hp().HighsVarType.kInteger)
            h.changeColsIntegrality(len(integer), integer, types)
        if f.num_rows:
            starts, cols, vals = f.csr()
            rlb, rub = f.row_bounds()
            h.addRows(f.num_rows, rlb, rub, len(cols), starts[:-1].astype(np.int32),
                      cols.astype(np.int32), vals)
        self.set_objective(f.objective, f.sense)

    # ---- changes between solves ---------------------------------------------------------------
    def set_objective(self, objective: Mapping[str, np.ndarray], sense: Sense) -> None:
        cost = self.formulation.objective_vector(objective)
        idx = np.arange(len(cost), dtype=np.int32)
        self._h.changeColsCost(len(cost), idx, cost)
        sense_ = _hp().ObjSense
        self._h.changeObjectiveSense(sense_.kMaximize if sense is Sense.MAXIMIZE else sense_.kMinimize)

    def set_row_bounds(self, constraint: str | ConstraintGroup, lb, ub, rows: np.ndarray | None = None) -> None:
        idx, lb, ub = _block_bounds(self.formulation.row_slice(constraint), lb, ub, rows)
        if len(idx):
            self._h.changeRowsBounds(len(idx), idx, lb, ub)

    def set_col_bounds(self, var: str, lb, ub, index: np.ndarray | None = None) -> None:
        idx, lb, ub = _block_bounds(self.formulation.col_slice(var), lb, ub, index)
        if len(idx):
            self._h.changeColsBounds(len(idx), idx, lb, ub)

    # ---- solving --------------------------------------------------------------------------------
    def _apply(self, options: SolveOptions) -> None:
        wanted = _highs_options(options)
        for key, value in wanted.items():
            if self._applied[key] != value:
                self._h.setOptionValue(key, value)
        self._applied = wanted

    def solve(self, options: SolveOptions = EXACT) -> BackendResult:
        """Run HiGHS; values are rounded for integer columns (HiGHS returns them within 1e-6)."""
        self._apply(options)
        self._h.run()
        raw = self._h.getModelStatus()
        if raw == _hp().HighsModelStatus.kModelEmpty:
            return self._solve_empty()
        status = _status().get(raw, SolveStatus.ERROR)
        if status is SolveStatus.OPTIMAL:
            return self._optimal(options)
        if status in (SolveStatus.TIME_LIMIT, SolveStatus.NODE_LIMIT):
            return self._incumbent(status)
        return BackendResult(status)

    def _values(self, solution) -> np.ndarray:
        values = np.asarray(solution.col_value, dtype=float)
        values[self._integer] = np.round(values[self._integer])
        return values

    def _optimal(self, options: SolveOptions) -> BackendResult:
        info, sol = self._h.getInfo(), self._h.getSolution()
        objective = float(info.objective_function_value)
        if not self._integer.any():  # an LP: proved optimal, duals where HiGHS has them
            duals = sol.dual_valid
            return BackendResult(SolveStatus.OPTIMAL, self._values(sol), objective, 0.0, objective,
                               np.asarray(sol.row_dual, float) if duals else None,
                               np.asarray(sol.col_dual, float) if duals else None)
        gap = float(info.mip_gap)
        if options.mip_gap > 0 and gap > 0:  # stopped inside the requested gap: not a proof
            return BackendResult(SolveStatus.GAP_LIMIT, self._values(sol), objective, gap, float(info.mip_dual_bound))
        return BackendResult(SolveStatus.OPTIMAL, self._values(sol), objective, 0.0, float(info.mip_dual_bound))

    def _incumbent(self, status: SolveStatus) -> BackendResult:
        info = self._h.getInfo()
        bound = float(info.mip_dual_bound) if self._integer.any() else None
        if info.primal_solution_status != _FEASIBLE:
            return BackendResult(status, dual_bound=bound)
        return BackendResult(status, self._values(self._h.getSolution()), float(info.objective_function_value),
                           max(float(info.mip_gap), 0.0), bound)

    def _solve_empty(self) -> BackendResult:
        """No columns: every row's activity is 0, so the model is feasible iff 0 fits every row."""
        lp = self._h.getLp()
        if all(lo <= 0.0 <= hi for lo, hi in zip(lp.row_lower_, lp.row_upper_)):
            return BackendResult(SolveStatus.OPTIMAL, np.zeros(0), 0.0, 0.0, 0.0)
        return BackendResult(SolveStatus.INFEASIBLE)

    # ---- certificates and files -----------------------------------------------------------------
    def iis(self) -> Iis | None:
        get_iis = getattr(self._h, "getIis", None)
        if get_iis is None:  # highspy before getIis
            return None
        self._h.setOptionValue("iis_strategy", _IIS_STRATEGY)
        status, found = get_iis()
        rows, cols = list(found.row_index_), list(found.col_index_)
        if status != _hp().HighsStatus.kOk or not found.valid_ or not (rows or cols):
            return None
        f = self.formulation
        owners = [f.row_owner(int(r)) for r in rows]
        return Iis(tuple(c.row_name(i) for c, i in owners), tuple(f.column_name(int(c)) for c in cols),
                   frozenset(c.group for c, _ in owners))

    def export(self, path: str | Path) -> Path:
        export_suffix(path)
        path = Path(path)
        self._pass_names()
        if self._h.writeModel(str(path)) == _hp().HighsStatus.kError:
            raise SolverError(f"HiGHS could not write {path}")
        return path

    def _pass_names(self) -> None:
        if self._named:
            return
        f = self.formulation
        for col in range(f.num_cols):
            self._h.passColName(col, _export_name(f.column_name(col)))
        row = 0
        for c in f.constraints:
            for i in range(c.rows):
                self._h.passRowName(row, _export_name(c.row_name(i)))
                row += 1
        self._named = True


def _block_bounds(block: slice, lb, ub, local: np.ndarray | None):
    """Global int32 indices of a block's (local) elements and their bounds broadcast to them."""
    local = np.arange(block.stop - block.start) if local is None else np.asarray(local)
    idx = (local + block.start).astype(np.int32)
    return (idx, np.broadcast_to(np.asarray(lb, float), idx.shape).copy(),
            np.broadcast_to(np.asarray(ub, float), idx.shape).copy())
