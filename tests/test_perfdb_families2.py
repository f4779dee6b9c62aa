"""perfdb families read lazily (sparse attention, linear attention, quantize + fp8_static GEMM, encoder
attention, mHC) and the per-shape donor fallback of the ROOFLINE tier, on real wheel data."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sloplan.perfdb import PerfDB, Tier, coverage, load_system
from sloplan.perfdb import sol
from sloplan.perfdb.lanes import pick_lane
from sloplan.perfdb.source import read_columns, system_data_dir


from conftest import h200_rows  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_perfdb_cache")


@pytest.fixture(scope="module")
def db(h200_trtllm_db):
    return h200_trtllm_db


_rows = h200_rows


def _geo(lat_ms):
    return float(np.exp(np.mean(np.log(np.asarray(lat_ms) * 1e-3))))


def _between(lo, mid, hi, tol=1e-9):
    return min(lo, hi) * (1 - tol) <= mid <= max(lo, hi) * (1 + tol)


def test_families_load_lazily(db):
    fresh = PerfDB(db.system, db.backend, db.version, dict(db._sparse), dict(db.lanes), dict(db.eff))
    assert not any(n.startswith(("dsa_", "gdn/", "quant/")) for n in fresh.grid_names())
    fresh.quantize([64], 4096)
    assert any(n.startswith("quant/") for n in fresh.grid_names())
    assert not any(n.startswith("gdn/") for n in fresh.grid_names())


def test_quantize_exact_interior_vectorized(db):
    c = _rows("quantize/trtllm/1.3.0rc20/computescale_perf.parquet", ["m", "k"], ["quant_dtype"])
    sel = c["k"] == 4096
    ms = np.unique(c["m"][sel])
    exact = db.quantize(ms, 4096)
    want = [_geo(c["latency"][sel & (c["m"] == m)]) for m in ms]
    assert np.all(exact.tier == Tier.MEASURED)
    np.testing.assert_allclose(exact.latency_s, want, rtol=1e-9)
    lo, hi = 4096.0, 8192.0  # neighbours on m, interior query between
    mid = db.quantize(np.array([6000.0]), 4096)
    assert mid.tier[0] == Tier.INTERPOLATED
    a, b = db.quantize(np.array([lo, hi]), 4096).latency_s
    assert _between(a, mid.latency_s[0], b)
    per = [db.quantize(np.array([m]), 4096).latency_s[0] for m in (3.0, 700.0, 6000.0)]
    np.testing.assert_allclose(db.quantize(np.array([3.0, 700.0, 6000.0]), 4096).latency_s, per, rtol=1e-12)


def test_fp8_static_gemm(db):
    m = np.array([1.0, 64.0, 4096.0])
    fp8, static = db.gemm(m, 4096, 4096, "fp8"), db.gemm(m, 4096, 4096, "fp8_static")
    cs = db.quantize(m, 4096, "compute_scale")
    floor = sol.gemm_sol_s(db.system, m, 4096, 4096, "fp8")
    np.testing.assert_allclose(static.latency_s, np.maximum(fp8.latency_s - cs.latency_s, floor), rtol=1e-12)
    assert np.all(static.latency_s < fp8.latency_s) and np.all(static.latency_s >= floor)
    both = db.gemm_fp8_static(m, 4096, 4096, fp8_input=True)
    assert np.all(both.latency_s <= static.latency_s)


def test_dsa_module_exact_interior(db):
    c = _rows("sparse_attention/trtllm/1.3.0rc20/dsa_generation_module_perf.parquet",
              ["num_heads", "batch_size", "step"], ["architecture", "gemm_type", "kv_cache_dtype"])
    sel = (c["architecture"] == "DeepseekV32ForCausalLM") & (c["gemm_type"] == "fp8_block") & (c["num_heads"] == 16) \
        & (c["batch_size"] == 8)
    steps = np.unique(c["step"][sel])
    exact = db.dsa_module("generation", 8, steps, 16, "bf16", "fp8_block", "dsv32")
    assert np.all(exact.tier == Tier.MEASURED)
    np.testing.assert_allclose(exact.latency_s, [_geo(c["latency"][sel & (c["step"] == s)]) for s in steps], rtol=1e-9)
    mids = np.sqrt(steps[:-1] * steps[1:])
    lk = db.dsa_module("generation", 8, mids, 16, "bf16", "fp8_block", "dsv32")
    assert np.all(lk.tier == Tier.INTERPOLATED)
    for i in range(len(mids)):
        # log-util interpolation through a SOL that is not a pure power law (indexer + capped MLA terms)
        # can undershoot flat launch-bound neighbours slightly
        assert _between(exact.latency_s[i], lk.latency_s[i], exact.latency_s[i + 1], tol=0.03)
        one = db.dsa_module("generation", 8, np.array([mids[i]]), 16, "bf16", "fp8_block", "dsv32")
        assert one.latency_s[0] == pytest.approx(lk.latency_s[i], rel=1e-12)
    ctx = db.dsa_module("context", 1, [4096, 2048, 4096], 16, prefix=[0, 2048, 2048])
    assert ctx.tier[0] == Tier.MEASURED  # 4096 new tokens, no prefix: a table row
    assert ctx.latency_s[1] < ctx.latency_s[0] < ctx.latency_s[2]  # same keys, fewer queries; more keys
    other = db.dsa_module("generation", 8, 4096, 16, "fp8", "fp8_block")  # trtllm has bf16 KV only
    assert other.tier == Tier.ROOFLINE and other.latency_s > 0


def test_gdn_and_mamba2_exact(db):
    c = _rows("linear_attention/trtllm/1.3.0rc20/gdn_perf.parquet",
              ["batch_size", "seq_len", "d_model", "num_k_heads", "num_v_heads"], ["phase", "kernel_source"])
    sel = (c["phase"] == "context") & (c["num_k_heads"] == 16) & (c["num_v_heads"] == 48) & (c["batch_size"] == 2)
    seqs = np.unique(c["seq_len"][sel])
    lk = db.gdn("context", 2, seqs, 16, 48)
    want = [sum(_geo(c["latency"][sel & (c["seq_len"] == s) & (c["kernel_source"] == k)])
                for k in np.unique(c["kernel_source"][sel])) for s in seqs]
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, want, rtol=1e-9)
    mid = db.gdn("context", 2, np.sqrt(seqs[:-1] * seqs[1:]), 16, 48)
    assert np.all(mid.tier == Tier.INTERPOLATED)
    assert np.all((mid.latency_s >= lk.latency_s[:-1] * 0.9) & (mid.latency_s <= lk.latency_s[1:] * 1.1))
    gen = db.gdn("generation", [1, 64, 1024], 1, 16, 48)
    assert np.all(gen.tier == Tier.MEASURED)
    m = db.mamba2("context", [1, 4], [1024, 1024], 128, 64, 8, 128)
    assert np.all(m.tier == Tier.MEASURED) and m.latency_s[1] > m.latency_s[0]


def test_encoder_and_mhc(db):
    c = _rows("encoder_attention/trtllm/1.3.0rc20/encoder_attention_perf.parquet",
              ["batch_size", "isl", "num_heads", "head_dim"], ["attn_dtype"])
    i = int(np.argmax(c["isl"] == 1024))
    b, s, h, d = (c[k][i] for k in ("batch_size", "isl", "num_heads", "head_dim"))
    sel = (c["batch_size"] == b) & (c["isl"] == s) & (c["num_heads"] == h) & (c["head_dim"] == d)
    lk = db.encoder_attention(b, s, int(h), int(d))
    assert lk.tier == Tier.MEASURED and lk.latency_s == pytest.approx(_geo(c["latency"][sel]), rel=1e-9)
    mh = db.mhc("post", [128, 1000, 4096], 7168)
    assert mh.tier[0] == Tier.MEASURED and mh.tier[1] == Tier.INTERPOLATED
    assert mh.latency_s[0] < mh.latency_s[1] < mh.latency_s[2]


def test_coverage_marks_new_families_read():
    read = {(c.family, c.table) for c in coverage("h200_sxm") if c.read_by_sloplan}
    for fam, table in [("sparse_attention", "dsa_context_module_perf.parquet"),
                       ("sparse_attention", "dsa_generation_module_perf.parquet"),
                       ("sparse_attention", "glm5_topk_module_perf.parquet"),
                       ("linear_attention", "gdn_perf.parquet"), ("linear_attention", "mamba2_perf.parquet"),
                       ("quantize", "computescale_perf.parquet"), ("quantize", "scale_matrix_perf.parquet"),
                       ("encoder_attention", "encoder_attention_perf.parquet"), ("mhc", "mhc_module_perf.parquet")]:
        assert (fam, table) in read


def test_per_shape_donor_beats_median_on_held_out_system(db):
    """h100_sxm treated as roofline-only with h200_sxm as donor: the ROOFLINE tier's per-shape answer is
    much closer to h100's own measured fp8 GEMMs than SOL / the donor's median util."""
    spec = dataclasses.replace(load_system("h100_sxm"), efficiency_donor="h200_sxm")
    blind = PerfDB(spec, "trtllm", "1.3.0rc20", {}, {}, {}, db.eff, donor=lambda: db)
    c = read_columns(system_data_dir("h100_sxm") / "gemm/trtllm/1.3.0rc20/gemm_perf.parquet",
                     ["m", "n", "k", "latency"], ["gemm_dtype", "kernel_source"])
    sel = c["gemm_dtype"] == "fp8"
    sel &= c["kernel_source"] == pick_lane(c["kernel_source"][sel], [])
    sel &= (c["n"] == 4096) & (c["k"] == 4096)
    m, truth = c["m"][sel], c["latency"][sel] * 1e-3
    lk = blind.gemm(m, 4096, 4096, "fp8")
    assert np.all(lk.tier == Tier.ROOFLINE)
    median = sol.gemm_sol_s(spec, m, 4096, 4096, "fp8") / db.eff["gemm/fp8"]
    err_shape = np.median(np.abs(lk.latency_s / truth - 1))
    err_median = np.median(np.abs(median / truth - 1))
    assert err_shape < 0.15 and err_shape < err_median / 3
