"""A tiny, solver-independent modeling layer: named variable blocks, named constraint blocks, groups.

Why our own layer: every backend (HiGHS today, Pyomo/OR-Tools later) and every consumer (the Pareto
tracer changes bounds, the infeasibility explainer relaxes whole *groups* of constraints) needs the
same names. A general modeling library would cost start-up time and a per-row Python object;
here a block of rows is a handful of numpy arrays, so a 10,000-option model builds in milliseconds.

Naming: a variable block ``n`` of size k has elements ``n[0] .. n[k-1]`` (a block built from scalars
is a single variable named ``n``). A constraint block ``slo_ttft`` with row labels ``(3, 7)`` has rows
``slo_ttft[3]`` and ``slo_ttft[7]``. Every constraint block belongs to one `ConstraintGroup`; a
group with a single block can stand for it wherever a block name is expected (`block`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from collections.abc import Mapping

import numpy as np

from .groups import ConstraintGroup

_ELEMENT = re.compile(r"^(?P<block>[^\[\]]+)(\[(?P<index>\d+)\])?$")


class Sense(Enum):
    """Direction of the objective."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def _as_array(value, size: int | None, dtype=float) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(1 if size is None else size, arr.item(), dtype=dtype)
    return arr


@dataclass(frozen=True, eq=False)
class Variable:
    """A block of variables sharing one name and one type; `lb`/`ub` are scalars or arrays."""

    name: str
    lb: np.ndarray
    ub: np.ndarray
    integer: bool = False
    size: int | None = None  # needed only when both bounds are scalars and the block is not a scalar

    def __post_init__(self) -> None:
        scalar = np.ndim(self.lb) == 0 and np.ndim(self.ub) == 0 and self.size is None
        size = self.size if self.size is not None else (
            None if scalar else len(self.lb if np.ndim(self.lb) else self.ub))
        lb, ub = _as_array(self.lb, size), _as_array(self.ub, size)
        if lb.shape != ub.shape or lb.ndim != 1:
            raise ValueError(f"Variable {self.name}: lb and ub must be 1-D with equal length")
        object.__setattr__(self, "lb", lb)
        object.__setattr__(self, "ub", ub)
        object.__setattr__(self, "size", len(lb))
        object.__setattr__(self, "_scalar", scalar)

    def element_name(self, i: int) -> str:
        return self.name if self._scalar else f"{self.name}[{i}]"


@dataclass(frozen=True, eq=False)
class Terms:
    """Coefficients of one variable block in a block of rows (COO: row, element index, coef)."""

    var: str
    row: np.ndarray
    index: np.ndarray
    coef: np.ndarray

    def __post_init__(self) -> None:
        row = np.asarray(self.row, dtype=np.int64)
        index = np.asarray(self.index, dtype=np.int64)
        coef = np.asarray(self.coef, dtype=float)
        if not (row.shape == index.shape == coef.shape):
            raise ValueError(f"Terms of {self.var}: row, index and coef differ in length")
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "coef", coef)


def _terms_from_dict(name: str, terms: Mapping[str, float]) -> tuple[Terms, ...]:
    """Group single-row {element name: coef} entries by variable block."""
    by_block: dict[str, tuple[list[int], list[float]]] = {}
    for element, coef in terms.items():
        m = _ELEMENT.match(element)
        if m is None:
            raise ValueError(f"Constraint {name}: bad variable name {element!r}")
        idx, coefs = by_block.setdefault(m["block"], ([], []))
        idx.append(int(m["index"] or 0))
        coefs.append(float(coef))
    return tuple(Terms(b, np.zeros(len(i), int), i, c) for b, (i, c) in by_block.items())


