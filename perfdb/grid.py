"""Grid: a dense table of log-utilization over numeric axes, interpolated piecewise-linearly in log2 space.

Why this shape: the silicon tables are ragged (not every (n, k) GEMM shape, not every (heads, kv-heads)
pair was collected). Densifying once and filling the holes by 1-D interpolation along the axes (then by
holding the nearest value) turns every query into plain multilinear interpolation — a handful of
vectorized gathers, no per-element Python. Every cell remembers how it was obtained (MEASURED,
INTERPOLATED fill, EXTRAPOLATED hold) so a query reports the least-trusted cell it touched.

Values are log(util): interpolating log(util) linearly in log2(coordinate) is exact for power laws, which
is what latency is piecewise (constant launch floor, ∝ tokens, ∝ seq²).
"""
from __future__ import annotations

import numpy as np

from .tier import Tier

MAX_EXTRAP_OCTAVES = 2.0  # beyond this distance from the measured range a hold becomes ROOFLINE-tier
_SNAP = 1e-9


class Grid:
    """Dense filled grid. `axes[i]` are sorted raw keys; `lu` log-util and `tier` have shape len(axes[i])."""

    def __init__(self, axes: list[np.ndarray], lu: np.ndarray, tier: np.ndarray):
        self.axes = [np.asarray(a, dtype=np.float64) for a in axes]
        self.log_axes = [np.log2(a) for a in self.axes]
        self.lu = lu
        self.tier = tier

    @classmethod
    def from_points(cls, coords: list[np.ndarray], lu: np.ndarray, fill_order: list[int] | None = None) -> "Grid":
        """Densify scattered points (duplicates averaged) and fill the holes."""
        axes = [np.unique(np.asarray(c, dtype=np.float64)) for c in coords]
        shape = tuple(len(a) for a in axes)
        flat = np.ravel_multi_index(tuple(np.searchsorted(a, c) for a, c in zip(axes, coords)), shape)
        return cls.from_flat(axes, flat, lu, fill_order)

    @classmethod
    def from_flat(cls, axes, flat: np.ndarray, lu: np.ndarray, fill_order=None, linear_axes=(),
                  log_sol=None, primary_axes=()) -> "Grid":
        """Densify from flat cell indices (the cache's compact form). `linear_axes` are filled by
        interpolating latency (exp(log_sol − lu), `log_sol` = dense log SOL per cell) linearly in raw x."""
        shape = tuple(len(a) for a in axes)
        total = np.zeros(int(np.prod(shape)))
        count = np.zeros_like(total)
        np.add.at(total, flat, lu)
        np.add.at(count, flat, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dense = (total / count).reshape(shape)
        log_axes = [np.log2(np.asarray(a, dtype=np.float64)) for a in axes]
        order = list(range(len(axes))) if fill_order is None else list(fill_order)
        dense, tier = fill_holes(dense, log_axes, order, linear_axes, log_sol, primary_axes)
        return cls(axes, dense, tier)

    def query(self, coords: list) -> tuple[np.ndarray, np.ndarray]:
        """log-util and tier at the points given per axis (scalars or broadcastable arrays)."""
        lu, tier = self.lu, self.tier
        floor_tier = np.int8(Tier.MEASURED)
        array_axes = []
        for i, c in enumerate(coords):
            if np.ndim(c) == 0:
                j, w, beyond = _bracket(self.log_axes[i], np.log2(max(float(c), 1e-30)))
                lu, tier = _contract(lu, tier, axis=len(array_axes), j=int(j), w=float(w))
                floor_tier = max(floor_tier, _axis_tier(w, beyond))
            else:
                array_axes.append(i)
        if not array_axes:
            return np.asarray(lu, dtype=np.float64), np.asarray(max(int(tier), floor_tier), dtype=np.int8)
        arrays = np.broadcast_arrays(*[np.asarray(coords[i], dtype=np.float64) for i in array_axes])
        out_lu, out_tier = _multilinear(lu, tier, [self.log_axes[i] for i in array_axes], arrays)
        return out_lu, np.maximum(out_tier, floor_tier).astype(np.int8)


    def query_latency(self, scalars: list[float], arrays: list, sol_fn) -> tuple[np.ndarray, np.ndarray]:
        """Latency (not util) at scalar leading axes and array trailing axes: the scalar axes are contracted
        in log-util space, then the trailing axes interpolate *latency* linearly in raw coordinates
        (decode latency ≈ floor + c·batch·kv_len is bilinear there; log-log util is not exact).
        `sol_fn(*trailing_coords)` is the SOL at the query's scalar values. Outside the measured range the
        boundary util is held: latency = interp(clamped) · SOL(query) / SOL(clamped)."""
        lu, tier = self.lu, self.tier
        floor_tier = np.int8(Tier.MEASURED)
        for c, log_axis in zip(scalars, self.log_axes):
            j, w, beyond = _bracket(log_axis, np.log2(max(float(c), 1e-30)))
            lu, tier = _contract(lu, tier, axis=0, j=int(j), w=float(w))
            floor_tier = max(floor_tier, _axis_tier(w, beyond))
        raw_axes = self.axes[len(scalars):]
        arrays = np.broadcast_arrays(*[np.maximum(np.asarray(a, dtype=np.float64), 1e-30) for a in arrays])
        clamped = [np.clip(a, ax[0], ax[-1]) for a, ax in zip(arrays, raw_axes)]
        nodes = np.meshgrid(*raw_axes, indexing="ij", sparse=True)
        lat_nodes = sol_fn(*nodes) / np.exp(lu)
        brackets = [_raw_bracket(ax, x) for ax, x in zip(raw_axes, arrays)]
        lat, out_tier = _corner_sum(lat_nodes, tier, brackets)
        lat = lat * sol_fn(*arrays) / sol_fn(*clamped)
        for j, w, beyond in brackets:
            out_tier = np.maximum(out_tier, _axis_tier(w, beyond))
        return lat, np.maximum(out_tier, floor_tier).astype(np.int8)


def _raw_bracket(axis: np.ndarray, x):
    """Like `_bracket` but the weight is linear in the raw coordinate; `beyond` is still in octaves."""
    j, _, beyond = _bracket(np.log2(axis), np.log2(x))
    if len(axis) == 1:
        return j, np.zeros_like(x), beyond
    xc = np.clip(x, axis[0], axis[-1])
    w = (xc - axis[j]) / (axis[j + 1] - axis[j])
    w = np.where(w < _SNAP, 0.0, np.where(w > 1.0 - _SNAP, 1.0, w))
    return j, w, beyond


def _corner_sum(values, tier, brackets):
    """Σ over the 2^d bracket corners of weight · value (and the worst tier of corners with weight > 0)."""
    shape = values.shape
    flat_v, flat_t = values.ravel(), tier.ravel()
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    out_shape = np.shape(brackets[0][1])
    out, out_tier = np.zeros(out_shape), np.zeros(out_shape, dtype=np.int8)
    for corner in range(1 << len(brackets)):
        idx = np.zeros(out_shape, dtype=np.int64)
        weight = np.ones(out_shape)
        for d, (j, w, _) in enumerate(brackets):
            hi = (corner >> d) & 1
            idx += np.minimum(j + hi, shape[d] - 1) * strides[d]
            weight = weight * (w if hi else 1.0 - w)
        out += weight * flat_v[idx]
        out_tier = np.maximum(out_tier, np.where(weight > 0, flat_t[idx], 0).astype(np.int8))
    return out, out_tier


def _bracket(log_axis: np.ndarray, x):
    """Lower index, weight in [0, 1] (snapped at exact keys) and octaves beyond the measured range."""
    n = len(log_axis)
    beyond = np.maximum(np.maximum(log_axis[0] - x, x - log_axis[-1]), 0.0)
    if n == 1:
        return np.zeros_like(x, dtype=np.int64), np.zeros_like(x, dtype=np.float64), beyond
    j = np.clip(np.searchsorted(log_axis, x, side="right") - 1, 0, n - 2)
    xc = np.clip(x, log_axis[0], log_axis[-1])
    w = (xc - log_axis[j]) / (log_axis[j + 1] - log_axis[j])
    w = np.where(w < _SNAP, 0.0, np.where(w > 1.0 - _SNAP, 1.0, w))
    return j, w, beyond


def _axis_tier(w, beyond):
    """Tier implied by one axis: exact key → MEASURED, inside → INTERPOLATED, outside → EXTRAPOLATED/ROOFLINE."""
    inexact = (w > 0) & (w < 1)
    t = np.where(inexact, Tier.INTERPOLATED, Tier.MEASURED)
    t = np.where(beyond > 0, Tier.EXTRAPOLATED, t)
    t = np.where(beyond > MAX_EXTRAP_OCTAVES, Tier.ROOFLINE, t)
    return t.astype(np.int8) if np.ndim(t) else np.int8(t)


def _contract(lu, tier, axis: int, j: int, w: float):
    """Interpolate one axis away at a scalar coordinate (cheap: only two slices are touched)."""
    a = np.take(lu, j, axis=axis)
    ta = np.take(tier, j, axis=axis)
    if w == 0.0 or lu.shape[axis] == 1:
        return a, ta
    b = np.take(lu, j + 1, axis=axis)
    tb = np.take(tier, j + 1, axis=axis)
    if w == 1.0:
        return b, tb
    return a * (1.0 - w) + b * w, np.maximum(ta, tb)


def _multilinear(lu, tier, log_axes, arrays):
    """Multilinear interpolation over the remaining axes with array coordinates: 2^d vectorized gathers."""
    shape = lu.shape
    flat_lu, flat_tier = lu.ravel(), tier.ravel()
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    brackets = [_bracket(la, np.log2(np.maximum(x, 1e-30))) for la, x in zip(log_axes, arrays)]
    out = np.zeros(arrays[0].shape)
    out_tier = np.zeros(arrays[0].shape, dtype=np.int8)
    for corner in range(1 << len(arrays)):
        idx = np.zeros(arrays[0].shape, dtype=np.int64)
        weight = np.ones(arrays[0].shape)
        for d, (j, w, _) in enumerate(brackets):
            hi = (corner >> d) & 1
            idx += (np.minimum(j + hi, shape[d] - 1)) * strides[d]
            weight = weight * (w if hi else 1.0 - w)
        out += weight * flat_lu[idx]
        out_tier = np.maximum(out_tier, np.where(weight > 0, flat_tier[idx], 0).astype(np.int8))
    for j, w, beyond in brackets:
        out_tier = np.maximum(out_tier, _axis_tier(w, beyond))
    return out, out_tier


def _axis_interp(v, ax, log_axis, linear: bool, log_sol):
    """1-D interpolation of every cell along `ax`: log-util linear in log2(x), or — on a `linear_axes` axis —
    latency (exp(log_sol − lu)) linear in raw x, converted back to log-util. Returns (estimate, width)."""
    if not linear or log_sol is None:
        return _axis_estimate(v, ax, log_axis, "interp", with_width=True)
    with np.errstate(over="ignore"):
        lat = np.exp(log_sol - v)
    est, width = _axis_estimate(lat, ax, log_axis, "interp", with_width=True, weight_axis=2.0 ** log_axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return log_sol - np.log(est), width


def fill_holes(dense: np.ndarray, log_axes: list[np.ndarray], order: list[int], linear_axes=(), log_sol=None,
               primary_axes=()):
    """Fill NaN cells. Interior holes: every axis along which the hole has a valid neighbour on both sides
    gives a 1-D interpolation; they are averaged with weights 1/(bracket width in octaves), so the
    tightest brackets dominate (leave-one-out: lower p90 than any single axis). A hole bracketed along one
    of `primary_axes` uses only those (generation attention: the kv axis, where latency is affine).
    Repeated until nothing changes; then the remaining (outside) holes hold the nearest value along the
    first axis in `order`."""
    v = dense.copy()
    tier = np.where(np.isnan(v), -1, Tier.MEASURED).astype(np.int8)
    while np.isnan(v).any():
        num, den = np.zeros((2,) + v.shape), np.zeros((2,) + v.shape)
        for ax in order:
            est, width = _axis_interp(v, ax, log_axes[ax], ax in linear_axes, log_sol)
            ok = ~np.isnan(est)
            for lvl in (0, 1) if ax in primary_axes else (0,):
                num[lvl][ok] += est[ok] / width[ok]
                den[lvl][ok] += 1.0 / width[ok]
        num, den = np.where(den[1] > 0, num[1], num[0]), np.where(den[1] > 0, den[1], den[0])
        holes = np.isnan(v) & (den > 0)
        if not holes.any():
            break
        v[holes] = num[holes] / den[holes]
        tier[holes] = Tier.INTERPOLATED
    while np.isnan(v).any():
        for ax in order:
            est = _axis_estimate(v, ax, log_axes[ax], "hold")
            holes = np.isnan(v) & ~np.isnan(est)
            v[holes] = est[holes]
            tier[holes] = Tier.EXTRAPOLATED
    return v, tier


def _axis_estimate(v: np.ndarray, axis: int, log_axis: np.ndarray, mode: str, with_width: bool = False,
                   weight_axis: np.ndarray | None = None):
    """Per cell: linear interpolation between the nearest valid cells before/after it along `axis`
    ("interp"; NaN unless both exist; weights from `weight_axis` if given, else `log_axis`), or the
    nearest valid one ("hold"). Widths are always in octaves."""
    a = np.moveaxis(v, axis, -1)
    n = a.shape[-1]
    pos = np.arange(n)
    valid = ~np.isnan(a)
    prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(valid, pos, n)[..., ::-1], axis=-1)[..., ::-1]
    has_prev, has_next = prev >= 0, nxt < n
    pv = np.take_along_axis(a, np.clip(prev, 0, n - 1), axis=-1)
    nv = np.take_along_axis(a, np.clip(nxt, 0, n - 1), axis=-1)
    if mode == "interp":
        wa = log_axis if weight_axis is None else weight_axis
        xp, xn = log_axis[np.clip(prev, 0, n - 1)], log_axis[np.clip(nxt, 0, n - 1)]
        wp, wn = wa[np.clip(prev, 0, n - 1)], wa[np.clip(nxt, 0, n - 1)]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = (wa[pos] - wp) / (wn - wp)
        est = np.where(has_prev & has_next, pv * (1 - w) + nv * w, np.nan)
        if with_width:
            return np.moveaxis(est, -1, axis), np.moveaxis(np.maximum(xn - xp, 1e-12), -1, axis)
    else:
        dprev = np.where(has_prev, log_axis[pos] - log_axis[np.clip(prev, 0, n - 1)], np.inf)
        dnext = np.where(has_next, log_axis[np.clip(nxt, 0, n - 1)] - log_axis[pos], np.inf)
        est = np.where(dprev <= dnext, np.where(has_prev, pv, np.nan), np.where(has_next, nv, np.nan))
    return np.moveaxis(est, -1, axis)


def leave_one_out(axes: list[np.ndarray], flat: np.ndarray, lu: np.ndarray, order: list[int],
                  cells: np.ndarray, linear_axes=(), log_sol=None, primary_axes=()) -> tuple[np.ndarray, np.ndarray]:
    """Estimate of each measured cell in `cells` with that cell removed, as `fill_holes` would fill it:
    the 1/width-weighted mean of the 1-D interpolations between its nearest *measured* neighbours along
    every axis that brackets it, else the nearest measured value along the first axis in `order` that has
    one. Returns (estimates, bracketed).
    Used by bench/perfdb_loo.py and the tests, so the measured accuracy is that of the shipped scheme."""
    shape = tuple(len(a) for a in axes)
    total, count = np.zeros(int(np.prod(shape))), np.zeros(int(np.prod(shape)))
    np.add.at(total, flat, lu)
    np.add.at(count, flat, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dense = (total / count).reshape(shape)
    log_axes = [np.log2(np.asarray(a, dtype=np.float64)) for a in axes]
    est = np.full(len(cells), np.nan)
    bracketed = np.zeros(len(cells), dtype=bool)
    for i, cell in enumerate(cells):
        idx = np.unravel_index(int(cell), shape)
        lines = []
        for ax in order:
            sl = list(idx)
            sl[ax] = slice(None)
            line = dense[tuple(sl)].copy()
            line[idx[ax]] = np.nan
            lines.append((ax, line, None if log_sol is None else log_sol[tuple(sl)]))
        num, den = [0.0, 0.0], [0.0, 0.0]
        for ax, line, ls in lines:
            e, width = _axis_interp(line, 0, log_axes[ax], ax in linear_axes, ls)
            if not np.isnan(e[idx[ax]]):
                for lvl in (0, 1) if ax in primary_axes else (0,):
                    num[lvl] += e[idx[ax]] / width[idx[ax]]
                    den[lvl] += 1.0 / width[idx[ax]]
        lvl = 1 if den[1] > 0 else 0
        if den[lvl] > 0:
            est[i], bracketed[i] = num[lvl] / den[lvl], True
            continue
        for ax, line, _ in lines:
            e = _axis_estimate(line, 0, log_axes[ax], "hold")[idx[ax]]
            if not np.isnan(e):
                est[i] = e
                break
    return est, bracketed
