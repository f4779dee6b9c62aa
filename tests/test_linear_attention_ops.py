"""Hybrid gated-DeltaNet op decomposition (model/linear_attention_ops.py) on the shipped tables.

There is no whole-module GDN table to check the per-op sum against: `PerfDB.gdn` (conv + delta rule) is
the kernel table, and the projections are GEMMs, so the checks are shapes, tiers and trends. TRT-LLM
collected GDN for 16 key heads only (tp 1 of Qwen3.5); SGLang and vLLM for 1-16 key heads."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.model import linear_attention_ops as la
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.lookups import flat, lookup_all
from sloplan.perfdb.queries import Gemm
from sloplan.model.ops import Op, OpGroup, price, source_label
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_perfdb

BF16 = Quant.default_for(GemmQuant.BF16)
B = np.array([1, 4, 16])
S = np.full(3, 1024)


@pytest.fixture(scope="module")
def qwen():
    return resolve_model("Qwen/Qwen3.5-397B-A17B", estimable=False)


def test_projection_shapes_and_layer_counts(qwen):
    terms = la.linear_ops(qwen, Engine(8, 4, BF16), [10]).terms
    by = [(t.op, t.query.scalars, t.count) for t in terms if isinstance(t.query, Gemm)]
    conv_dim, vd = 2 * 16 * 128 + 64 * 128, 64 * 128
    assert by == [(Op.GDN_IN_GEMM, (conv_dim // 8 + vd // 8, 4096, "bf16"), 45.0),  # q/k/v for the conv, and z
                  (Op.GDN_IN_GEMM, (2 * 8, 4096, "bf16"), 45.0),  # b and a: one per value head each
                  (Op.GDN_OUT_GEMM, (4096, vd // 8, "bf16"), 45.0),
                  (Op.QKV_GEMM, ((2 * 4 + 2 * 1) * 256, 4096, "bf16"), 15.0),  # q with its output gate; 2 KV heads
                  (Op.ATTN_OUT_GEMM, (4096, 4 * 256, "bf16"), 15.0)]
    assert [t.count for t in terms if t.op is Op.ALL_REDUCE] == [60.0]


def test_kernel_keys(qwen):
    e = Engine(8, 1, BF16)
    gdn, gqa = la.context_attention(qwen, e, [2], [100], [50]).terms
    assert gdn.query.scalars == ("context", 2, 8, 128, 128) and gdn.count == 45
    assert [a.tolist() for a in flat(gdn.query).arrays] == [[2], [100]]  # the prefix lives in the state
    assert gqa.query.scalars == (4, 1, 256, 0, "bf16") and gqa.count == 15 and gqa.query.arrays[2].tolist() == [50]
    gdn, gqa = la.generation_attention(qwen, e, [3], [100]).terms
    assert gdn.query.scalars[0] == "generation" and flat(gdn.query).arrays[1].tolist() == [1.0]


@pytest.mark.parametrize("system,backend,tps", [("h200_sxm", "trtllm", (1,)), ("h200_sxm", "sglang", (1, 4, 8)),
                                                ("h200_sxm", "vllm", (1, 4, 8)), ("b200_sxm", "vllm", (1, 8))])
def test_measured_where_collected_and_growing(qwen, system, backend, tps):
    db = load_perfdb(system, backend)
    for tp in tps:
        e = Engine(tp, 1, BF16)
        ctx, gen, gen_kv = price(db, [la.context_attention(qwen, e, B, S, 0), la.generation_attention(qwen, e, B, 4096),
                                      la.generation_attention(qwen, e, 16, [1024, 4096, 8192])])
        for p in (ctx, gen, gen_kv):
            assert p.tier.max() <= Tier.INTERPOLATED, (backend, tp, p.tier)
            assert np.all(np.diff(p.latency_s) > 0), (backend, tp, p.latency_s)


def test_decode_state_update_does_not_grow_with_context(qwen):
    db, e = load_perfdb("h200_sxm", "vllm"), Engine(4, 1, BF16)
    gdn, gqa = la.generation_attention(qwen, e, [16, 16], [1024, 16384]).terms
    lin, full = price(db, [OpGroup((gdn,)), OpGroup((gqa,))])
    assert lin.latency_s[0] == lin.latency_s[1] and full.latency_s[1] > full.latency_s[0]
    ctx = price(db, [la.context_attention(qwen, e, 4, 1024, p) for p in (0, 8192)])
    assert ctx[1].latency_s[0] > ctx[0].latency_s[0]  # only the full layers see the prefix


def test_uncollected_head_counts_say_so_and_name_the_op(qwen):
    (gen,) = price(load_perfdb("h200_sxm", "trtllm"), [la.generation_attention(qwen, Engine(8, 1, BF16), B, 4096)])
    assert gen.tier.min() >= Tier.EXTRAPOLATED
    assert {source_label(t, s) for t, s in zip(gen.tier, gen.source)} == {
        "gated-DeltaNet generation (conv + state update)"}


def test_gdn_lookup_is_the_perfdb_call(qwen):
    db = load_perfdb("h200_sxm", "sglang")
    b, s = np.array([1.0, 8.0]), np.array([512.0, 2048.0])
    q = la.context_attention(qwen, Engine(4, 1, BF16), b, s, 0).terms[0].query
    np.testing.assert_array_equal(lookup_all(db, [q])[0].latency_s, db.gdn("context", b, s, 4, 16, 128, 128).latency_s)


def test_not_a_hybrid_model_is_refused():
    with pytest.raises(ValueError, match="not a hybrid"):
        la.linear_ops(resolve_model("Qwen/Qwen3-32B-FP8"), Engine(1, 1, BF16), [1])
