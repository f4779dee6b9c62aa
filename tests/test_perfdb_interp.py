"""perfdb interpolation: fill schemes, the leave-one-out protocol (honest, identical to the fill) and the
latency-space queries."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.perfdb import load_perfdb
from sloplan.perfdb.fill import FillScheme, leave_one_out
from sloplan.perfdb.grid import Grid
from sloplan.perfdb.tables import (CTX_QUERY_SPACES, CTX_SCHEME, GEN_SCHEME, fill_scheme, gemm_m_classes,
                                   node_log_sol)
from sloplan.perfdb.tier import Tier


def _sparse(axes, lu_fn, keep=None):
    """All cells of the grid over `axes` (or those where keep(*coords) is true) with lu = lu_fn(*coords)."""
    mesh = np.meshgrid(*axes, indexing="ij")
    coords = [m.ravel() for m in mesh]
    sel = np.ones(len(coords[0]), bool) if keep is None else keep(*coords)
    flat = np.ravel_multi_index(tuple(np.searchsorted(a, c[sel]) for a, c in zip(axes, coords)),
                                tuple(len(a) for a in axes))
    return flat, lu_fn(*[c[sel] for c in coords])


def test_gemm_m_classes_mark_tile_pairs():
    m = np.array([1, 2, 16, 17, 32, 33, 48, 49, 64, 65, 8192], dtype=float)
    assert gemm_m_classes(m).tolist() == [0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0]


def test_class_aware_m_fill_keeps_sawtooth():
    """A staircase sampled at x / x+1 pairs: the hole at 64 is filled from 48 / 80 (same class), not 65."""
    m = np.array([16, 17, 32, 33, 48, 49, 64, 65, 80, 81, 96, 97], dtype=float)
    n = np.array([1024.0, 2048.0])
    lu = lambda mm, nn: np.where(np.isin(mm - 1, m) & (mm - 1 >= 16), -1.0, 0.0) + 0.01 * np.log2(mm)
    flat, vals = _sparse([m, n], lu, keep=lambda mm, nn: mm != 64)
    scheme = FillScheme(classes={0: gemm_m_classes(m)})
    g = Grid.from_flat([m, n], flat, vals, [0, 1], scheme=scheme)
    assert g.lu[list(m).index(64), 0] == pytest.approx(0.06)
    plain = Grid.from_flat([m, n], flat, vals, [0, 1])
    assert abs(plain.lu[list(m).index(64), 0] - 0.06) > 0.3  # 48 & 65 straddle the jump


def test_equivalent_cells_fill_a_hole():
    """Latency depending on batch·heads only: a hole is filled with its equivalents' value, exactly."""
    h = np.array([1.0, 2.0, 4.0, 8.0])
    b = np.array([1.0, 2.0, 4.0, 8.0])
    lu = lambda hh, bb: np.log(hh * bb) * 0.3 + 0.01 * np.sin(hh * bb)
    flat, vals = _sparse([h, b], lu, keep=lambda hh, bb: ~((hh == 2) & (bb == 4)))
    g = Grid.from_flat([h, b], flat, vals, [1, 0], scheme=FillScheme(equiv=(0, 1, 1)))
    assert g.lu[1, 2] == pytest.approx(lu(2.0, 4.0))  # median of (1,8), (4,2), (8,1) and the interpolation
    assert g.tier[1, 2] == Tier.INTERPOLATED


@pytest.mark.parametrize("scheme", [FillScheme(), FillScheme({1: "lat"}, (1,)),
                                    FillScheme({1: "sqrt"}, (), equiv=(0, 1, 2)),
                                    FillScheme(classes={0: np.array([0, 1, 0, 1, 0, 1])}),
                                    FillScheme({1: "lat"}, (1,), equiv=(0, 1, 1), extrap=(1,), extrap_votes=True),
                                    FillScheme({0: "lat", 1: "lat"}, (1,), equiv=(0, 1, 1), extrap=(1,),
                                                         extrap_votes=True)])
def test_loo_is_the_fill_and_never_reads_the_cell(scheme):
    rng = np.random.default_rng(3)
    axes = [np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]), np.array([1.0, 4.0, 16.0, 64.0, 256.0])]
    lu_fn = lambda a, b: -np.log1p(a * b / 50.0) + 0.05 * rng.standard_normal(a.shape)
    flat, vals = _sparse(axes, lu_fn, keep=lambda a, b: rng.random(a.shape) < 0.85)
    log_sol = np.log(np.outer(axes[0], axes[1]) * 1e-6)
    cells = np.unique(flat)
    est, bracketed = leave_one_out(axes, flat, vals, [1, 0], cells, log_sol=log_sol, scheme=scheme)
    for i, c in enumerate(cells):
        keep = flat != c
        # honest: changing the removed cell's own value changes nothing
        moved = vals.copy()
        moved[~keep] += 5.0
        e2, _ = leave_one_out(axes, flat, moved, [1, 0], [c], log_sol=log_sol, scheme=scheme)
        assert e2[0] == pytest.approx(est[i], abs=1e-12)
        if bracketed[i] or not np.isnan(est[i]):
            # identical to filling the grid without that cell
            g = Grid.from_flat(axes, flat[keep], vals[keep], [1, 0], log_sol=log_sol, scheme=scheme)
            assert g.lu.ravel()[c] == pytest.approx(est[i], abs=1e-9)


