"""Pyomo: one model builder, any MILP solver Pyomo drives — HiGHS (appsi, through highspy) always, and
CBC, GLPK, SCIP, Gurobi, CPLEX where installed. Backend names: ``pyomo:<solver>``.

Why Pyomo at all when HiGHS is the default: it is how a user with a Gurobi or CPLEX licence runs the
same formulation on their solver, and a second, independent model builder checks ours (the
same-answer test, tests/test_solver_backends_all.py). pyomo is imported only when such a backend is
built or probed (it costs ~0.4 s), never by `sloplan.solver`.

Each solve builds a fresh ConcreteModel from the current state (state.py): one indexed integer/real
variable per formulation column and one ranged constraint per non-free row, so names in a Pyomo LP
file are Pyomo's (``x[3]``, ``c[12]``); `export` writes through HiGHS with the formulation's names
instead. Exactness: every solver gets relative *and* absolute MIP gap 0 (most default to 1e-4 or
1e-6, which would let a worse plan pass as optimal); the reported objective is recomputed from the
rounded values with the formulation's own costs.
"""
from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec

import numpy as np

from ..formulation import Formulation, Sense
from .base import EXACT, BackendResult, SolveOptions, SolveStatus, SolverError
from .state import StateBackend, finite


@dataclass(frozen=True)
class PyomoSolver:
    """How to reach one solver through Pyomo: its SolverFactory name, what it needs installed, and its
    option names for the exact base settings and the three limits (None: the solver has no such limit)."""

    factory: str
    needs: str  # what must be installed, in words (README backend table, error messages)
    executable: str | None  # a program on PATH it runs, or None
    module: str | None  # a Python module it imports, or None
    base: tuple[tuple[str, float], ...]
    time: str
    gap: str
    nodes: str | None