@dataclass(frozen=True, eq=False)
class Constraint:
    """A block of rows lb <= A x <= ub with one name and one group (the unit of relaxation).

    `terms` is a tuple of `Terms` (vectorized, any number of rows) or, for a single row, a dict from
    element names (``"n[3]"``, scalar ``"x"``) to coefficients.
    """

    name: str
    terms: tuple[Terms, ...] | Mapping[str, float]
    lb: np.ndarray
    ub: np.ndarray
    group: ConstraintGroup
    labels: np.ndarray | None = None  # row labels for naming; default 0..rows-1

    def __post_init__(self) -> None:
        if not isinstance(self.group, ConstraintGroup):
            raise ValueError(f"Constraint {self.name}: group must be a ConstraintGroup, got {self.group!r}")
        lb, ub = np.atleast_1d(np.asarray(self.lb, float)), np.atleast_1d(np.asarray(self.ub, float))
        if isinstance(self.terms, Mapping):
            if len(lb) != 1:
                raise ValueError(f"Constraint {self.name}: dict terms describe exactly one row")
            object.__setattr__(self, "terms", _terms_from_dict(self.name, self.terms))
        if lb.shape != ub.shape:
            raise ValueError(f"Constraint {self.name}: lb and ub differ in length")
        for t in self.terms:
            if len(t.row) and (t.row.min() < 0 or t.row.max() >= len(lb)):
                raise ValueError(f"Constraint {self.name}: a term refers to a row outside the block")
        labels = np.arange(len(lb)) if self.labels is None else np.asarray(self.labels)
        if len(labels) != len(lb):
            raise ValueError(f"Constraint {self.name}: {len(labels)} labels for {len(lb)} rows")
        object.__setattr__(self, "lb", lb)
        object.__setattr__(self, "ub", ub)
        object.__setattr__(self, "labels", labels)

    @property
    def rows(self) -> int:
        return len(self.lb)

    def row_name(self, i: int) -> str:
        return f"{self.name}[{self.labels[i]}]"

    @staticmethod
    def single(name: str, terms: Mapping[str, float], lb: float, ub: float,
               group: ConstraintGroup) -> "Constraint":
        """One row from a dict of element names (``"n[3]"`` or a scalar ``"x"``) to coefficients."""
        return Constraint(name, dict(terms), np.array([lb]), np.array([ub]), group)

    @staticmethod
    def singletons(name: str, var: str, index: np.ndarray, lb, ub, group: ConstraintGroup) -> "Constraint":
        """Rows ``lb_i <= var[index_i] <= ub_i``: named bound constraints, labelled by the index."""
        index = np.asarray(index, dtype=np.int64)
        k = len(index)
        terms = Terms(var, np.arange(k), index, np.ones(k))
        return Constraint(name, (terms,), _as_array(lb, k), _as_array(ub, k), group, index)

    @staticmethod
    def weighted_sum(name: str, var: str, coef: np.ndarray, lb: float, ub: float,
                     group: ConstraintGroup) -> "Constraint":
        """One row ``lb <= sum_i coef_i var[i] <= ub`` over the whole block (zeros are skipped)."""
        coef = np.asarray(coef, dtype=float)
        index = np.flatnonzero(coef)
        terms = Terms(var, np.zeros(len(index), int), index, coef[index])
        return Constraint(name, (terms,), np.array([lb]), np.array([ub]), group)


