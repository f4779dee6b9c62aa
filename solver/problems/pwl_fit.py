"""Option curves and their piecewise-linear fits: the data the compact formulation (compact.py) is
built from.

A *curve* is one engine in one mode in one pool: its option-table rows at concurrency 1, 2, …, C (the
enumerated table holds every integer concurrency). Along a curve the GPU count is fixed and tokens/s,
TTFT, TPOT and request latency are functions of concurrency; a fit covers tokens/s and the latencies
the caller names (those an SLO limits: the compact model has rows for them).

Fitting: greedy, left to right — each segment is extended as far as its chord stays within
`tolerance` (relative) of the table at *every* integer concurrency it spans, for every fitted
quantity, and each fitted latency stays monotone on it (table values never rising then falling, or
the reverse: what makes the compact model's SLO rows exact, compact.py). The fitting error is
measured, not estimated: `CurveFit.errors[q]` is the largest relative deviation
|chord(c) − table(c)| / table(c) of quantity q over all integer c, and at the breakpoints the fit is
the table exactly (a chord passes through its ends). Tolerance 0 keeps a breakpoint wherever a
fitted curve is not exactly straight: the compact model is then exact at every integer concurrency.

Why a two-sided error and not "chord never below the latency": the estimated curves wiggle
(kernel-table steps) with tiny concavities, so a one-sided chord needs a breakpoint at almost every
concurrency — on the quick-start instance (tokens/s, TTFT, TPOT fitted) 5,587 breakpoints at 1 %,
against 931 two-sided and 1,118 two-sided with monotone latencies (measured once, under load).
Conservatism is restored where it matters, in the SLO rows (compact.py: they admit a concurrency only
where both the fitted and the table latency meet the limit).

Rows whose fitted value is not a finite positive number (a latency the estimator could not price) are
left out and cut their curve, as a concurrency the table does not hold would: no limit admits them
(`Slo.violators` counts NaN as a violation), and no segment may interpolate across them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import SloKind
from sloplan.model.option_table import OptionTable

TOKENS = "tokens_per_s"  # always fitted (quantity 0); then the latencies (SloKind.field) an SLO limits


def quantities(kinds=()) -> tuple[str, ...]:
    """The fitted table columns: tokens/s, then the latencies of `kinds` (SloKind), in SloKind order."""
    return (TOKENS,) + tuple(k.field for k in SloKind if k in set(kinds))


@dataclass(frozen=True, eq=False)
class Curve:
    """Table rows of one (engine, mode, pool), ordered by concurrency (consecutive integers)."""

    rows: np.ndarray  # table row at concurrency[i]
    concurrency: np.ndarray
    gpus: int
    quantities: tuple[str, ...]
    values: np.ndarray  # shape (len(rows), len(quantities))

    def column(self, quantity: str) -> np.ndarray:
        return self.values[:, self.quantities.index(quantity)]


def chord(values: np.ndarray, conc: np.ndarray, i: int, j: int) -> np.ndarray:
    """Values of the chord from point i to point j at the points i..j (the one formula both the fit and
    the compact model's SLO rows evaluate); the ends are the table's values bit for bit."""
    if j == i:
        return values[i:i + 1].astype(float)
    t = (conc[i:j + 1] - conc[i]) / (conc[j] - conc[i])
    out = values[i] + t[:, None] * (values[j] - values[i])
    out[0], out[-1] = values[i], values[j]
    return out


@dataclass(frozen=True, eq=False)
class CurveFit:
    """Breakpoints (positions into the curve) and the measured fitting error of the chords between them."""

    curve: Curve
    breaks: np.ndarray  # indices into curve.rows, first and last included, increasing
    errors: dict[str, float]  # quantity -> max relative deviation of the fit from the table, every point

    @property
    def error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def concurrency(self) -> np.ndarray:
        return self.curve.concurrency[self.breaks]

    @property
    def values(self) -> np.ndarray:
        return self.curve.values[self.breaks]

    def interpolate(self, c: float, quantity: str = TOKENS) -> float:
        """The fitted `quantity` at concurrency `c` (the compact model's value there)."""
        return float(np.interp(c, self.concurrency, self.values[:, self.curve.quantities.index(quantity)]))


def curves(table: OptionTable, rows: np.ndarray | None = None, fitted: tuple[str, ...] = (TOKENS,)) -> list[Curve]:
    """The table's curves (restricted to `rows`), each a run of consecutive concurrencies; a curve with a
    hole (or a row whose fitted value is not finite and positive) is split there, so no fitted segment
    spans a concurrency the table does not price."""
    rows = np.arange(len(table)) if rows is None else np.asarray(rows)
    values = np.stack([getattr(table, q)[rows].astype(float) for q in fitted], axis=1)
    good = np.all(np.isfinite(values) & (values > 0), axis=1)
    rows, values = rows[good], values[good]
    key = np.stack([table.engine_index[rows], table.mode[rows], table.pool[rows]], axis=1)
    order = np.lexsort((table.concurrency[rows], key[:, 2], key[:, 1], key[:, 0]))
    rows, key, values = rows[order], key[order], values[order]
    conc = table.concurrency[rows]
    cut = np.flatnonzero(np.any(key[1:] != key[:-1], axis=1) | (np.diff(conc) != 1)) + 1
    out = []
    for part in np.split(np.arange(len(rows)), cut):
        if len(part):
            r = rows[part]
            out.append(Curve(r, conc[part].astype(np.int64), int(table.gpus[r[0]]), tuple(fitted), values[part]))
    return out


def _deviation(curve: Curve, i: int, j: int) -> np.ndarray:
    """Per quantity: the largest relative deviation of the chord i→j from the table between its ends;
    +inf for a latency whose table values are not monotone from i to j."""
    true = curve.values[i:j + 1]
    dev = np.max(np.abs(chord(curve.values, curve.concurrency.astype(float), i, j) - true) / true, axis=0)
    step = np.diff(true, axis=0)
    monotone = np.all(step >= 0, axis=0) | np.all(step <= 0, axis=0)
    latency = np.arange(len(curve.quantities)) > 0  # quantity 0 is tokens/s (`quantities`)
    return np.where(latency & ~monotone, np.inf, dev)


def fit_curve(curve: Curve, tolerance: float) -> CurveFit:
    """Greedy breakpoints within `tolerance` (see the module docstring)."""
    last = len(curve.rows) - 1
    breaks, worst, i = [0], np.zeros(len(curve.quantities)), 0
    while i < last:
        j = i + 1
        while j < last and np.all(_deviation(curve, i, j + 1) <= tolerance):
            j += 1
        worst = np.maximum(worst, _deviation(curve, i, j))
        breaks.append(j)
        i = j
    return CurveFit(curve, np.array(breaks, dtype=np.int64), dict(zip(curve.quantities, worst.tolist())))


def fit_table(table: OptionTable, tolerance: float, rows: np.ndarray | None = None,
              fitted: tuple[str, ...] = (TOKENS,)) -> list[CurveFit]:
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    return [fit_curve(c, tolerance) for c in curves(table, rows, fitted)]