PYOMO_SOLVERS: dict[str, PyomoSolver] = {
    "highs": PyomoSolver("appsi_highs", "pyomo (highspy is a dependency already)", None, "highspy",
                         (("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0), ("output_flag", False)),
                         "time_limit", "mip_rel_gap", "mip_max_nodes"),
    "cbc": PyomoSolver("cbc", "pyomo and the `cbc` program", "cbc", None,
                       (("ratioGap", 0.0), ("allowableGap", 0.0)), "seconds", "ratioGap", "maxNodes"),
    "glpk": PyomoSolver("glpk", "pyomo and the `glpsol` program", "glpsol", None,
                        (("mipgap", 0.0),), "tmlim", "mipgap", None),
    "scip": PyomoSolver("scip", "pyomo and the `scip` program", "scip", None,
                        (("limits/gap", 0.0), ("limits/absgap", 0.0)), "limits/time", "limits/gap", "limits/nodes"),
    "gurobi": PyomoSolver("gurobi_direct", "pyomo and gurobipy with a licence", None, "gurobipy",
                          (("MIPGap", 0.0), ("MIPGapAbs", 0.0), ("OutputFlag", 0)), "TimeLimit", "MIPGap",
                          "NodeLimit"),
    "cplex": PyomoSolver("cplex_direct", "pyomo and the cplex Python package", None, "cplex",
                         (("mip_tolerances_mipgap", 0.0), ("mip_tolerances_absmipgap", 0.0)), "timelimit",
                         "mip_tolerances_mipgap", "mip_limits_nodes"),
}


@cache
def _pe():
    import pyomo.environ as pe

    return pe


def pyomo_available(solver: str) -> bool:
    """Whether `pyomo:<solver>` can run here: cheap checks first (module, program), then Pyomo's own."""
    spec = PYOMO_SOLVERS[solver]
    if find_spec("pyomo") is None or (spec.module and find_spec(spec.module) is None):
        return False
    if spec.executable and shutil.which(spec.executable) is None:
        return False
    try:
        return bool(_pe().SolverFactory(spec.factory).available(exception_flag=False))
    except Exception:  # a broken install or licence counts as not installed
        return False


@cache
def _status() -> dict:
    from pyomo.opt import TerminationCondition as T

    return {T.optimal: SolveStatus.OPTIMAL, T.locallyOptimal: SolveStatus.OPTIMAL,
            T.globallyOptimal: SolveStatus.OPTIMAL, T.infeasible: SolveStatus.INFEASIBLE,
            T.unbounded: SolveStatus.UNBOUNDED, T.infeasibleOrUnbounded: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
            T.maxTimeLimit: SolveStatus.TIME_LIMIT, T.maxEvaluations: SolveStatus.NODE_LIMIT,
            T.maxIterations: SolveStatus.NODE_LIMIT}


class PyomoBackend(StateBackend):
    """A Formulation solved through Pyomo with `solver` (a key of PYOMO_SOLVERS)."""

    solver: str = "highs"

    def __init__(self, formulation: Formulation) -> None:
        super().__init__(formulation)
        self._spec = PYOMO_SOLVERS[self.solver]

    def _options(self, options: SolveOptions) -> dict:
        spec, out = self._spec, dict(self._spec.base)
        if options.time_limit_s is not None:
            out[spec.time] = float(options.time_limit_s)
        if options.mip_gap > 0:
            out[spec.gap] = float(options.mip_gap)
        if options.node_limit is not None:
            if spec.nodes is None:
                raise SolverError(f"{self.name} has no node limit; use time_limit_s")
            out[spec.nodes] = int(options.node_limit)
        return out

    def _model(self):
        """A fresh ConcreteModel of the current state; None when a term-less row cannot hold (0 outside it)."""
        pe = _pe()
        from pyomo.core.expr.numeric_expr import LinearExpression

        m = pe.ConcreteModel()
        n = self.formulation.num_cols
        m.x = pe.Var(range(n), domain=pe.Reals)
        for j in range(n):
            m.x[j].domain = pe.Integers if self.integer[j] else pe.Reals
            m.x[j].setlb(finite(self.col_lb[j]))
            m.x[j].setub(finite(self.col_ub[j]))
        m.c = pe.ConstraintList()
        for r, (cols, vals) in enumerate(self.rows):
            lo, hi = finite(self.row_lb[r]), finite(self.row_ub[r])
            if lo is None and hi is None:
                continue
            if len(cols) == 0:
                if (lo or 0.0) > 0.0 or (hi if hi is not None else 0.0) < 0.0:
                    return None
                continue
            expr = LinearExpression(constant=0.0, linear_coefs=[float(v) for v in vals],
                                    linear_vars=[m.x[int(j)] for j in cols])
            m.c.add((lo, expr, hi))
        used = np.flatnonzero(self.cost)
        obj = LinearExpression(constant=0.0, linear_coefs=[float(self.cost[j]) for j in used],
                               linear_vars=[m.x[int(j)] for j in used])
        m.obj = pe.Objective(expr=obj, sense=pe.maximize if self.sense is Sense.MAXIMIZE else pe.minimize)
        return m

    def solve(self, options: SolveOptions = EXACT) -> BackendResult:
        if self.formulation.num_cols == 0:
            ok = bool(np.all(self.row_lb <= 0) and np.all(self.row_ub >= 0))
            return self.result(SolveStatus.OPTIMAL, np.zeros(0)) if ok else BackendResult(SolveStatus.INFEASIBLE)
        model = self._model()
        if model is None:
            return BackendResult(SolveStatus.INFEASIBLE)
        opt = _pe().SolverFactory(self._spec.factory)
        res = opt.solve(model, load_solutions=False, options=self._options(options))
        status = _status().get(res.solver.termination_condition, SolveStatus.ERROR)
        bound = self._bound(res)
        values = None
        if len(res.solution) and status in (SolveStatus.OPTIMAL, SolveStatus.TIME_LIMIT, SolveStatus.NODE_LIMIT):
            _load_quietly(model, res)
            values = [model.x[j].value or 0.0 for j in range(self.formulation.num_cols)]
        if status is SolveStatus.OPTIMAL and options.mip_gap > 0 and self.integer.any():
            out = self.result(SolveStatus.GAP_LIMIT, values, bound)
            return out if out.gap > 0 else self.result(SolveStatus.OPTIMAL, values, bound)
        return self.result(status, values, bound)

    def _bound(self, res) -> float | None:
        """The dual bound Pyomo reports (upper when maximizing), None when absent or infinite."""
        b = res.problem.upper_bound if self.sense is Sense.MAXIMIZE else res.problem.lower_bound
        try:
            b = float(b)
        except (TypeError, ValueError):
            return None
        return b if math.isfinite(b) else None


def _load_quietly(model, res) -> None:
    """Load a solution; Pyomo warns on stderr when the run was 'aborted' (a limit), which we report ourselves."""
    log = logging.getLogger("pyomo.core")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        model.solutions.load_from(res)
    finally:
        log.setLevel(level)


@cache
def backend_class(solver: str) -> type[PyomoBackend]:
    """The backend class registered as ``pyomo:<solver>`` (one subclass per solver, built once)."""
    if solver not in PYOMO_SOLVERS:
        raise KeyError(solver)
    return type(f"Pyomo_{solver}", (PyomoBackend,), {"solver": solver, "name": f"pyomo:{solver}"})
