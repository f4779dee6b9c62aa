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

from .fill import FillScheme, densify, fill_holes
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
    def from_points(cls, coords: list[np.ndarray], lu: np.ndarray, fill_order: list[int] | None = None) -> Grid:
        """Densify scattered points (duplicates averaged) and fill the holes."""
        axes = [np.unique(np.asarray(c, dtype=np.float64)) for c in coords]
        shape = tuple(len(a) for a in axes)
        flat = np.ravel_multi_index(tuple(np.searchsorted(a, c) for a, c in zip(axes, coords)), shape)
        return cls.from_flat(axes, flat, lu, fill_order)

    @classmethod
    def from_flat(cls, axes, flat: np.ndarray, lu: np.ndarray, fill_order=None, linear_axes=(),
                  log_sol=None, primary_axes=(), scheme: FillScheme | None = None) -> Grid:
        """Densify from flat cell indices (the cache's compact form) and fill by `scheme` (`log_sol` = dense
        log SOL per cell, needed by latency spaces). `linear_axes` / `primary_axes` are the older spelling
        of scheme.spaces = "lat" / scheme.primary."""
        dense = densify(axes, flat, lu)
        log_axes = [np.log2(np.asarray(a, dtype=np.float64)) for a in axes]
        order = list(range(len(axes))) if fill_order is None else list(fill_order)
        scheme = scheme or FillScheme({ax: "lat" for ax in linear_axes}, tuple(primary_axes))
        dense, tier = fill_holes(dense, log_axes, order, scheme, log_sol)
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


    def query_latency(self, scalars: list[float], arrays: list, sol_fn, spaces=None) -> tuple[np.ndarray, np.ndarray]:
        """Latency (not util) at scalar leading axes and array trailing axes: the scalar axes are contracted
        in log-util space, then the trailing axes interpolate *latency* linearly in raw coordinates
        (decode latency ≈ floor + c·batch·kv_len is bilinear there; log-log util is not exact), or
        sqrt(latency) on a trailing axis whose `spaces` entry is "sqrt" (prefill ∝ seq²), contracting the
        last axis first. `sol_fn(*trailing_coords)` is the SOL at the query's scalar values. Outside the
        measured range the boundary util is held: latency = interp(clamped) · SOL(query) / SOL(clamped)."""
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
        if spaces is not None and any(sp == "sqrt" for sp in spaces):
            lat = _sequential(lat_nodes, brackets, spaces)
        lat = lat * sol_fn(*arrays) / sol_fn(*clamped)
        for _, w, beyond in brackets:
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


def _sequential(values, brackets, spaces):
    """Interpolate node latencies at the bracketed points, one axis at a time from the last: on a "sqrt"
    axis sqrt(latency) is linear in the raw coordinate, otherwise latency is."""
    shape = values.shape
    flat_v = values.ravel()
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    d = len(brackets)
    corners = []
    for corner in range(1 << d):
        idx = 0
        for k, (j, _, _) in enumerate(brackets):
            idx = idx + np.minimum(j + ((corner >> k) & 1), shape[k] - 1) * strides[k]
        corners.append(flat_v[idx])
    for k in range(d - 1, -1, -1):  # pair corners that differ in bit k
        w = brackets[k][1]
        sq = spaces[k] == "sqrt"
        merged = []
        for corner in range(1 << k):
            lo, hi = corners[corner], corners[corner | (1 << k)]
            if sq:
                merged.append((np.sqrt(lo) * (1.0 - w) + np.sqrt(hi) * w) ** 2)
            else:
                merged.append(lo * (1.0 - w) + hi * w)
        corners = merged
    return corners[0]


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
    if np.ndim(x) == 0:  # scalar axes of every lookup: plain floats, numpy's per-call overhead dominated
        return _bracket_scalar(log_axis, float(x))
    beyond = np.maximum(np.maximum(log_axis[0] - x, x - log_axis[-1]), 0.0)
    if n == 1:
        return np.zeros_like(x, dtype=np.int64), np.zeros_like(x, dtype=np.float64), beyond
    j = np.clip(np.searchsorted(log_axis, x, side="right") - 1, 0, n - 2)
    xc = np.clip(x, log_axis[0], log_axis[-1])
    w = (xc - log_axis[j]) / (log_axis[j + 1] - log_axis[j])
    w = np.where(w < _SNAP, 0.0, np.where(w > 1.0 - _SNAP, 1.0, w))
    return j, w, beyond


def _bracket_scalar(log_axis: np.ndarray, x: float) -> tuple[int, float, float]:
    lo, hi = float(log_axis[0]), float(log_axis[-1])
    beyond = max(lo - x, x - hi, 0.0)
    if len(log_axis) == 1:
        return 0, 0.0, beyond
    j = min(max(int(np.searchsorted(log_axis, x, side="right")) - 1, 0), len(log_axis) - 2)
    a, b = float(log_axis[j]), float(log_axis[j + 1])
    w = (min(max(x, lo), hi) - a) / (b - a)
    return j, 0.0 if w < _SNAP else 1.0 if w > 1.0 - _SNAP else w, beyond


def _axis_tier(w, beyond):
    """Tier implied by one axis: exact key → MEASURED, inside → INTERPOLATED, outside → EXTRAPOLATED/ROOFLINE."""
    if np.ndim(w) == 0 and np.ndim(beyond) == 0:
        t = (Tier.ROOFLINE if beyond > MAX_EXTRAP_OCTAVES else Tier.EXTRAPOLATED if beyond > 0
             else Tier.INTERPOLATED if 0 < w < 1 else Tier.MEASURED)
        return np.int8(t)
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
    for _, w, beyond in brackets:
        out_tier = np.maximum(out_tier, _axis_tier(w, beyond))
    return out, out_tier