@dataclass(frozen=True, eq=False)
class Formulation:
    """Variables, constraints and a linear objective (dense coefficients per variable block)."""

    variables: tuple[Variable, ...]
    constraints: tuple[Constraint, ...]
    objective: Mapping[str, np.ndarray]
    sense: Sense
    _col_offset: dict = field(init=False, repr=False)
    _row_offset: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cols, off = {}, 0
        for v in self.variables:
            if v.name in cols:
                raise ValueError(f"duplicate variable block {v.name}")
            cols[v.name], off = off, off + v.size
        rows, roff = {}, 0
        for c in self.constraints:
            if c.name in rows:
                raise ValueError(f"duplicate constraint block {c.name}")
            for t in c.terms:
                self._check_terms(c.name, t, cols)
            rows[c.name], roff = roff, roff + c.rows
        for name in self.objective:
            if name not in cols:
                raise ValueError(f"objective refers to unknown variable block {name}")
        object.__setattr__(self, "_col_offset", cols)
        object.__setattr__(self, "_row_offset", rows)

    def _check_terms(self, cname: str, t: Terms, cols: dict) -> None:
        if t.var not in cols:
            raise ValueError(f"Constraint {cname} refers to unknown variable block {t.var}")
        size = self.variable(t.var).size
        if len(t.index) and (t.index.min() < 0 or t.index.max() >= size):
            raise ValueError(f"Constraint {cname}: index outside variable block {t.var}")

    # ---- lookup -------------------------------------------------------------------------------
    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)

    def constraint(self, name: str) -> Constraint:
        return next(c for c in self.constraints if c.name == name)

    def block(self, key: str | ConstraintGroup) -> Constraint:
        """The constraint block named `key`, or the only block of group `key`."""
        if not isinstance(key, ConstraintGroup):
            return self.constraint(key)
        blocks = [c for c in self.constraints if c.group is key]
        if len(blocks) != 1:
            raise KeyError(f"group {key.value} has {len(blocks)} constraint blocks, not one")
        return blocks[0]

    @property
    def num_cols(self) -> int:
        return sum(v.size for v in self.variables)

    @property
    def num_rows(self) -> int:
        return sum(c.rows for c in self.constraints)

    def col_slice(self, var: str) -> slice:
        start = self._col_offset[var]
        return slice(start, start + self.variable(var).size)

    def row_slice(self, constraint: str | ConstraintGroup) -> slice:
        block = self.block(constraint)
        start = self._row_offset[block.name]
        return slice(start, start + block.rows)

    def row_owner(self, row: int) -> tuple[Constraint, int]:
        """The block holding global row `row`, and the row's position inside it."""
        for c in self.constraints:
            start = self._row_offset[c.name]
            if start <= row < start + c.rows:
                return c, row - start
        raise IndexError(f"row {row} outside a model of {self.num_rows} rows")

    def column_name(self, col: int) -> str:
        """Element name of global column `col` (``"n[3]"``)."""
        for v in self.variables:
            start = self._col_offset[v.name]
            if start <= col < start + v.size:
                return v.element_name(col - start)
        raise IndexError(f"column {col} outside a model of {self.num_cols} columns")

    def column(self, element: str) -> int:
        """Global column of an element name such as ``"n[3]"``."""
        m = _ELEMENT.match(element)
        if m is None or m["block"] not in self._col_offset:
            raise KeyError(element)
        return self._col_offset[m["block"]] + int(m["index"] or 0)

    def groups(self) -> dict[ConstraintGroup, tuple[str, ...]]:
        """Group -> names of its constraint blocks, in formulation order."""
        out: dict[ConstraintGroup, list[str]] = {}
        for c in self.constraints:
            out.setdefault(c.group, []).append(c.name)
        return {g: tuple(names) for g, names in out.items()}

    def without_groups(self, groups: set[ConstraintGroup] | frozenset[ConstraintGroup]) -> "Formulation":
        """The same model with every constraint block of `groups` removed (relaxation)."""
        kept = tuple(c for c in self.constraints if c.group not in groups)
        return Formulation(self.variables, kept, self.objective, self.sense)

    # ---- dense/sparse views for backends --------------------------------------------------------
    def col_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([v.lb for v in self.variables]),
                np.concatenate([v.ub for v in self.variables]))

    def integrality(self) -> np.ndarray:
        return np.concatenate([np.full(v.size, v.integer) for v in self.variables])

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.constraints:
            return np.zeros(0), np.zeros(0)
        return (np.concatenate([c.lb for c in self.constraints]),
                np.concatenate([c.ub for c in self.constraints]))

    def objective_vector(self, objective: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        cost = np.zeros(self.num_cols)
        for name, coef in (self.objective if objective is None else objective).items():
            cost[self.col_slice(name)] = coef
        return cost

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global (row, col, coef) triplets of the constraint matrix."""
        rows, cols, vals = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
        for c in self.constraints:
            r0 = self._row_offset[c.name]
            for t in c.terms:
                rows.append(t.row + r0)
                cols.append(t.index + self._col_offset[t.var])
                vals.append(t.coef)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row-wise compressed matrix (starts, column indices, values)."""
        rows, cols, vals = self.coo()
        order = np.argsort(rows, kind="stable")
        starts = np.zeros(self.num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.num_rows), out=starts[1:])
        return starts, cols[order], vals[order]
