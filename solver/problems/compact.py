"""The compact replica problem: per engine-curve segment an integer replica count and an integer total
concurrency, with tokens/s piecewise-linear in concurrency — instead of one integer column per
(engine, concurrency) option.

Why: the enumerated problem (replica.py) has a column per option — every integer concurrency of
every engine — which is exact and, after the reduction, small for one request; but a model exported
for another solver, or a fleet of thousands of engines, grows with engines × concurrencies. Here it
grows with engines × breakpoints (pwl_fit.py), at a measured fitting error.

SLOs first: the option rows breaking an SLO are dropped before fitting (a curve is cut where an
option breaks one, pwl_fit.curves), so every integer concurrency inside a segment meets the SLOs by
the table's own values — latencies enter exactly, only tokens/s is fitted.

Per segment s of a curve (GPU count g, breakpoints b_l < b_r, table tokens/s T_l, T_r there):

Variables  n_s ∈ {0..cap}  replicas on the segment;  C_s ∈ ℤ  their concurrencies added up
Rows       piecewise   b_l n_s ≤ C_s ≤ b_r n_s  (each replica can run an integer concurrency in [b_l, b_r])
           gpu_budget  Σ g_s n_s ≤ N;   min_replicas  Σ n_s ≥ 1
Objective  maximize Σ_s (a_s n_s + m_s C_s),  m_s = (T_r - T_l) / (b_r - b_l),  a_s = T_l - m_s b_l

This is the λ-formulation with the weights eliminated: n replicas at concurrencies c_i in the
segment serve Σ_i chord(c_i) = a_s n + m_s Σ_i c_i tokens/s, whatever the split of C_s, because the
chord is linear there; so no SOS2 binaries and no products are needed and the LP relaxation is
the convex hull of the breakpoint options (as tight as the enumerated model's over those columns).
A curve of one point is a segment with b_l = b_r. A solution is inverted by splitting C_s as evenly
as possible over n_s replicas (integers in [b_l, b_r]) and re-evaluated on the table (`deployment`):
at breakpoints the fitted tokens/s *is* the table's, in between it is within `fit_error`. With
tolerance 0 every segment is exactly straight at every integer point and the compact optimum equals
the enumerated one (tests/test_compact.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.model.option_table import OptionTable

from ..deployment import Deployment
from ..formulation import Constraint, Formulation, Sense, Terms, Variable
from ..groups import ConstraintGroup
from ..slo import Slo
from .pwl_fit import METRICS, CurveFit, fit_table

_G = ConstraintGroup
_T = METRICS.index("tokens_per_s")


@dataclass(frozen=True, eq=False)
class Segment:
    """One segment of a fitted curve: the compact model's two columns n, C."""

    fit: CurveFit
    left: int  # position of b_l in fit.breaks
    right: int  # position of b_r (== left for a one-point curve)

    def ends(self) -> tuple[int, int, float, float]:
        c, t = self.fit.concurrency, self.fit.values[:, _T]
        return int(c[self.left]), int(c[self.right]), float(t[self.left]), float(t[self.right])

    def slope_and_intercept(self) -> tuple[float, float]:
        bl, br, tl, tr = self.ends()
        if br == bl:
            return 0.0, tl  # one point (C = b n): tokens/s = T n
        m = (tr - tl) / (br - bl)
        return m, tl - m * bl


@dataclass(frozen=True, eq=False)
class CompactProblem:
    """The compact Formulation, its fits and segments, and the map back to table rows."""

    table: OptionTable
    total_gpus: int
    fits: tuple[CurveFit, ...]
    segments: tuple[Segment, ...]
    formulation: Formulation

    @property
    def fit_error(self) -> float:
        """The stated bound: max relative deviation of fitted tokens/s from the table, at any concurrency."""
        return max((f.error for f in self.fits), default=0.0)

    @property
    def breakpoints(self) -> int:
        return sum(len(f.breaks) for f in self.fits)

    def fitted_tokens_per_s(self, counts: np.ndarray, concurrency: np.ndarray) -> float:
        """The compact objective of column values (n per segment, C per segment)."""
        m, a = np.array([s.slope_and_intercept() for s in self.segments]).T.reshape(2, -1)
        return float(a @ counts + m @ concurrency)

    def replicas(self, values: np.ndarray) -> dict[int, int]:
        """Table row -> replicas: each used segment's C split as evenly as possible over its n."""
        f = self.formulation
        n, C = np.rint(values[f.col_slice("n")]).astype(int), np.rint(values[f.col_slice("c")]).astype(int)
        counts: dict[int, int] = {}
        for i in np.flatnonzero(n > 0):
            curve = self.segments[i].fit.curve
            q, r = divmod(int(C[i]), int(n[i]))
            for conc, k in ((q + 1, r), (q, int(n[i]) - r)):
                if k:
                    row = int(curve.rows[int(np.searchsorted(curve.concurrency, conc))])
                    counts[row] = counts.get(row, 0) + k
        return counts

    def deployment(self, values: np.ndarray) -> Deployment | None:
        """The solution on the table's own rows, exactly re-evaluated (None when nothing is used)."""
        counts = self.replicas(values)
        return Deployment.from_counts(self.table, counts, self.total_gpus) if counts else None


def build_compact_problem(table: OptionTable, total_gpus: int, slo: Slo, tolerance: float = 0.0) -> CompactProblem:
    """Formulate the module docstring's MILP over the SLO-meeting options that fit the budget."""
    keep = np.flatnonzero((table.gpus <= total_gpus) & slo.allowed(table))
    fits = tuple(fit_table(table, tolerance, keep))
    segments = tuple(Segment(f, j, j + 1) for f in fits for j in range(len(f.breaks) - 1)) + tuple(
        Segment(f, 0, 0) for f in fits if len(f.breaks) == 1)
    S = len(segments)
    ends = np.array([s.ends() for s in segments]).reshape(S, 4)
    gpus = np.array([s.fit.curve.gpus for s in segments], dtype=float)
    cap = np.floor(total_gpus / np.maximum(gpus, 1))
    idx = np.arange(S)
    link = (Terms("n", idx, idx, ends[:, 0]), Terms("c", idx, idx, -np.ones(S)),
            Terms("n", idx + S, idx, -ends[:, 1]), Terms("c", idx + S, idx, np.ones(S)))
    constraints = (
        Constraint.weighted_sum(_G.GPU_BUDGET.value, "n", gpus, -np.inf, float(total_gpus), _G.GPU_BUDGET),
        Constraint.weighted_sum(_G.MIN_REPLICAS.value, "n", np.ones(S), 1.0, np.inf, _G.MIN_REPLICAS),
        Constraint(_G.PIECEWISE.value, link, np.full(2 * S, -np.inf), np.zeros(2 * S), _G.PIECEWISE))
    m, a = (np.array([s.slope_and_intercept() for s in segments]).T.reshape(2, S) if S
            else (np.zeros(0), np.zeros(0)))
    variables = (Variable("n", np.zeros(S), cap, integer=True),
                 Variable("c", np.zeros(S), cap * ends[:, 1], integer=True))
    formulation = Formulation(variables, constraints, {"n": a, "c": m}, Sense.MAXIMIZE)
    return CompactProblem(table, int(total_gpus), fits, segments, formulation)
