"""Option curves and their piecewise-linear fits: the data the compact formulation (compact.py) is built from.

A *curve* is one engine in one mode in one pool: its option-table rows at concurrency 1, 2, …, C (the
enumerated table holds every integer concurrency). Along a curve the GPU count is fixed and tokens/s
is a function of concurrency (`METRICS`: what is fitted).

Fitting: greedy, left to right — each segment is extended as far as the chord between its end points
stays within `tolerance` (relative) of the table at *every* integer concurrency it spans, for every
fitted metric. So the fitting error is measured, not estimated: `CurveFit.error` is the largest
relative deviation |chord(c) - table(c)| / |table(c)| over all integer c, and at the breakpoints the
fit equals the table exactly (a chord passes through its ends). Tolerance 0 keeps a breakpoint wherever
the curve is not exactly straight: the compact model is then exact at every integer concurrency.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.model.option_table import OptionTable

METRICS = ("tokens_per_s",)  # what is fitted; latencies enter the compact model exactly (the SLO cut)


@dataclass(frozen=True, eq=False)
class Curve:
    """Table rows of one (engine, mode, pool), ordered by concurrency (consecutive integers)."""

    rows: np.ndarray  # table row at concurrency[i]
    concurrency: np.ndarray
    gpus: int
    values: np.ndarray  # shape (len(rows), len(METRICS))


@dataclass(frozen=True, eq=False)
class CurveFit:
    """Breakpoints (positions into the curve) and the measured fitting error of the chords between them."""

    curve: Curve
    breaks: np.ndarray  # indices into curve.rows, first and last included, increasing
    error: float  # max relative deviation of the piecewise-linear fit from the table, over every point

    @property
    def concurrency(self) -> np.ndarray:
        return self.curve.concurrency[self.breaks]

    @property
    def values(self) -> np.ndarray:
        return self.curve.values[self.breaks]

    def interpolate(self, c: float) -> np.ndarray:
        """The fitted metrics at concurrency `c` (the compact model's values there)."""
        return np.array([np.interp(c, self.concurrency, self.values[:, m]) for m in range(len(METRICS))])


def curves(table: OptionTable, rows: np.ndarray | None = None) -> list[Curve]:
    """The table's curves (restricted to `rows`), each a run of consecutive concurrencies; a curve with a
    hole is split at it, so no fitted segment spans a concurrency the table does not price."""
    rows = np.arange(len(table)) if rows is None else np.asarray(rows)
    key = np.stack([table.engine_index[rows], table.mode[rows], table.pool[rows]], axis=1)
    order = np.lexsort((table.concurrency[rows], key[:, 2], key[:, 1], key[:, 0]))
    rows, key = rows[order], key[order]
    conc = table.concurrency[rows]
    cut = np.flatnonzero(np.any(key[1:] != key[:-1], axis=1) | (np.diff(conc) != 1)) + 1
    values = np.stack([getattr(table, m)[rows].astype(float) for m in METRICS], axis=1)
    out = []
    for part in np.split(np.arange(len(rows)), cut):
        if len(part):
            r = rows[part]
            out.append(Curve(r, conc[part].astype(np.int64), int(table.gpus[r[0]]), values[part]))
    return out


def _chord_error(values: np.ndarray, conc: np.ndarray, i: int, j: int) -> float:
    """Max relative error of the chord from point i to point j over the points between them."""
    if j - i < 2:
        return 0.0
    t = (conc[i:j + 1] - conc[i]) / (conc[j] - conc[i])
    chord = values[i] + t[:, None] * (values[j] - values[i])
    true = values[i:j + 1]
    return float(np.max(np.abs(chord - true) / np.maximum(np.abs(true), 1e-300)))


def fit_curve(curve: Curve, tolerance: float) -> CurveFit:
    """Greedy breakpoints within `tolerance` (see the module docstring)."""
    values, conc = curve.values, curve.concurrency.astype(float)
    last = len(conc) - 1
    breaks, error, i = [0], 0.0, 0
    while i < last:
        j = i + 1
        while j < last and _chord_error(values, conc, i, j + 1) <= tolerance:
            j += 1
        error = max(error, _chord_error(values, conc, i, j))
        breaks.append(j)
        i = j
    return CurveFit(curve, np.array(breaks, dtype=np.int64), error)


def fit_table(table: OptionTable, tolerance: float, rows: np.ndarray | None = None) -> list[CurveFit]:
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    return [fit_curve(c, tolerance) for c in curves(table, rows)]
