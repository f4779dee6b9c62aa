"""OR-Tools CP-SAT (``ortools:cp-sat``): exact on integer models whose coefficients scale to integers.

CP-SAT takes integer variables and integer coefficients only. The rule, stated once here: a model is
accepted when every column is integer with finite bounds and, per constraint row and for the
objective, some scale 10^k with k <= MAX_DIGITS makes every coefficient an integer (to within
FLOAT_NOISE_ULPS units in the last place: the float noise of 1234.5678 * 10^4, nothing coarser). Row bounds need
no such property: a scaled row's activity is an integer, so ``a x <= u`` holds exactly when
``s a x <= floor(s u)`` (and lower bounds round up) — no loss. Anything else is refused with
`BackendRefused` naming the first offending row or column, never rounded: rounding a tokens/s
coefficient would make CP-SAT exact for a different model. In practice the replica problem of a real
instance has measured, non-round tokens/s and is refused (use ``ortools:scip``); integer models
(GPU counts, synthetic grids, sizing by integer loads) are accepted.

CP-SAT has no node limit (a node limit is refused); a time limit that stops it with a solution is
TIME_LIMIT with its gap against CP-SAT's bound, without one a TIME_LIMIT with no incumbent.
"""
from __future__ import annotations

import math
import os
from functools import cache

import numpy as np

from ..formulation import Formulation, Sense
from .base import EXACT, BackendResult, SolveOptions, SolveStatus, SolverError
from .state import BackendRefused, StateBackend

MAX_DIGITS = 6
FLOAT_NOISE_ULPS = 4  # a scaled coefficient within 4 units in the last place of an integer is that integer
SCALE_TOLERANCE = 1e-9  # on scaled row bounds: float noise, far below one unit of activity
_INT_LIMIT = 2 ** 62  # CP-SAT's linear expressions must stay within int64 with room to spare


@cache
def _cp():
    from ortools.sat.python import cp_model

    return cp_model


def cpsat_available() -> bool:
    from importlib.util import find_spec

    return find_spec("ortools") is not None


def integral_scale(coef: np.ndarray) -> int | None:
    """The smallest 10^k (k <= MAX_DIGITS) making every coefficient integral, or None."""
    coef = np.asarray(coef, dtype=float)
    for k in range(MAX_DIGITS + 1):
        scaled = coef * 10.0 ** k
        if np.abs(scaled).max(initial=0.0) >= 2.0 ** 52:  # integers are no longer exact: nothing to check
            return None
        if np.all(np.abs(scaled - np.round(scaled)) <= FLOAT_NOISE_ULPS * np.spacing(np.abs(scaled))):
            return 10 ** k
    return None


