"""perfdb wide-EP families (TRT-LLM / SGLang wide-EP MoE, SGLang wide-EP MLA / MLP, DeepEP), the per-shape
donor and sibling-dtype fallback of MoE / MLA / comm, and the overlay's `torch` lane, on real wheel data."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.perfdb import PerfDB, Tier, coverage, load_perfdb, sol
from sloplan.perfdb.collector.schema import GEMM
from sloplan.perfdb.collector.writer import write_table
from sloplan.perfdb.source import read_columns, system_data_dir

pytestmark = pytest.mark.usefixtures("isolated_perfdb_cache")


@pytest.fixture(scope="module")
def trt(h200_trtllm_db):
    return h200_trtllm_db


@pytest.fixture(scope="module")
def sg(isolated_perfdb_cache):
    return load_perfdb("h200_sxm", "sglang")


def _rows(rel, numeric, text, lat="latency"):
    return read_columns(system_data_dir("h200_sxm") / rel, numeric + [lat], text)


def _geo(values, scale):
    return float(np.exp(np.mean(np.log(np.asarray(values) * scale))))


def test_wideep_moe_trtllm_exact_interior_vectorized(trt):
    c = _rows("moe/trtllm/1.3.0rc10/wideep_moe_perf.parquet",
              ["hidden_size", "inter_size", "num_experts", "num_slots", "moe_ep_size", "num_tokens"], ["distribution"])
    sel = ((c["hidden_size"] == 7168) & (c["num_experts"] == 256) & (c["num_slots"] == 256) & (c["moe_ep_size"] == 32)
           & (c["distribution"] == "power_law_1.2"))
    toks = np.unique(c["num_tokens"][sel])
    lk = trt.wideep_moe(toks, 7168, 2048, 8, 256, 32, "fp8_block", "power_law_1.2")
    assert np.all(lk.tier == Tier.MEASURED)
    want = [_geo(c["latency"][sel & (c["num_tokens"] == t)], 1e-3) for t in toks]
    np.testing.assert_allclose(lk.latency_s, want, rtol=1e-9)
    mid = trt.wideep_moe(np.array([100.0, 3000.0]), 7168, 2048, 8, 256, 32)
    assert np.all(mid.tier == Tier.INTERPOLATED)
    q = np.array([3.0, 100.0, 3000.0, 16384.0])
    per = [trt.wideep_moe(np.array([x]), 7168, 2048, 8, 256, 32).latency_s[0] for x in q]
    np.testing.assert_allclose(trt.wideep_moe(q, 7168, 2048, 8, 256, 32).latency_s, per, rtol=1e-12)
    # EPLB slice with redundant slots is its own slice; a missing distribution borrows another (EXTRAPOLATED)
    eplb = trt.wideep_moe([1024], 7168, 2048, 8, 256, 32, distribution="power_law_1.2_eplb", num_slots=288)
    assert eplb.tier[0] <= Tier.INTERPOLATED
    other = trt.wideep_moe([1024], 7168, 2048, 8, 256, 32, distribution="power_law_0.8")
    assert other.tier[0] == Tier.EXTRAPOLATED


def test_wideep_sglang_moe_mla_mlp(sg):
    c = _rows("moe/sglang/0.5.10/wideep_generation_moe_perf.parquet", ["moe_ep_size", "num_tokens"], ["distribution"])
    sel = (c["moe_ep_size"] == 64) & (c["distribution"] == "uniform")
    toks = np.unique(c["num_tokens"][sel])
    lk = sg.wideep_moe(toks, 7168, 2048, 8, 256, 64, distribution="uniform", phase="generation")
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, [_geo(c["latency"][sel & (c["num_tokens"] == t)], 1e-3) for t in toks],
                               rtol=1e-9)
    m = _rows("mla/sglang/0.5.10/wideep_generation_mla_perf.parquet", ["num_heads", "batch_size", "isl"],
              ["kernel_source"])
    sel = (m["kernel_source"] == "fa3") & (m["num_heads"] == 128) & (m["batch_size"] == 64)
    isl = np.unique(m["isl"][sel])
    lk = sg.wideep_mla("generation", 64, isl, 128)
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, [_geo(m["latency"][sel & (m["isl"] == s)], 1e-3) for s in isl], rtol=1e-9)
    assert sg.wideep_mla("generation", 64, [3000.0], 128).tier[0] == Tier.INTERPOLATED
    p = _rows("mlp/sglang/0.5.6.post2/wideep_context_mlp_perf.parquet", ["num_token"], [], lat="avg_ms")
    lk = sg.wideep_mlp("context", p["num_token"])
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, p["avg_ms"] * 1e-3, rtol=1e-9)  # avg_ms → s
    with pytest.raises(ValueError):
        sg.wideep_mlp("decode", [1])


def test_deepep_microseconds_and_moe_a2a(sg):
    c = read_columns(system_data_dir("h200_sxm") / "comm/sglang/0.5.12/wideep_deepep_ll_perf.parquet",
                     ["hidden_size", "num_topk", "num_experts", "num_token", "dispatch_avg_t_us"], [])
    sel = (c["hidden_size"] == 7168) & (c["num_topk"] == 8) & (c["num_experts"] == 256)
    toks = np.unique(c["num_token"][sel])
    lk = sg.deepep(toks, 7168, 8, 256, "dispatch", "ll")
    assert np.all(lk.tier == Tier.MEASURED)
    want = [_geo(c["dispatch_avg_t_us"][sel & (c["num_token"] == t)], 1e-6) for t in toks]  # µs → s
    np.testing.assert_allclose(lk.latency_s, want, rtol=1e-9)
    assert sg.deepep([100.0], 7168, 8, 256).tier[0] == Tier.INTERPOLATED
    # SGLang has no moe_a2a_perf table: moe_a2a on 8 GPUs answers from DeepEP
    np.testing.assert_allclose(sg.moe_a2a(toks, 7168, 8, 256, 8, "dispatch", "bf16", "ll").latency_s, want, rtol=1e-9)
    n = sg.deepep([1024.0], 7168, 8, 256, "combine", "normal", sms=24)
    assert n.tier[0] <= Tier.INTERPOLATED and n.latency_s[0] > 0


def test_coverage_marks_wideep_read():
    read = {(c.family, c.table) for c in coverage("h200_sxm") if c.read_by_sloplan}
    for key in [("moe", "wideep_moe_perf.parquet"), ("moe", "wideep_context_moe_perf.parquet"),
                ("mla", "wideep_generation_mla_perf.parquet"), ("mlp", "wideep_context_mlp_perf.parquet"),
                ("comm", "wideep_deepep_ll_perf.parquet"), ("comm", "wideep_deepep_normal_perf.parquet")]:
        assert key in read


def test_per_shape_donor_for_moe_mla_comm(trt):
    pcie = load_perfdb("h100_pcie", "trtllm")
    donor = load_perfdb("h100_sxm", "trtllm")
    a = pcie.moe([64, 4096], 4096, 1536, 8, 128, 1, 8, "bf16")
    d = donor.moe([64, 4096], 4096, 1536, 8, 128, 1, 8, "bf16")
    assert np.all(a.tier == Tier.ROOFLINE)
    assert not np.allclose(a.latency_s / d.latency_s, a.latency_s[0] / d.latency_s[0])  # per shape, not one scale
    assert np.all(a.latency_s >= d.latency_s * 0.99)  # PCIe H100: less bandwidth and FLOP/s than SXM
    for lk in (pcie.generation_mla([8, 64], 4096, 128), pcie.mla_bmm([64, 4096], 128),
               pcie.nccl("all_gather", [1e4, 1e7], 8), pcie.moe_a2a([16, 256], 7168, 8, 256, 8)):
        assert np.all(lk.tier == Tier.ROOFLINE) and np.all(np.isfinite(lk.latency_s)) and np.all(lk.latency_s > 0)


def test_sibling_dtype_only_where_hardware_has_it(trt):
    full = load_perfdb("b200_sxm", "trtllm")
    hidden = PerfDB(full.system, full.backend, full.version,
                    {n: g for n, g in full._sparse.items() if n != "gemm/nvfp4"}, dict(full.lanes),
                    {n: e for n, e in full.eff.items() if n != "gemm/nvfp4"})
    m = np.array([1.0, 8192.0])
    lk = hidden.gemm(m, 7168, 7168, "nvfp4")  # no nvfp4 slice → the fp8 sibling (most cells) at the same shape
    fp8 = full.gemm(m, 7168, 7168, "fp8")
    true = full.gemm(m, 7168, 7168, "nvfp4")
    assert np.all(lk.tier == Tier.ROOFLINE)
    assert lk.latency_s[1] < fp8.latency_s[1]  # compute-bound: fp4 peak is 2× fp8
    assert lk.latency_s[0] != hidden.efficiency("gemm")  # not the family median
    np.testing.assert_allclose(lk.latency_s, true.latency_s, rtol=0.5)
    # Hopper has no FP4 units (nor Ampere fp8): SOL / family median as before, never a sibling borrow
    for db, dtype in ((trt, "nvfp4"), (load_perfdb("a100_sxm", "trtllm"), "fp8")):
        lk = db.gemm(np.array([64.0, 4096.0]), 4096, 4096, dtype)
        np.testing.assert_allclose(lk.latency_s * db.efficiency("gemm", f"gemm/{dtype}"),
                                   sol.gemm_sol_s(db.system, np.array([64.0, 4096.0]), 4096, 4096, dtype), rtol=1e-9)


def test_torch_lane_from_collector_overlay(tmp_path):
    rows = [dict(framework="torch", version="2.9.0", device="test", op_name="gemm", kernel_source="torch_mm",
                 gemm_dtype="bfloat16", m=m, n=4096, k=4096, latency=lat)
            for m, lat in ((64, 0.05), (128, 0.06), (256, 0.09))]
    write_table(tmp_path / "h100_pcie" / "gemm" / "torch" / "2.9.0" / "gemm_perf.parquet", GEMM, rows)
    for backend in ("trtllm", "sglang"):
        db = load_perfdb("h100_pcie", backend, overlay=tmp_path)
        lk = db.gemm([64, 128, 256, 100], 4096, 4096, "bf16")
        assert list(lk.tier[:3]) == [Tier.MEASURED] * 3 and lk.tier[3] == Tier.INTERPOLATED
        np.testing.assert_allclose(lk.latency_s[:3], [0.05e-3, 0.06e-3, 0.09e-3], rtol=1e-9)
        assert db.lanes["gemm/bf16"] == "torch:torch_mm@2.9.0"
        assert db.gemm([64], 4096, 4096, "fp8").tier[0] == Tier.ROOFLINE  # not collected: donor as before
    plain = load_perfdb("h100_pcie", "trtllm")
    assert plain.gemm([64], 4096, 4096, "bf16").tier[0] == Tier.ROOFLINE
