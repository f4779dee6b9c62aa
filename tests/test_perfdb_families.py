"""perfdb families beyond dense attention/GEMM on real wheel data: NCCL, MoE, MLA, MoE all-to-all, embedding,
coverage, and the latency-space generation-attention scheme."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.perfdb import Tier, coverage

ROOT = None


from conftest import h200_rows  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_perfdb_cache")


@pytest.fixture(scope="module")
def db(h200_trtllm_db):
    return h200_trtllm_db


_rows = h200_rows


def _between(lo, mid, hi):
    return min(lo, hi) * (1 - 1e-9) <= mid <= max(lo, hi) * (1 + 1e-9)


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter", "alltoall", "all_reduce"])
def test_nccl_exact_interior_beyond(db, op):
    c = _rows("comm/nccl/2.29.2/nccl_perf.parquet", ["num_gpus", "message_size"], ["op_name", "nccl_dtype"])
    sel = (c["op_name"] == op) & (c["nccl_dtype"] == "half") & (c["num_gpus"] == 8)
    msgs, lats = c["message_size"][sel], c["latency"][sel]
    lk = db.nccl(op, msgs, 8)
    assert np.all(lk.tier == Tier.MEASURED)
    assert np.allclose(lk.latency_s, lats * 1e-3, rtol=1e-9)
    order = np.argsort(msgs)
    a, b = msgs[order][5], msgs[order][6]
    mid = db.nccl(op, [(a + b) / 2], 8)
    assert mid.tier[0] == Tier.INTERPOLATED
    assert _between(lats[order][5] * 1e-3, mid.latency_s[0], lats[order][6] * 1e-3)
    far = db.nccl(op, [1 << 20], 16)
    assert far.tier[0] == Tier.EXTRAPOLATED and far.latency_s[0] > db.nccl(op, [1 << 20], 8).latency_s[0]
    assert db.nccl(op, [1 << 20], 1).latency_s[0] == 0.0


def test_nccl_vectorized_equals_scalar(db):
    msgs = np.array([300, 5000, 1 << 16, 3 << 20, 1 << 28])
    vec = db.nccl("all_gather", msgs, 4).latency_s
    one = [db.nccl("all_gather", [m], 4).latency_s[0] for m in msgs]
    assert np.allclose(vec, one, rtol=1e-12)
    with pytest.raises(ValueError):
        db.nccl("broadcast", [1], 2)


def test_moe_exact_interior_and_roofline(db):
    c = _rows("moe/trtllm/1.3.0rc20/moe_perf.parquet",
              ["num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size"],
              ["kernel_source", "moe_dtype", "distribution"])
    sel = ((c["moe_dtype"] == "fp8") & (c["kernel_source"] == "moe_torch_flow_cutlass")
           & (c["distribution"] == "power_law_1.2") & (c["hidden_size"] == 4096) & (c["inter_size"] == 1536)
           & (c["topk"] == 8) & (c["num_experts"] == 128) & (c["moe_tp_size"] == 1) & (c["moe_ep_size"] == 8))
    assert sel.sum() > 10
    t, lat = c["num_tokens"][sel], c["latency"][sel] * 1e-3
    lk = db.moe(t, 4096, 1536, 8, 128, 1, 8, "fp8")
    assert np.all(lk.tier == Tier.MEASURED) and np.allclose(lk.latency_s, lat, rtol=1e-9)
    i = np.argsort(t)
    mid = db.moe([(t[i][8] + t[i][9]) / 2], 4096, 1536, 8, 128, 1, 8, "fp8")
    assert mid.tier[0] == Tier.INTERPOLATED and _between(lat[i][8], mid.latency_s[0], lat[i][9])
    miss = db.moe([64], 4096, 1537, 8, 128, 1, 8, "fp8")
    assert miss.tier[0] == Tier.ROOFLINE and miss.latency_s[0] > 0
    other = db.moe([64], 4096, 1536, 8, 128, 1, 8, "fp8", distribution="power_law_9")
    assert other.tier[0] == Tier.EXTRAPOLATED


@pytest.mark.parametrize("kind", ["ctx", "gen"])
def test_mla_exact_and_interior(db, kind):
    rel = "mla/trtllm/1.3.0rc20/" + ("context_mla_perf.parquet" if kind == "ctx" else "generation_mla_perf.parquet")
    c = _rows(rel, ["num_heads", "batch_size", "isl", "step"], ["kv_cache_dtype"])
    seq_col = "isl" if kind == "ctx" else "step"
    sel = (c["kv_cache_dtype"] == "bfloat16") & (c["num_heads"] == 16) & (c["batch_size"] == 4)
    s, lat = c[seq_col][sel], c["latency"][sel] * 1e-3
    fn = (lambda seq: db.context_mla(4, seq, 0, 16, "bf16")) if kind == "ctx" else \
        (lambda seq: db.generation_mla(4, seq, 16, "bf16"))
    lk = fn(s)
    assert np.all(lk.tier == Tier.MEASURED) and np.allclose(lk.latency_s, lat, rtol=1e-9)
    i = np.argsort(s)
    mid = fn(np.array([(s[i][6] + s[i][7]) / 2]))
    assert mid.tier[0] == Tier.INTERPOLATED and _between(lat[i][6], mid.latency_s[0], lat[i][7])


def test_mla_prefix_and_bmm_and_module(db):
    full = db.context_mla([2], [2048], [0], 16).latency_s[0]
    part = db.context_mla([2], [1024], [1024], 16).latency_s[0]
    assert part == pytest.approx(full * (1 - (1024 * 1025 / 2) / (2048 * 2049 / 2)), rel=1e-9)
    c = _rows("mla_bmm/trtllm/1.3.0rc20/mla_bmm_perf.parquet", ["num_tokens", "num_heads"], ["op_name", "bmm_dtype"])
    sel = (c["op_name"] == "mla_gen_pre") & (c["bmm_dtype"] == "bfloat16") & (c["num_heads"] == 16)
    lk = db.mla_bmm(c["num_tokens"][sel], 16, "bf16", "pre")
    assert np.all(lk.tier == Tier.MEASURED) and np.allclose(lk.latency_s, c["latency"][sel] * 1e-3, rtol=1e-9)
    mod = db.mla_module("generation", [8, 64], [1000, 4096], 16, "bf16", "fp8_block")
    assert np.all(mod.latency_s > 0) and mod.worst_tier() <= Tier.INTERPOLATED


def test_moe_a2a_microseconds_to_seconds(db):
    c = _rows("comm/trtllm/1.3.0rc11/moe_a2a_perf.parquet",
              ["ep_size", "hidden_size", "topk", "num_experts", "num_tokens"], ["comm_backend", "phase", "comm_dtype"])
    sel = ((c["comm_backend"] == "trtllm_deepep_ll") & (c["phase"] == "dispatch") & (c["comm_dtype"] == "bfloat16")
           & (c["hidden_size"] == 7168) & (c["topk"] == 8) & (c["num_experts"] == 256))
    assert sel.sum() > 3
    lk = db.moe_a2a(c["num_tokens"][sel], 7168, 8, 256, 8, "dispatch", "bf16", "ll")
    assert np.all(lk.tier == Tier.MEASURED)
    assert np.allclose(lk.latency_s, c["latency"][sel] * 1e-6, rtol=1e-9)  # the table is in µs
    assert np.all(lk.latency_s < 1e-2)
    vec = db.moe_a2a(np.array([3, 50, 200]), 7168, 8, 256, 8).latency_s
    assert np.allclose(vec, [db.moe_a2a([t], 7168, 8, 256, 8).latency_s[0] for t in (3, 50, 200)], rtol=1e-12)


def test_embedding_is_roofline_and_reads_touched_rows(db):
    lk = db.embedding(np.array([1, 1000, 2000]), 4096)
    assert np.all(lk.tier == Tier.ROOFLINE)
    assert lk.latency_s[2] - lk.latency_s[1] == pytest.approx(lk.latency_s[1] - lk.latency_s[0] * 1 - 0, rel=0.01) \
        or lk.latency_s[2] > lk.latency_s[1] > lk.latency_s[0]
    assert lk.latency_s[1] == pytest.approx(db.memory_op(2 * 1000 * 4096 * 2).latency_s, rel=1e-12)


def test_generation_attention_latency_space(db):
    """kv axis: exact hits are the table values; a midpoint is between its neighbours; vectorized == scalar."""
    c = _rows("attention/trtllm/1.3.0rc20/generation_attention_perf.parquet",
              ["batch_size", "num_heads", "num_key_value_heads", "head_dim", "step", "window_size"],
              ["kernel_source", "attn_dtype", "kv_cache_dtype"])
    sel = ((c["kernel_source"] == "torch_flow") & (c["attn_dtype"] == "bfloat16") & (c["kv_cache_dtype"] == "bfloat16")
           & (c["window_size"] == 0) & (c["num_heads"] == 32) & (c["num_key_value_heads"] == 8)
           & (c["head_dim"] == 128) & (c["batch_size"] == 16))
    s, lat = c["step"][sel], c["latency"][sel] * 1e-3
    assert len(s) > 5
    lk = db.generation_attention(16, s, 32, 8, 128, 0, "bf16")
    assert np.all(lk.tier == Tier.MEASURED) and np.allclose(lk.latency_s, lat, rtol=1e-9)
    i = np.argsort(s)
    q = np.array([(s[i][k] + s[i][k + 1]) / 2 for k in range(len(s) - 1)])
    mid = db.generation_attention(16, q, 32, 8, 128, 0, "bf16")
    assert np.all(mid.tier == Tier.INTERPOLATED)
    for k in range(len(q)):
        assert _between(lat[i][k], mid.latency_s[k], lat[i][k + 1])
        one = db.generation_attention(np.array([16]), np.array([q[k]]), 32, 8, 128, 0, "bf16")
        assert one.latency_s[0] == pytest.approx(mid.latency_s[k], rel=1e-12)


def test_coverage_lists_families_and_marks_read():
    cov = coverage("h200_sxm")
    fams = {c.family for c in cov}
    assert {"gemm", "attention", "moe", "mla", "comm", "mla_bmm"} <= fams
    read = {(c.family, c.table) for c in cov if c.read_by_sloplan}
    assert ("moe", "moe_perf.parquet") in read and ("comm", "nccl_perf.parquet") in read
    assert ("gemm", "gemm_perf.parquet") in read
    unread = {c.family for c in cov if not c.read_by_sloplan}
    assert "kda" in unread and "msa" in unread  # linear_attention, quantize: read since families2
    nccl = next(c for c in cov if c.table == "nccl_perf.parquet")
    assert nccl.framework == "nccl" and nccl.versions[-1] == "2.29.2"
    assert coverage("l4") == []