class CpSatBackend(StateBackend):
    """A pure-integer Formulation solved by CP-SAT (see the module docstring for what is accepted)."""

    name = "ortools:cp-sat"

    def __init__(self, formulation: Formulation) -> None:
        super().__init__(formulation)
        if not self.integer.all():
            col = int(np.flatnonzero(~self.integer)[0])
            raise BackendRefused(f"{self.name} solves integer models only; column "
                                 f"{formulation.column_name(col)} is continuous (use ortools:scip)")
        self._scales = []
        for r, (_, vals) in enumerate(self.rows):
            scale = integral_scale(vals)
            if scale is None:
                block, i = formulation.row_owner(r)
                raise BackendRefused(f"{self.name}: row {block.row_name(i)} has a coefficient that is no "
                                     f"integer at 10^{MAX_DIGITS} scale (use ortools:scip)")
            self._scales.append(scale)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not (np.isfinite(self.col_lb).all() and np.isfinite(self.col_ub).all()):
            raise BackendRefused(f"{self.name} needs finite bounds on every column")
        return np.ceil(self.col_lb - 1e-9).astype(np.int64), np.floor(self.col_ub + 1e-9).astype(np.int64)

    def _objective(self) -> tuple[int, np.ndarray]:
        scale = integral_scale(self.cost)
        if scale is None:
            raise BackendRefused(f"{self.name}: an objective coefficient is no integer at 10^{MAX_DIGITS} scale "
                                 f"(real tokens/s are measured, not round: use ortools:scip)")
        return scale, np.round(self.cost * scale).astype(np.int64)

    def _model(self, lb: np.ndarray, ub: np.ndarray, cost: np.ndarray):
        cp = _cp()
        m = cp.CpModel()
        x = [m.new_int_var(int(lo), int(hi), f"x{j}") for j, (lo, hi) in enumerate(zip(lb, ub))]
        reach = np.maximum(np.abs(lb), np.abs(ub)).astype(float)
        for r, (cols, vals) in enumerate(self.rows):
            lo, hi, s = self.row_lb[r], self.row_ub[r], self._scales[r]
            if not (math.isfinite(lo) or math.isfinite(hi)):
                continue
            coefs = np.round(vals * s).astype(np.int64)
            if float(np.abs(coefs) @ reach[cols]) >= _INT_LIMIT:
                raise BackendRefused(f"{self.name}: row {r} can exceed CP-SAT's integer range")
            low = math.ceil(lo * s - SCALE_TOLERANCE * max(1.0, abs(lo * s))) if math.isfinite(lo) else -_INT_LIMIT
            high = math.floor(hi * s + SCALE_TOLERANCE * max(1.0, abs(hi * s))) if math.isfinite(hi) else _INT_LIMIT
            if low > high or (len(cols) == 0 and not low <= 0 <= high):
                return None, x  # no integer activity fits this row: infeasible as stated
            if len(cols):
                m.add_linear_constraint(sum(int(c) * x[int(j)] for j, c in zip(cols, coefs)), low, high)
        if float(np.abs(cost) @ reach) >= _INT_LIMIT:
            raise BackendRefused(f"{self.name}: the objective can exceed CP-SAT's integer range")
        if cost.any():  # a zero objective: any feasible point is optimal, CP-SAT needs no objective
            expr = sum(int(c) * x[j] for j, c in enumerate(cost) if c)
            m.maximize(expr) if self.sense is Sense.MAXIMIZE else m.minimize(expr)
        return m, x

    def solve(self, options: SolveOptions = EXACT) -> BackendResult:
        if options.node_limit is not None:
            raise SolverError(f"{self.name} has no node limit; use time_limit_s")
        if self.formulation.num_cols == 0:
            ok = bool(np.all(self.row_lb <= 0) and np.all(self.row_ub >= 0))
            return self.result(SolveStatus.OPTIMAL, np.zeros(0)) if ok else BackendResult(SolveStatus.INFEASIBLE)
        lb, ub = self._bounds()
        if np.any(lb > ub):
            return BackendResult(SolveStatus.INFEASIBLE)
        scale, cost = self._objective()
        model, x = self._model(lb, ub, cost)
        if model is None:
            return BackendResult(SolveStatus.INFEASIBLE)
        cp = _cp()
        solver = cp.CpSolver()
        solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
        solver.parameters.relative_gap_limit = float(options.mip_gap)
        solver.parameters.absolute_gap_limit = 0.0
        if options.time_limit_s is not None:
            solver.parameters.max_time_in_seconds = float(options.time_limit_s)
        code = solver.solve(model)
        if code == cp.INFEASIBLE:
            return BackendResult(SolveStatus.INFEASIBLE)
        if code not in (cp.OPTIMAL, cp.FEASIBLE):
            limited = code == cp.UNKNOWN and options.time_limit_s is not None
            return BackendResult(SolveStatus.TIME_LIMIT if limited else SolveStatus.ERROR)
        values = np.array([solver.value(v) for v in x], dtype=float)
        bound = float(solver.best_objective_bound) / scale
        if code == cp.OPTIMAL:
            out = self.result(SolveStatus.GAP_LIMIT, values, bound) if options.mip_gap > 0 else None
            return out if out is not None and out.gap > 0 else self.result(SolveStatus.OPTIMAL, values, bound)
        status = SolveStatus.TIME_LIMIT if options.time_limit_s is not None else SolveStatus.GAP_LIMIT
        return self.result(status, values, bound)
