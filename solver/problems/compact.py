"""The compact replica problem: per engine-curve segment an integer replica count and an integer total
concurrency, with tokens/s and the SLO'd latencies piecewise-linear in concurrency — instead of one
integer column per (engine, concurrency) option.

Why: the enumerated problem (replica.py) has a column per option — every integer concurrency of
every engine — which is exact and, after the reduction, small for one request; but a model exported
for another solver, or a fleet of thousands of engines, grows with engines × concurrencies. Here it
grows with engines × breakpoints (pwl_fit.py), at a measured fitting error.

Per segment s of a curve (GPU count g, breakpoints b_l ≤ b_r, table tokens/s T_l, T_r there):

Variables  n_s ∈ {0..cap}  replicas on the segment;  C_s ∈ ℤ  their concurrencies added up
Rows       piecewise   b_l n_s ≤ C_s ≤ b_r n_s  (each replica can run an integer concurrency in [b_l, b_r])
           gpu_budget  Σ g_s n_s ≤ N;   min_replicas  Σ n_s ≥ 1
           slo_ttft / slo_tpot / slo_request_latency: per segment where the limit L bites, on the
             fitted latency ℓ_s(c) (the segment's chord) lifted to the table's ℓ(c) where the chord
             is below it, u_s(c) = max(ℓ_s(c), ℓ(c)):  C_s ≤ hi_s n_s  where the integer c with
             u_s(c) ≤ L start the segment (hi_s the last of them; b_l − 1 when none, which forces
             n_s = 0)  or  C_s ≥ lo_s n_s  where they end it (lo_s the first)
Objective  maximize Σ_s (a_s n_s + m_s C_s),  m_s = (T_r − T_l) / (b_r − b_l),  a_s = T_l − m_s b_l

Tokens/s is the λ-formulation with the weights eliminated: n replicas at concurrencies c_i in the
segment serve Σ_i chord(c_i) = a_s n + m_s Σ_i c_i, whatever the split of C_s, because the chord is
linear there; so no SOS2 binaries and no products are needed, and the LP relaxation is the convex
hull of the breakpoint options.

The SLO rows are the model's own (no option is cut before fitting), named by group and labelled by
segment, so an exported file carries them and a certificate relaxes them (dropping the group
readmits exactly the segments' SLO-breaking concurrencies). Why the row is on concurrency and not
the average fitted latency (a_ℓ n + m_ℓ C ≤ L n, also linear): the average lets one replica of two
run past the limit while the other runs below it. The fit keeps each latency monotone on a segment,
so u_s is monotone there too (the chord and the table rise or fall together) and the integer c with
u_s(c) ≤ L are a prefix or a suffix of the segment: "every replica's c is among them" is exactly one
of the two rows above, and the even split (⌊C/n⌋ or ⌈C/n⌉ per replica) stays inside.

A solution is inverted by splitting C_s as evenly as possible over n_s replicas (integers in [b_l,
b_r]) and re-evaluated on the table (`deployment`). What that guarantees (pwl_fit.py: each fitted
quantity q within its measured relative error e_q of the table at every integer concurrency, equal to
it at the breakpoints):
* conservative latencies: every plan the model admits meets every SLO on the table itself (u_s ≥ ℓ);
* exact at the breakpoints: every SLO-meeting option at a breakpoint concurrency is admitted at its
  table tokens/s (u_s's largest value on a segment is at an end, a table value), so the compact
  optimum is at least the enumerated optimum over the breakpoint rows;
* between them: the objective is within e_tokens of the plan's exact tokens/s (which is at most the
  enumerated optimum, the plan meeting the SLOs); every option whose latencies meet L / (1 + e_q) is
  admitted (its u_s is within the limit), so the compact optimum is at least (1 − e_tokens) × the
  enumerated optimum under the SLOs so tightened.
With tolerance 0 every segment is exactly straight at every integer point and the compact optimum
equals the enumerated one (tests/test_compact.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import SloKind
from sloplan.model.option_table import OptionTable

from ..deployment import Deployment
from ..formulation import Constraint, Formulation, Sense, Terms, Variable
from ..groups import ConstraintGroup
from ..slo import Slo
from .pwl_fit import TOKENS, CurveFit, chord, fit_table, quantities

_G = ConstraintGroup


@dataclass(frozen=True, eq=False)
class Segment:
    """One segment of a fitted curve: the compact model's two columns n, C."""

    fit: CurveFit
    left: int  # position of b_l in fit.breaks
    right: int  # position of b_r (== left for a one-point curve)

    def ends(self) -> tuple[int, int, float, float]:
        (i, j), curve = self._span(), self.fit.curve  # quantity 0 is tokens/s (pwl_fit.quantities)
        c, t = curve.concurrency, curve.values
        return int(c[i]), int(c[j]), float(t[i, 0]), float(t[j, 0])

    def slope_and_intercept(self) -> tuple[float, float]:
        bl, br, tl, tr = self.ends()
        if br == bl:
            return 0.0, tl  # one point (C = b n): tokens/s = T n
        m = (tr - tl) / (br - bl)
        return m, tl - m * bl

    def _span(self) -> tuple[int, int]:
        return int(self.fit.breaks[self.left]), int(self.fit.breaks[self.right])

    def fitted(self, quantity: str) -> np.ndarray:
        """The fitted `quantity` at every integer concurrency b_l..b_r (pwl_fit.chord)."""
        curve, (i, j) = self.fit.curve, self._span()
        return chord(curve.values, curve.concurrency.astype(float), i, j)[:, curve.quantities.index(quantity)]

    def table_values(self, quantity: str) -> np.ndarray:
        """The table's `quantity` at every integer concurrency b_l..b_r."""
        i, j = self._span()
        return self.fit.curve.column(quantity)[i:j + 1]

    def admitted(self, kind: SloKind, limit: float) -> np.ndarray:
        """Per integer concurrency b_l..b_r: whether the SLO row lets a replica run there — where both the
        fitted and the table latency meet `limit` (a prefix or a suffix of the segment, u_s being
        monotone; were it not, the longer run of the two: conservative all the same)."""
        ok = np.maximum(self.fitted(kind.field), self.table_values(kind.field)) <= limit
        head = len(ok) if ok.all() else int(np.argmin(ok))
        tail = len(ok) if ok.all() else int(np.argmin(ok[::-1]))
        out = np.zeros(len(ok), dtype=bool)
        if head >= tail:
            out[:head] = True
        else:
            out[len(ok) - tail:] = True
        return out

    def slo_row(self, kind: SloKind, limit: float) -> tuple[float, float, float] | None:
        """(coefficient k of n, lb, ub) of the row  lb ≤ C − k n ≤ ub  that keeps every replica's
        concurrency among the admitted ones (module docstring), or None where all of them are."""
        admitted, bl = self.admitted(kind, limit), int(self.fit.curve.concurrency[self._span()[0]])
        if admitted.all():
            return None
        if admitted[-1] and not admitted[0]:  # a suffix
            return float(bl + int(np.argmax(admitted))), 0.0, np.inf
        return float(bl + int(admitted.sum()) - 1), -np.inf, 0.0  # a prefix; none (b_l − 1) forces n = 0