def test_kv_extrapolation_fills_the_line_end():
    """A hole at the last kv key of a line (bracketed only along heads) continues the line's affine latency
    from the two measured cells before it, instead of the heads interpolation; it never chains past the
    adjacent key (a second hole further out is filled as before)."""
    h = np.array([1.0, 2.0, 4.0])
    kv = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    sol_fn = lambda hh, kk: 1e-9 * hh * kk
    lat = lambda hh, kk: (5e-6 + 1e-7 * kk) * np.where(hh == 2, 1.0, 3.0)  # heads 2 unlike its neighbours
    missing = lambda hh, kk: (hh == 2) & (kk >= 8)
    flat, vals = _sparse([h, kv], lambda hh, kk: np.log(sol_fn(hh, kk) / lat(hh, kk)),
                         keep=lambda hh, kk: ~missing(hh, kk))
    log_sol = np.log(np.outer(h, kv) * 1e-9)
    scheme = FillScheme({1: "lat"}, (1,), extrap=(1,))
    g = Grid.from_flat([h, kv], flat, vals, [1, 0], log_sol=log_sol, scheme=scheme)
    assert np.exp(log_sol[1, 3] - g.lu[1, 3]) == pytest.approx(lat(2.0, 8.0), rel=1e-9)
    assert g.tier[1, 3] == Tier.INTERPOLATED
    plain = Grid.from_flat([h, kv], flat, vals, [1, 0], log_sol=log_sol, scheme=FillScheme({1: "lat"}, (1,)))
    assert np.exp(log_sol[1, 3] - plain.lu[1, 3]) > 2 * lat(2.0, 8.0)  # heads neighbours are 3x slower
    assert g.lu[1, 4] == pytest.approx(plain.lu[1, 4])  # not chained from the filled kv = 8


def test_sequential_sqrt_query_is_exact_for_square_law():
    """sqrt(latency) linear in seq: a (floor + c·seq)² law is reproduced between nodes; latency is linear
    in batch."""
    b = np.array([1.0, 2.0, 4.0])
    s = np.array([128.0, 512.0, 2048.0])
    lat = lambda bb, ss: bb * (1e-3 + 1e-5 * ss) ** 2
    sol_fn = lambda bb, ss: 1e-9 * bb * ss
    flat, vals = _sparse([b, s], lambda bb, ss: np.log(sol_fn(bb, ss) / lat(bb, ss)))
    g = Grid.from_flat([b, s], flat, vals, [1, 0])
    q_b, q_s = np.array([1.0, 3.0, 2.0]), np.array([300.0, 1000.0, 512.0])
    out, tier = g.query_latency([], [q_b, q_s], sol_fn, CTX_QUERY_SPACES)
    np.testing.assert_allclose(out, lat(q_b, q_s), rtol=1e-12)
    assert tier.tolist() == [Tier.INTERPOLATED, Tier.INTERPOLATED, Tier.MEASURED]


def test_shipped_schemes():
    axes5 = [np.array([1.0, 2.0])] * 5
    assert fill_scheme("ctx/bf16/bf16/0", axes5) is CTX_SCHEME
    assert fill_scheme("gen/bf16/fp8/128", axes5) is GEN_SCHEME
    assert 0 in fill_scheme("gemm/fp8", [np.array([16.0, 17.0])] * 3).classes
    assert fill_scheme("nccl/all_reduce/half", axes5[:2]) == FillScheme()


def test_context_attention_exact_hits_and_interior():
    db = load_perfdb("h200_sxm", "trtllm")
    name = "ctx/bf16/bf16/0"
    g = db.grid(name)
    sg = db._sparse[name]
    ih, ir, idim = list(g.axes[0]).index(32.0), list(g.axes[1]).index(8.0), list(g.axes[2]).index(128.0)
    measured = g.tier[ih, ir, idim] == Tier.MEASURED
    bi, si = np.nonzero(measured)
    b, s = g.axes[3][bi], g.axes[4][si]
    lk = db.context_attention(b, s, 0, 32, 4, 128, 0, "bf16")
    ls = node_log_sol(db.system, name, sg.axes)[ih, ir, idim][bi, si]
    np.testing.assert_allclose(lk.latency_s, np.exp(ls - g.lu[ih, ir, idim][bi, si]), rtol=1e-9)
    assert np.all(lk.tier == Tier.MEASURED)
    # between two measured seq keys: inside their latencies (sqrt-latency interpolation is monotone)
    lo, hi = db.context_attention(4, np.array([1024.0, 2048.0]), 0, 32, 4, 128, 0, "bf16").latency_s
    mid = db.context_attention(4, np.array([1500.0]), 0, 32, 4, 128, 0, "bf16")
    assert lo < mid.latency_s[0] < hi and mid.tier[0] == Tier.INTERPOLATED
