"""The solver-backend interface: what every backend (HiGHS, Pyomo, OR-Tools; registry.py) offers.

A backend is one built model of a `Formulation`, kept alive between solves: the Pareto tracer and the
lexicographic tie-breaks change bounds and objectives and solve again, so rebuilding per solve would
cost more than solving. The interface is in the formulation's own names (variable blocks, constraint
blocks or their `ConstraintGroup`), so problems and drivers never see a solver's indices.

Results are typed and honest: only `SolveStatus.OPTIMAL` means "proved optimal" (gap 0 with the
default `SolveOptions`). A run stopped by a time, node or gap limit reports that limit as its status,
with the incumbent (if any) and its relative gap, and `optimal` is False. The exact entry points
(`best_plan`, `pareto_plans`) turn it into a `SolverError` rather than a silently worse plan; under a
user's time limit the drivers' `*_within` variants return the incumbent with an `Outcome` saying what
is unproved (solver/limits.py).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import ClassVar
from collections.abc import Mapping

import numpy as np

from ..formulation import Formulation, Sense
from ..groups import ConstraintGroup


class SolveStatus(Enum):
    """Outcome of one solve. Only OPTIMAL carries values that callers may trust as optimal."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"  # stopped by SolveOptions.time_limit_s
    NODE_LIMIT = "node_limit"  # stopped by SolveOptions.node_limit
    GAP_LIMIT = "gap_limit"  # stopped with an incumbent within SolveOptions.mip_gap > 0, gap not closed
    ERROR = "error"


LIMITS = frozenset({SolveStatus.TIME_LIMIT, SolveStatus.NODE_LIMIT, SolveStatus.GAP_LIMIT})


class SolverError(RuntimeError):
    """The backend stopped without proving optimality or infeasibility."""


def solve_within_limits(backend, options) -> "BackendResult":
    """`backend.solve(options)` where a limit is an answer too (an incumbent, or none): the result when it
    is optimal, proved infeasible or stopped by a limit; SolverError on any other stop. The caller reads
    values only when `has_plan(result)`."""
    result = backend.solve(options)
    if not (result.infeasible or result.limited or (has_plan(result) and result.optimal)):
        raise SolverError(f"the solver stopped with status {result.status.value}")
    return result


def has_plan(result) -> bool:
    """Whether a result carries values to read a plan from (optimal or a limited incumbent)."""
    return not result.infeasible and result.values is not None


@dataclass(frozen=True)
class SolveOptions:
    """Solver-neutral limits. The default is exact: no time or node limit, relative gap 0."""

    time_limit_s: float | None = None
    mip_gap: float = 0.0  # relative gap at which a MIP may stop (then: GAP_LIMIT unless closed)
    node_limit: int | None = None  # branch-and-bound nodes; deterministic, unlike a time limit

    def __post_init__(self) -> None:
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s must be positive or None, got {self.time_limit_s!r}")
        if not (self.mip_gap >= 0 and math.isfinite(self.mip_gap)):
            raise ValueError(f"mip_gap must be a finite number >= 0, got {self.mip_gap!r}")
        if self.node_limit is not None and not (int(self.node_limit) == self.node_limit >= 0):
            raise ValueError(f"node_limit must be an integer >= 0 or None, got {self.node_limit!r}")


EXACT = SolveOptions()


@dataclass(frozen=True, eq=False)
class BackendResult:
    """One solve's outcome; arrays are in formulation order (use `SolverBackend.values`/`duals`).

    `values`/`objective`: the optimum, or under a limit the incumbent (None when there is none).
    `gap`: relative primal-dual gap of `objective` (0 when optimal; inf without an incumbent).
    `row_duals`/`col_duals`: d objective / d bound, where the solver offers them (HiGHS: LPs).
    """

    status: SolveStatus
    values: np.ndarray | None = None
    objective: float | None = None
    gap: float = math.inf
    dual_bound: float | None = None
    row_duals: np.ndarray | None = None
    col_duals: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.status is SolveStatus.OPTIMAL and (self.values is None or self.gap != 0):
            raise ValueError("an optimal result needs values and gap 0")

    @property
    def optimal(self) -> bool:
        return self.status is SolveStatus.OPTIMAL

    @property
    def infeasible(self) -> bool:
        return self.status in (SolveStatus.INFEASIBLE, SolveStatus.INFEASIBLE_OR_UNBOUNDED)

    @property
    def limited(self) -> bool:
        """Stopped by a limit (time, nodes, gap): possibly an incumbent, never a proof."""
        return self.status in LIMITS

    def proved_optimal(self) -> bool:
        """True when optimal, False when proved infeasible, SolverError on anything else (a limit, an
        error): the exact paths never return a silently non-optimal plan."""
        if self.infeasible:
            return False
        if not self.optimal:
            raise SolverError(f"the solver stopped with status {self.status.value}")
        return True


@dataclass(frozen=True)
class Iis:
    """An irreducible infeasible subsystem, in formulation names: removing any one of its rows (or
    column bounds) makes the rest feasible. `groups` are the constraint groups its rows belong to."""

    rows: tuple[str, ...]  # e.g. ("gpu_budget[0]", "slo_ttft[7]")
    columns: tuple[str, ...]  # columns whose bounds take part, e.g. ("n[3]",)
    groups: frozenset[ConstraintGroup]


class SolverBackend(ABC):
    """One built, re-solvable model of `formulation` (mutable on purpose: bounds change between solves).

    Implementations take the formulation in their constructor, so `backend_for(name)` returns the
    class itself as the factory. `duals` and `iis` return None where the solver offers nothing."""

    name: ClassVar[str]

    def __init__(self, formulation: Formulation) -> None:
        self.formulation = formulation

    @abstractmethod
    def set_objective(self, objective: Mapping[str, np.ndarray], sense: Sense) -> None:
        """Replace the whole objective (coefficients of blocks not named become 0)."""

    @abstractmethod
    def set_row_bounds(self, constraint: str | ConstraintGroup, lb, ub, rows: np.ndarray | None = None) -> None:
        """New bounds for rows of one constraint block (all of them, or the block-local `rows`)."""

    @abstractmethod
    def set_col_bounds(self, var: str, lb, ub, index: np.ndarray | None = None) -> None:
        """New bounds for elements of one variable block (all, or the block-local `index`)."""

    @abstractmethod
    def solve(self, options: SolveOptions = EXACT) -> BackendResult:
        """Solve the current model under `options`."""

    @abstractmethod
    def export(self, path: str | Path) -> Path:
        """Write the current model as LP (``.lp``) or MPS (``.mps``), chosen by the path's suffix."""

    def iis(self) -> Iis | None:
        """An IIS of the current (infeasible) model, or None when the solver offers or finds none."""
        return None

    def values(self, var: str, result: BackendResult) -> np.ndarray:
        """The slice of `result.values` that belongs to variable block `var`."""
        if result.values is None:
            raise ValueError(f"no values in a {result.status.value} result")
        return result.values[self.formulation.col_slice(var)]

    def duals(self, constraint: str | ConstraintGroup, result: BackendResult) -> np.ndarray | None:
        """Row duals of one constraint block, or None when the result carries none."""
        if result.row_duals is None:
            return None
        return result.row_duals[self.formulation.row_slice(constraint)]


EXPORT_SUFFIXES = (".lp", ".mps")


def export_suffix(path: str | Path) -> str:
    """The lower-case suffix of an export path, checked against the formats every backend writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(f"export path {str(path)!r} must end in .lp or .mps")
    return suffix