@dataclass(frozen=True, eq=False)
class CompactProblem:
    """The compact Formulation, its fits and segments, and the map back to table rows."""

    table: OptionTable
    total_gpus: int
    fits: tuple[CurveFit, ...]
    segments: tuple[Segment, ...]
    formulation: Formulation

    @property
    def errors(self) -> dict[str, float]:
        """The stated bounds, per fitted quantity: max relative deviation of the fit from the table at
        any integer concurrency (attained: measured over every point)."""
        out: dict[str, float] = {}
        for f in self.fits:
            for q, e in f.errors.items():
                out[q] = max(out.get(q, 0.0), e)
        return out

    @property
    def fit_error(self) -> float:
        """The bound on fitted tokens/s (the objective's error)."""
        return self.errors.get(TOKENS, 0.0)

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


def _slo_constraints(segments: tuple[Segment, ...], slo: Slo) -> list[Constraint]:
    """One block per limited SLO (its group's name), a row per segment where the limit bites."""
    out = []
    for kind in SloKind:
        limit = slo.limit(kind)
        if limit is None:
            continue
        found = [(i, r) for i, s in enumerate(segments) if (r := s.slo_row(kind, limit)) is not None]
        at = np.array([i for i, _ in found], dtype=np.int64)
        k, lb, ub = (np.array([r[j] for _, r in found], dtype=float) for j in range(3))
        local = np.arange(len(found))
        terms = (Terms("c", local, at, np.ones(len(found))), Terms("n", local, at, -k))
        out.append(Constraint(kind.group.value, terms, lb, ub, kind.group, at))
    return out


def build_compact_problem(table: OptionTable, total_gpus: int, slo: Slo, tolerance: float = 0.0) -> CompactProblem:
    """Formulate the module docstring's MILP over the options that fit the budget (SLOs as rows)."""
    keep = np.flatnonzero(table.gpus <= total_gpus)
    limited = [k for k in SloKind if slo.limit(k) is not None]
    fits = tuple(fit_table(table, tolerance, keep, quantities(limited)))
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
        Constraint(_G.PIECEWISE.value, link, np.full(2 * S, -np.inf), np.zeros(2 * S), _G.PIECEWISE),
        *_slo_constraints(segments, slo))
    m, a = (np.array([s.slope_and_intercept() for s in segments]).T.reshape(2, S) if S
            else (np.zeros(0), np.zeros(0)))
    variables = (Variable("n", np.zeros(S), cap, integer=True),
                 Variable("c", np.zeros(S), cap * ends[:, 1], integer=True))
    formulation = Formulation(variables, constraints, {"n": a, "c": m}, Sense.MAXIMIZE)
    return CompactProblem(table, int(total_gpus), fits, segments, formulation)
