"""MLA op decomposition (model/mla_ops.py): the shapes it asks for, and what the shipped tables answer.

Module vs per-op: where a framework ships both (TRT-LLM), the whole-module table and the sum of the
projections + kernels agree within AGREEMENT (measured: h200_sxm 0.80-0.98 context / 1.06-1.16 decode,
b200_sxm 0.93-1.05, at batch 1-16, 1024 new tokens / 4096 cached). Per-op is the default there; the module is
vLLM's (no kernel tables: per-op would be roofline), SGLang ships no MLA module table (module = roofline)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sloplan.model import mla_ops
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.kv_cache import layer_kv
from sloplan.model.attention import LayerAttention
from sloplan.model.lookups import lookup_all
from sloplan.perfdb.queries import Gemm
from sloplan.model.ops import Op, price, source_label
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.perfdb import Tier, load_perfdb

AGREEMENT = 1.3  # module / per-op within this factor either way, where both tables exist
FP8 = Quant.default_for(GemmQuant.FP8_BLOCK)
B = np.array([1, 4, 16])
S = np.full(3, 1024)
DECODE_B = np.array([1, 16, 64])  # decode is launch-bound below ~8 requests (B200's MLA kernel: 2 is faster than 1)


@pytest.fixture(scope="module")
def dsv3():
    return resolve_model("deepseek-ai/DeepSeek-V3", estimable=False)


@pytest.fixture(scope="module")
def kimi():
    return resolve_model("moonshotai/Kimi-K2-Instruct", estimable=False)


def _db(system, backend):
    return load_perfdb(system, backend)  # memoized in-process by perfdb


def _gemms(group):
    return {t.op: (t.query.scalars, t.count) for t in group.terms if isinstance(t.query, Gemm)}


def _shown(group) -> list:
    """Each term as comparable values (perfdb queries compare by identity)."""
    return [(t.op, t.count, t.analytic, t.floor, type(t.query), t.query.scalars,
             [np.asarray(a).tolist() for a in t.query.arrays]) for t in group.terms]


def test_projection_shapes_on_tp8(dsv3):
    e = Engine(8, 1, FP8)
    g = _gemms(mla_ops.linear_ops(dsv3, e, [10]))
    assert g[Op.MLA_DOWN_GEMM] == ((1536 + 512 + 64, 7168, "fp8_block"), 61.0)  # q_a + kv_a, not split by TP
    assert g[Op.MLA_Q_UP_GEMM] == ((16 * 192, 1536, "fp8_block"), 61.0)
    assert g[Op.ATTN_OUT_GEMM] == ((7168, 16 * 128, "fp8_block"), 61.0)
    ops = [t.op for t in mla_ops.linear_ops(dsv3, e, [10]).terms]
    assert ops.count(Op.ALL_REDUCE) == 1
    ctx = mla_ops.context_attention(dsv3, e, [2], [100], [50])
    kv_b = next(t for t in ctx.terms if t.op is Op.MLA_KV_UP_GEMM)
    assert kv_b.query.scalars == (16 * 256, 512, "fp8_block") and kv_b.query.arrays[0].tolist() == [300.0]
    kernel = next(t for t in ctx.terms if t.op is Op.CONTEXT_MLA)
    assert kernel.query.scalars == (16, "fp8") and kernel.floor == 0
    assert [a.tolist() for a in kernel.query.arrays] == [[2], [100], [50]]


def test_attention_dp_runs_full_heads_and_no_all_reduce(dsv3):
    dp = Engine(1, 1, FP8, dp=8, moe_ep=8)
    assert Op.ALL_REDUCE not in [t.op for t in mla_ops.linear_ops(dsv3, dp, [10]).terms]
    gen = mla_ops.generation_attention(dsv3, dp, [4], [1000])
    assert {t.query.scalars[0] for t in gen.terms} == {128}  # all heads on each attention-DP rank
    assert _shown(gen) == _shown(mla_ops.generation_attention(dsv3, Engine(1, 1, FP8), [4], [1000]))


def test_module_mode_leaves_only_norm_and_all_reduce(dsv3):
    e = Engine(8, 1, FP8)
    assert not _gemms(mla_ops.linear_ops(dsv3, e, [10], module=True))
    ctx = mla_ops.context_attention(dsv3, e, [1], [100], [0], module=True)
    assert [t.op for t in ctx.terms] == [Op.MLA_CONTEXT_MODULE]
    with_prefix = mla_ops.context_attention(dsv3, e, [1], [100], [400], module=True)
    assert [t.count for t in with_prefix.terms if t.op is Op.CONTEXT_MLA] == [61.0, -61.0]


def test_latent_per_token_is_the_cache_model(dsv3):
    assert mla_ops.latent_elems_per_token(dsv3) == 512 + 64
    for tp in (1, 8):
        assert layer_kv(dsv3, LayerAttention.FULL, tp, KvDtype.FP8)[0] == mla_ops.latent_elems_per_token(dsv3)


@pytest.mark.parametrize("system,backend", [("h200_sxm", "trtllm"), ("h200_sxm", "sglang"), ("h200_sxm", "vllm"),
                                            ("b200_sxm", "trtllm"), ("b200_sxm", "sglang"), ("b200_sxm", "vllm")])
@pytest.mark.parametrize("tp", [1, 8])
def test_the_framework_path_is_measured_and_grows(dsv3, system, backend, tp):
    db, e, module = _db(system, backend), Engine(tp, 1, FP8), mla_ops.prefers_module(backend)
    ctx, gen, gen_kv = price(db, [mla_ops.context_attention(dsv3, e, B, S, 0, module),
                                  mla_ops.generation_attention(dsv3, e, DECODE_B, 4096, module),
                                  mla_ops.generation_attention(dsv3, e, 16, [1024, 4096, 16384], module)])
    for p in (ctx, gen, gen_kv):
        assert p.tier.max() <= Tier.INTERPOLATED, (backend, tp, p.tier)
        assert np.all(np.diff(p.latency_s) > 0)


@pytest.mark.parametrize("system", ["h200_sxm", "b200_sxm"])
@pytest.mark.parametrize("tp", [1, 8])
def test_module_and_per_op_agree_where_both_were_measured(dsv3, system, tp):
    db, e = _db(system, "trtllm"), Engine(tp, 1, FP8)
    ratios = []
    for module in (False, True):
        p = price(db, [mla_ops.linear_ops(dsv3, e, B * S, module), mla_ops.context_attention(dsv3, e, B, S, 0, module),
                       mla_ops.linear_ops(dsv3, e, B, module), mla_ops.generation_attention(dsv3, e, B, 4096, module)])
        ratios.append((p[0].latency_s + p[1].latency_s, p[2].latency_s + p[3].latency_s))
    for phase, (ops, mod) in zip(("context", "generation"), zip(*ratios)):
        r = ops / mod
        print(system, tp, phase, "per-op / module", np.round(r, 2))
        assert np.all((r > 1 / AGREEMENT) & (r < AGREEMENT)), (phase, r)


def test_kimi_k2_64_heads_are_inside_the_collected_heads(kimi):
    db = _db("h200_sxm", "trtllm")
    for tp in (1, 8):
        e = Engine(tp, 1, FP8)
        for p in price(db, [mla_ops.context_attention(kimi, e, B, S, 0), mla_ops.generation_attention(kimi, e, B, 4096),
                            mla_ops.generation_attention(kimi, e, B, 4096, module=True)]):
            assert p.tier.max() <= Tier.INTERPOLATED


def test_uncollected_tables_say_roofline_and_name_the_op(dsv3):
    e = Engine(8, 1, FP8)
    (gen,) = price(_db("h200_sxm", "sglang"), [mla_ops.generation_attention(dsv3, e, B, 4096, module=True)])
    assert set(gen.tier) == {Tier.ROOFLINE}
    assert {source_label(t, s) for t, s in zip(gen.tier, gen.source)} == {"MLA generation module"}
    nvfp4 = Engine(8, 1, Quant.default_for(GemmQuant.NVFP4))  # the H200 module tables have no FP4 GEMMs
    (ctx,) = price(_db("h200_sxm", "trtllm"), [mla_ops.context_attention(dsv3, nvfp4, B, S, 0, module=True)])
    assert {source_label(t, s) for t, s in zip(ctx.tier, ctx.source)} == {"MLA context module"}


def test_another_geometry_is_extrapolated_at_best(dsv3):
    m = dataclasses.replace(dsv3.attention.mla, v_head_dim=256)
    other = dataclasses.replace(dsv3, attention=dataclasses.replace(dsv3.attention, mla=m))
    (gen,) = price(_db("h200_sxm", "trtllm"), [mla_ops.generation_attention(other, Engine(8, 1, FP8), B, 4096)])
    assert gen.tier.min() >= Tier.EXTRAPOLATED
    assert source_label(gen.tier[0], gen.source[0]) == "MLA absorbed BMM (pre)"


def test_new_kinds_call_perfdb_with_the_right_arguments(dsv3):
    db, e = _db("h200_sxm", "trtllm"), Engine(4, 1, FP8)
    b, s, p = np.array([1.0, 8.0]), np.array([512.0, 2048.0]), np.array([0.0, 1024.0])
    ctx = mla_ops.context_attention(dsv3, e, b, s, p)
    kernel = next(t.query for t in ctx.terms if t.op is Op.CONTEXT_MLA)
    np.testing.assert_array_equal(lookup_all(db, [kernel])[0].latency_s, db.context_mla(b, s, p, 32, "fp8").latency_s)
    mod = mla_ops.generation_attention(dsv3, e, b, s, module=True).terms[0].query
    want = db.mla_module("generation", b, s, 32, "fp8", "fp8_block").latency_s
    np.testing.assert_array_equal(lookup_all(db, [mod])[0].latency_s, want)
    post = mla_ops.generation_attention(dsv3, e, b, s).terms[2].query
    np.testing.assert_array_equal(lookup_all(db, [post])[0].latency_s, db.mla_bmm(b, 32, "fp8", "post").latency_s)


def test_pricing_together_is_pricing_alone(dsv3):
    db, e = _db("h200_sxm", "trtllm"), Engine(8, 1, FP8)
    groups = [mla_ops.generation_attention(dsv3, e, B, 4096), mla_ops.generation_attention(dsv3, e, B * 2, 1000),
              mla_ops.context_attention(dsv3, e, B, S, 0), mla_ops.context_attention(dsv3, e, B, S, 0, module=True)]
    together = price(db, groups)
    for g, t in zip(groups, together):
        np.testing.assert_array_equal(price(db, [g])[0].latency_s, t.latency_s)


def test_no_decode_requests_no_generation_cost(dsv3):
    (p,) = price(_db("h200_sxm", "trtllm"), [mla_ops.generation_attention(dsv3, Engine(8, 1, FP8), [0, 4], 1000)])
    assert p.latency_s[0] == 0 and p.latency_s[1] > 0 and p.tier[0] == Tier.MEASURED


def test_not_an_mla_model_is_refused():
    dense = resolve_model("Qwen/Qwen3-32B-FP8")
    with pytest.raises(ValueError, match="not an MLA model"):
        mla_ops.linear_ops(dense, Engine(1, 1, FP8), [1])


def test_a_prefix_costs_more_and_vllm_says_its_prefix_is_roofline(dsv3):
    e = Engine(8, 1, FP8)
    for backend in ("trtllm", "sglang", "vllm"):
        module = mla_ops.prefers_module(backend)
        groups = [mla_ops.context_attention(dsv3, e, [1, 2, 4], 1024, p, module) for p in (0, 2048)]
        no, pre = price(_db("h200_sxm", backend), groups)  # (kv_b over > 32k tokens leaves the GEMM table)
        assert np.all(pre.latency_s > no.latency_s)
        if backend == "vllm":  # only modules were collected, without a prefix: the prefix's kernel is roofline
            assert {source_label(t, s) for t, s in zip(pre.tier, pre.source)} == {"context MLA kernel"}
        else:
            assert pre.tier.max() <= Tier.INTERPOLATED
