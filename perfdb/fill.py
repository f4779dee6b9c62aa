"""Hole filling of a densified perfdb table, and its leave-one-out twin.

The silicon tables are ragged; `fill_holes` turns the measured cells into a full grid once, at load
time, so every query is plain multilinear interpolation (perfdb/grid.py). How each family's holes are
filled (`FillScheme`) was chosen by leave-one-out error (bench/perfdb_loo.py, perfdb/README.md §3), and
`leave_one_out` scores exactly the shipped scheme: a cell's estimate never reads the cell itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tier import Tier


@dataclass(frozen=True)
class FillScheme:
    """How holes of one grid are filled (tables.fill_scheme picks it per family; see perfdb/README.md §3).

    * `spaces`: axis → "lat" (latency = SOL/util linear in raw x) or "sqrt" (sqrt(latency) linear in raw x);
      other axes interpolate log-util linearly in log2 x. Latency spaces need the dense log SOL.
    * `primary`: a hole bracketed along one of these axes is filled from them alone.
    * `classes`: axis → int label per key; along that axis a hole is interpolated only between keys of its own
      class (GEMM m: the x / x+1 pairs sit on both sides of a tile boundary — a sawtooth).
    * `equiv`: (axis a, axis b, base weight): cells with the same x_a·x_b (all other keys equal) run the same
      work (attention kernels grid over batch × heads); the fill takes the median of those measured
      equivalents together with `base weight` copies of the axis interpolation.
    * `extrap`: axes (primary ones) along which a cell that they do not bracket, but some other axis does,
      is extrapolated (in the axis's space) from the two nearest *measured* cells on its side, when the
      nearer one is the adjacent key — instead of the other axes' interpolation (decode: the last / first
      kv length of a line continues its affine latency; heads / GQA neighbours are far worse there).
    * `extrap_votes`: where a cell bracketed along an `extrap` axis has measured equivalents, the two
      one-sided extrapolations (from the two cells below / above) join the equivalents' median — a robust
      vote against one noisy bracket neighbour or one outlying equivalent.
    """

    spaces: dict = field(default_factory=dict)
    primary: tuple = ()
    classes: dict = field(default_factory=dict)
    equiv: tuple | None = None
    extrap: tuple = ()
    extrap_votes: bool = False


def densify(axes, flat: np.ndarray, lu: np.ndarray) -> np.ndarray:
    """Dense array of the measured cells (duplicates averaged), NaN elsewhere."""
    shape = tuple(len(a) for a in axes)
    total = np.zeros(int(np.prod(shape)))
    count = np.zeros_like(total)
    np.add.at(total, flat, lu)
    np.add.at(count, flat, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).reshape(shape)


def _to_space(v, log_sol, space):
    """log-util → the interpolated quantity: latency ("lat") or sqrt(latency) ("sqrt")."""
    with np.errstate(over="ignore"):
        lat = np.exp(log_sol - v)
    return lat if space == "lat" else np.sqrt(lat)


def _from_space(q, log_sol, space):
    with np.errstate(invalid="ignore", divide="ignore"):
        return log_sol - (np.log(q) if space == "lat" else 2.0 * np.log(q))


def _axis_interp(v, ax, log_axis, space, log_sol, classes=None):
    """1-D interpolation of every cell along `ax` between its nearest valid neighbours (of its own class
    when `classes` labels the keys): log-util linear in log2(x), or — space "lat" / "sqrt" — latency /
    sqrt(latency) linear in raw x, converted back to log-util. Returns (estimate, width in octaves)."""
    if classes is not None:
        classes = np.asarray(classes)
        est, width = np.full(v.shape, np.nan), np.full(v.shape, np.nan)
        shape = [1] * v.ndim
        shape[ax] = -1
        for c in np.unique(classes):
            own = (classes == c).reshape(shape)
            e, w = _axis_interp(np.where(own, v, np.nan), ax, log_axis, space, log_sol)
            est, width = np.where(own, e, est), np.where(own, w, width)
        return est, width
    if space not in ("lat", "sqrt") or log_sol is None:
        return _axis_estimate(v, ax, log_axis, "interp", with_width=True)
    q = _to_space(v, log_sol, space)
    est, width = _axis_estimate(q, ax, log_axis, "interp", with_width=True, weight_axis=2.0 ** log_axis)
    return _from_space(est, log_sol, space), width


def _equiv_pairs(log_a: np.ndarray, log_b: np.ndarray):
    """(i, j, i2, j2) index arrays with x_a[i]·x_b[j] == x_a[i2]·x_b[j2], i ≠ i2."""
    prod = np.round((log_a[:, None] + log_b[None, :]) * 1e6).astype(np.int64)
    out = []
    for i in range(len(log_a)):
        for i2 in range(len(log_a)):
            if i2 == i:
                continue
            j, j2 = np.nonzero(prod[i][:, None] == prod[i2][None, :])
            out += [(i, jj, i2, jj2) for jj, jj2 in zip(j, j2)]
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def _equiv_layers(v: np.ndarray, a: int, b: int, pairs: np.ndarray) -> np.ndarray:
    """Stack (len(axis a), *v.shape): layer i2 holds, at cell (i, j, …), the value at the equivalent
    cell (i2, j2, …) (same x_a·x_b, other keys equal), NaN where there is none."""
    va = np.moveaxis(v, (a, b), (0, 1))
    layers = np.full((va.shape[0],) + va.shape, np.nan)
    if len(pairs):
        i, j, i2, j2 = pairs.T
        layers[i2, i, j] = va[i2, j2]
    return np.moveaxis(layers, (1, 2), (a + 1, b + 1))


def _combine_equiv(base: np.ndarray, layers: np.ndarray, base_weight: int, where: np.ndarray) -> np.ndarray:
    """At `where`: median of the measured equivalents and `base_weight` copies of the interpolation
    (NaN-aware); elsewhere `base`."""
    sel = where & (~np.isnan(base) | ~np.isnan(layers).all(axis=0))
    out = base.copy()
    if sel.any():
        stack = np.concatenate([layers[:, sel], np.broadcast_to(base[sel], (base_weight, int(sel.sum())))], axis=0)
        out[sel] = _nanmedian0(stack)
    return out


def _nanmedian0(stack: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (every column has at least one value); a sort, not np.nanmedian's
    per-column path."""
    n = (~np.isnan(stack)).sum(axis=0)
    srt = np.sort(np.where(np.isnan(stack), np.inf, stack), axis=0)
    lo = np.take_along_axis(srt, ((n - 1) // 2)[None], axis=0)[0]
    hi = np.take_along_axis(srt, (n // 2)[None], axis=0)[0]
    return 0.5 * (lo + hi)


def _axis_extrap(v, ax, log_axis, space, log_sol):
    """Per cell: linear extrapolation (in the axis's space) from the two nearest valid cells strictly before
    it, and from the two strictly after it. Returns (from below, from above); NaN where the side has fewer
    than two valid cells or the extrapolated latency is not positive."""
    q = _to_space(v, log_sol, space) if space in ("lat", "sqrt") and log_sol is not None else v
    x = 2.0 ** log_axis if space in ("lat", "sqrt") and log_sol is not None else log_axis
    a = np.moveaxis(q, ax, -1)
    n = a.shape[-1]
    pos = np.arange(n)
    valid = ~np.isnan(a)
    lead = a.shape[:-1] + (1,)
    p1 = np.maximum.accumulate(np.where(valid, pos, -1), axis=-1)
    p1 = np.concatenate([np.full(lead, -1), p1[..., :-1]], axis=-1)  # nearest valid strictly before
    p2 = np.where(p1 >= 0, np.take_along_axis(p1, np.clip(p1, 0, n - 1), axis=-1), -1)  # … strictly before p1
    n1 = np.minimum.accumulate(np.where(valid, pos, n)[..., ::-1], axis=-1)[..., ::-1]
    n1 = np.concatenate([n1[..., 1:], np.full(lead, n)], axis=-1)
    n2 = np.take_along_axis(n1, np.clip(n1, 0, n - 1), axis=-1)
    n2 = np.where(n1 < n, n2, n)
    out = []
    for i1, i2, ok in ((p1, p2, (p1 >= 0) & (p2 >= 0)), (n1, n2, (n1 < n) & (n2 < n))):
        c1, c2 = np.clip(i1, 0, n - 1), np.clip(i2, 0, n - 1)
        y1, y2 = np.take_along_axis(a, c1, axis=-1), np.take_along_axis(a, c2, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = y1 + (y1 - y2) * (x[pos] - x[c1]) / (x[c1] - x[c2])
        if space in ("lat", "sqrt") and log_sol is not None:
            e = np.where(e > 0, e, np.nan)
        ok &= np.abs(i1 - pos) == 1  # only to the key next to the measured ones: no chained leaps
        e = np.moveaxis(np.where(ok, e, np.nan), -1, ax)
        out.append(_from_space(e, log_sol, space) if space in ("lat", "sqrt") and log_sol is not None else e)
    return out


def _interp_estimate(v, log_axes, order, scheme: FillScheme, log_sol, where=None, measured=None, memo=None):
    """Fill estimate of every cell (equivalents: only at `where`, default all) from its valid neighbours
    (the cell itself is never read: each 1-D estimate uses the nearest valid cells *other* than it,
    equivalents are other cells). Returns (estimate, bracketed) — bracketed: some axis brackets the cell."""
    num, den = np.zeros((2,) + v.shape), np.zeros((2,) + v.shape)
    brackets = {}
    for ax in order:
        est, width = _axis_interp(v, ax, log_axes[ax], scheme.spaces.get(ax), log_sol, scheme.classes.get(ax))
        ok = brackets[ax] = ~np.isnan(est)
        for lvl in (0, 1) if ax in scheme.primary else (0,):
            num[lvl][ok] += est[ok] / width[ok]
            den[lvl][ok] += 1.0 / width[ok]
    num, den = np.where(den[1] > 0, num[1], num[0]), np.where(den[1] > 0, den[1], den[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        base = np.where(den > 0, num / den, np.nan)
    bracketed = den > 0
    extra = []  # one-sided extrapolations (from measured cells only: no chains through filled ones)
    for ax in scheme.extrap:
        memo = {} if memo is None else memo  # the fill's rounds share one `measured`: compute once
        if ax not in memo:
            memo[ax] = _axis_extrap(v if measured is None else measured, ax, log_axes[ax], scheme.spaces.get(ax),
                                    log_sol)
        lo, hi = memo[ax]
        ext = np.where(np.isnan(lo), hi, lo)
        base = np.where(bracketed & ~brackets[ax] & ~np.isnan(ext), ext, base)
        if scheme.extrap_votes:
            extra += [np.where(brackets[ax], lo, np.nan), np.where(brackets[ax], hi, np.nan)]
    if scheme.equiv is not None:
        a, b, weight = scheme.equiv
        layers = _equiv_layers(v, a, b, _equiv_pairs(log_axes[a], log_axes[b]))
        if extra:  # votes only where measured equivalents exist (LOO: worse without them)
            has = ~np.isnan(layers).all(axis=0)
            layers = np.concatenate([layers, np.stack([np.where(has, e, np.nan) for e in extra])], axis=0)
        base = _combine_equiv(base, layers, weight, np.ones(v.shape, bool) if where is None else where)
    return base, bracketed


def fill_holes(dense: np.ndarray, log_axes: list[np.ndarray], order: list[int], scheme: FillScheme | None = None,
               log_sol=None):
    """Fill NaN cells. Interior holes: every axis along which the hole has a valid neighbour on both sides
    gives a 1-D interpolation (in the axis's space, between neighbours of the hole's class); they are
    averaged with weights 1/(bracket width in octaves), so the tightest brackets dominate. A hole
    bracketed along one of `scheme.primary` uses only those. With `scheme.equiv` the result is the median
    of it and the measured equivalent cells (which alone also fill a hole no axis brackets).
    Repeated until nothing changes; then the remaining (outside) holes hold the nearest value along the
    first axis in `order`."""
    scheme = scheme or FillScheme()
    v = dense.copy()
    tier = np.where(np.isnan(v), -1, Tier.MEASURED).astype(np.int8)
    memo = {}
    while np.isnan(v).any():
        est, _ = _interp_estimate(v, log_axes, order, scheme, log_sol, where=np.isnan(v), measured=dense, memo=memo)
        holes = np.isnan(v) & ~np.isnan(est)
        if not holes.any():
            break
        v[holes] = est[holes]
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
    """Per cell: linear interpolation between the nearest valid cells strictly before/after it along `axis`
    ("interp"; NaN unless both exist; weights from `weight_axis` if given, else `log_axis`), or the
    nearest valid one, itself included ("hold"). Widths are always in octaves."""
    a = np.moveaxis(v, axis, -1)
    n = a.shape[-1]
    pos = np.arange(n)
    valid = ~np.isnan(a)
    if mode == "interp":  # strictly before / after: a cell's own value never enters its estimate
        prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=-1)
        prev = np.concatenate([np.full(a.shape[:-1] + (1,), -1), prev[..., :-1]], axis=-1)
        nxt = np.minimum.accumulate(np.where(valid, pos, n)[..., ::-1], axis=-1)[..., ::-1]
        nxt = np.concatenate([nxt[..., 1:], np.full(a.shape[:-1] + (1,), n)], axis=-1)
    else:
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
                  cells: np.ndarray, linear_axes=(), log_sol=None, primary_axes=(),
                  scheme: FillScheme | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Estimate of each measured cell in `cells` with that cell removed, exactly as the first round of
    `fill_holes` would fill that hole from the *measured* cells (`_interp_estimate`, which never reads a
    cell's own value), else the nearest measured value along the first axis in `order` that has one.
    Returns (estimates, bracketed). Vectorized: the estimate of every cell is computed once with all
    measured cells present — identical to removing each cell in turn, because a cell's estimate reads only
    other cells. Used by bench/perfdb_loo.py and the tests, so the measured accuracy is the shipped scheme's."""
    scheme = scheme or FillScheme({ax: "lat" for ax in linear_axes}, tuple(primary_axes))
    dense = densify(axes, flat, lu)
    log_axes = [np.log2(np.asarray(a, dtype=np.float64)) for a in axes]
    cells = np.asarray(cells, dtype=np.int64)
    where = np.zeros(dense.size, dtype=bool)
    where[cells] = True
    est_all, bracketed_all = _interp_estimate(dense, log_axes, order, scheme, log_sol, where.reshape(dense.shape))
    est, bracketed = est_all.ravel()[cells].copy(), bracketed_all.ravel()[cells].copy()
    shape = dense.shape
    for i in np.nonzero(np.isnan(est))[0]:  # nothing brackets it, no equivalent: hold, as the fill would
        idx = np.unravel_index(int(cells[i]), shape)
        for ax in order:
            sl = list(idx)
            sl[ax] = slice(None)
            line = dense[tuple(sl)].copy()
            line[idx[ax]] = np.nan
            e = _axis_estimate(line, 0, log_axes[ax], "hold")[idx[ax]]
            if not np.isnan(e):
                est[i] = e
                break
    return est, bracketed
