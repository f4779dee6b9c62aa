"""OR-Tools' MIP wrapper (pywraplp) with the MILP solvers its wheel links: ``ortools:scip``, ``ortools:cbc``.

Why: OR-Tools is a second, independently built route to branch-and-bound solvers (SCIP and CBC come
inside the ortools wheel, nothing else to install), so the same formulation can be checked on solvers
other than HiGHS. Imported only when such a backend is built or probed (~0.15 s), never by
`sloplan.solver`.

Exactness: pywraplp's default relative MIP gap is 1e-4; every solve sets it to 0 (or to
`SolveOptions.mip_gap`) and SCIP's absolute gap to 0. Status: pywraplp says FEASIBLE when a limit
stopped it with an incumbent and NOT_SOLVED when it stopped without one; the limit that was set
names the status (time first, then nodes, then gap). CBC through pywraplp has no node limit: asking
for one is refused rather than ignored.
"""
from __future__ import annotations

from functools import cache

import numpy as np

from ..formulation import Formulation, Sense
from .base import EXACT, BackendResult, SolveOptions, SolveStatus, SolverError
from .state import StateBackend

# backend solver -> pywraplp solver id and its problem-type constant (to probe without creating one)
ORTOOLS_MIP_SOLVERS = {"scip": ("SCIP", "SCIP_MIXED_INTEGER_PROGRAMMING"),
                       "cbc": ("CBC", "CBC_MIXED_INTEGER_PROGRAMMING")}


@cache
def _lp():
    from ortools.linear_solver import pywraplp

    return pywraplp


def ortools_mip_available(solver: str) -> bool:
    """Whether the installed ortools wheel links `solver` (asked without creating a solver, which logs)."""
    from importlib.util import find_spec

    if find_spec("ortools") is None:
        return False
    lp = _lp()
    return bool(lp.Solver.SupportsProblemType(getattr(lp.Solver, ORTOOLS_MIP_SOLVERS[solver][1])))


class OrtoolsMipBackend(StateBackend):
    """A Formulation solved by pywraplp with `solver` (a key of ORTOOLS_MIP_SOLVERS)."""

    solver: str = "scip"

    def __init__(self, formulation: Formulation) -> None:
        super().__init__(formulation)
        self._id = ORTOOLS_MIP_SOLVERS[self.solver][0]

    def _model(self, options: SolveOptions):
        lp = _lp()
        s = lp.Solver.CreateSolver(self._id)
        if s is None:
            raise SolverError(f"{self.name}: the installed ortools does not link {self._id}")
        inf = s.infinity()
        bound = lambda v: max(min(float(v), inf), -inf)  # noqa: E731
        x = [s.IntVar(bound(lo), bound(hi), f"x{j}") if integer else s.NumVar(bound(lo), bound(hi), f"x{j}")
             for j, (lo, hi, integer) in enumerate(zip(self.col_lb, self.col_ub, self.integer))]
        for r, (cols, vals) in enumerate(self.rows):
            row = s.RowConstraint(bound(self.row_lb[r]), bound(self.row_ub[r]), f"r{r}")
            for j, v in zip(cols, vals):
                row.SetCoefficient(x[int(j)], float(v))
        obj = s.Objective()
        for j in np.flatnonzero(self.cost):
            obj.SetCoefficient(x[int(j)], float(self.cost[j]))
        obj.SetMaximization() if self.sense is Sense.MAXIMIZE else obj.SetMinimization()
        self._limits(s, options)
        return s, x

    def _limits(self, s, options: SolveOptions) -> None:
        if options.time_limit_s is not None:
            s.SetTimeLimit(max(1, int(round(options.time_limit_s * 1000))))
        if options.node_limit is not None:
            if self.solver != "scip":
                raise SolverError(f"{self.name} has no node limit; use time_limit_s")
            s.SetSolverSpecificParametersAsString(f"limits/nodes = {int(options.node_limit)}\n")
        elif self.solver == "scip":
            s.SetSolverSpecificParametersAsString("limits/absgap = 0\n")

    def solve(self, options: SolveOptions = EXACT) -> BackendResult:
        if self.formulation.num_cols == 0:
            ok = bool(np.all(self.row_lb <= 0) and np.all(self.row_ub >= 0))
            return self.result(SolveStatus.OPTIMAL, np.zeros(0)) if ok else BackendResult(SolveStatus.INFEASIBLE)
        lp = _lp()
        s, x = self._model(options)
        params = lp.MPSolverParameters()
        if self.integer.any():
            params.SetDoubleParam(params.RELATIVE_MIP_GAP, float(options.mip_gap))
        code = s.Solve(params)
        S = lp.Solver
        has_solution = code in (S.OPTIMAL, S.FEASIBLE)
        values = [v.solution_value() for v in x] if has_solution else None
        bound = float(s.Objective().BestBound()) if self.integer.any() and has_solution else None
        status = self._status(code, options)
        if status is SolveStatus.OPTIMAL and options.mip_gap > 0 and self.integer.any():
            out = self.result(SolveStatus.GAP_LIMIT, values, bound)
            return out if out.gap > 0 else self.result(SolveStatus.OPTIMAL, values, bound)
        return self.result(status, values, bound)

    def _status(self, code: int, options: SolveOptions) -> SolveStatus:
        S = _lp().Solver
        fixed = {S.OPTIMAL: SolveStatus.OPTIMAL, S.INFEASIBLE: SolveStatus.INFEASIBLE,
                 S.UNBOUNDED: SolveStatus.UNBOUNDED}
        if code in fixed:
            return fixed[code]
        if code in (S.FEASIBLE, S.NOT_SOLVED):
            if options.time_limit_s is not None:
                return SolveStatus.TIME_LIMIT
            if options.node_limit is not None:
                return SolveStatus.NODE_LIMIT
            if code == S.FEASIBLE and options.mip_gap > 0:
                return SolveStatus.GAP_LIMIT
        return SolveStatus.ERROR


@cache
def backend_class(solver: str) -> type[OrtoolsMipBackend]:
    """The backend class registered as ``ortools:<solver>``."""
    if solver not in ORTOOLS_MIP_SOLVERS:
        raise KeyError(solver)
    return type(f"OrtoolsMip_{solver}", (OrtoolsMipBackend,), {"solver": solver, "name": f"ortools:{solver}"})
