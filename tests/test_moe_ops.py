"""MoE op decomposition (model/moe_ops.py, model/ops.py): which lookups a step asks for, per family and layout.

No perf tables are read here except where a test prices terms; the shapes are checked against the configs'
own numbers (Qwen3-30B-A3B: hidden 2048, 48 layers, 128 experts top-8 of 768; gpt-oss-120b: 36 layers
alternating sliding (128) / full, MXFP4 experts; Mixtral-8x7B: 8 experts top-2)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend
from sloplan.model.lookups import lookup_all
from sloplan.perfdb.queries import (AllReduce, Gemm, MemoryOp, Moe, MoeA2a, MoeKernel, Nccl, NvlinkA2a, NvlinkKernel,
                                   NvlinkOp, P2p)
from sloplan.model.moe_ops import expert_dtype, moe_layer_terms, moe_ops_estimate, nvlink_rack
from sloplan.model.ops import Op, OpGroup, Term, context_attention, generation_attention, linear_ops, source_label
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_system

FP8B = Quant.default_for(GemmQuant.FP8_BLOCK)
H200 = load_system("h200_sxm")
TOKENS = np.array([1, 16, 256, 4096])


@pytest.fixture(scope="module")
def qwen():
    return resolve_model("Qwen/Qwen3-30B-A3B-FP8", estimable=False)


@pytest.fixture(scope="module")
def gptoss():
    return resolve_model("openai/gpt-oss-120b", estimable=False)


def _by_op(group: OpGroup, op: Op) -> list[Term]:
    return [t for t in group.terms if t.op is op]


def _old_dense_linear_ops(arch, engine, system, tokens, logits) -> list[Term]:
    """model/ops.py linear_ops as it was before MoE (main at fcd01d3), the reference dense must keep."""
    tokens = np.maximum(np.asarray(tokens, dtype=np.int64), 1)
    h, d, tp, q = arch.hidden_size, arch.head_dim, engine.tp, engine.quant.gemm.value
    heads, kvh = arch.num_heads // tp, engine.kv_heads_per_gpu(arch)
    inter = arch.intermediate_size // tp
    L = engine.layers_per_stage(arch) * engine.pp
    gemm = lambda m, n, k, dtype: Gemm(m, n, k, dtype)  # noqa: E731
    terms = [Term(gemm(tokens, (heads + 2 * kvh) * d, h, q), L, Op.QKV_GEMM),
             Term(gemm(tokens, h, heads * d, q), L, Op.ATTN_OUT_GEMM),
             Term(gemm(tokens, 2 * inter, h, q), L, Op.GATE_UP_GEMM),
             Term(gemm(tokens, h, inter, q), L, Op.DOWN_GEMM)]
    if tp > 1:
        terms.append(Term(AllReduce(tokens * h, tp), 2 * L, Op.ALL_REDUCE))
    ew_bytes = tokens * 2.0 * (2 * (2 * h + 2 * h) + (2 * inter + inter) + 2 * (heads + 2 * kvh) * d)
    terms.append(Term(MemoryOp(ew_bytes), L, Op.ELEMENTWISE, analytic=True))
    logits = np.maximum(np.asarray(logits, dtype=np.int64), 1)
    terms.append(Term(gemm(logits, arch.vocab_size // tp, h, "bf16"), 1, Op.LM_HEAD_GEMM))
    if engine.pp > 1:
        cross = engine.gpus > system.gpus_per_node
        terms.append(Term(P2p(tokens * h * 2.0, cross), engine.pp - 1, Op.PP_HANDOFF, analytic=True))
    return terms


def _same_terms(a: list[Term], b: list[Term]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.op, x.count, x.analytic, x.floor, type(x.query), x.query.scalars) == (
            y.op, y.count, y.analytic, y.floor, type(y.query), y.query.scalars)
        assert len(x.query.arrays) == len(y.query.arrays)
        for u, v in zip(x.query.arrays, y.query.arrays):
            assert u.dtype == v.dtype and np.array_equal(u, v)


@pytest.mark.parametrize("model", ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-32B"])
@pytest.mark.parametrize("tp,pp", [(1, 1), (4, 1), (2, 4), (16, 1)])
def test_dense_models_ask_for_exactly_the_lookups_they_did(model, tp, pp):
    arch = resolve_model(model)
    engine = Engine(tp, pp, Quant.default_for(GemmQuant.FP8))
    for backend in (None, Backend.VLLM, Backend.SGLANG):
        got = linear_ops(arch, engine, H200, TOKENS, TOKENS + 3, backend)
        _same_terms(list(got.terms), _old_dense_linear_ops(arch, engine, H200, TOKENS, TOKENS + 3))
    ctx = context_attention(arch, engine, [1], [4000], [0])
    assert [(t.query.scalars, t.count) for t in ctx.terms] == [
        ((arch.num_heads // tp, engine.kv_heads_per_gpu(arch), arch.head_dim, 0, "fp8"), arch.num_layers // pp * pp)]


def test_the_families_this_module_estimates(qwen, gptoss):
    assert moe_ops_estimate(qwen) and moe_ops_estimate(gptoss)
    assert moe_ops_estimate(resolve_model("mistralai/Mixtral-8x7B-v0.1", estimable=False))
    assert moe_ops_estimate(resolve_model("MiniMaxAI/MiniMax-M2.5", estimable=False))
    assert not moe_ops_estimate(resolve_model("deepseek-ai/DeepSeek-V3", estimable=False))  # MLA: not these ops
    assert not moe_ops_estimate(resolve_model("meta-llama/Llama-3.1-8B"))


def test_qwen3_moe_layer_on_one_gpu(qwen):
    g = linear_ops(qwen, Engine(1, 1, FP8B), H200, TOKENS, TOKENS)
    (router,) = _by_op(g, Op.ROUTER_GEMM)
    assert router.query.scalars == (128, 2048, "bf16") and router.count == 48
    (experts,) = _by_op(g, Op.MOE_EXPERTS)
    assert isinstance(experts.query, Moe) and experts.count == 48
    assert experts.query.scalars == (2048, 768, 8, 128, 1, 1, "fp8_block", "power_law_1.2", MoeKernel.CUTLASS)
    assert np.array_equal(experts.query.arrays[0], TOKENS)
    assert not _by_op(g, Op.GATE_UP_GEMM) and not _by_op(g, Op.ALL_REDUCE) and not _by_op(g, Op.MOE_DISPATCH)
    (qkv,) = _by_op(g, Op.QKV_GEMM)
    assert qkv.query.scalars == ((32 + 2 * 4) * 128, 2048, "fp8_block")


def test_moe_tensor_parallel_all_reduces_like_a_dense_mlp(qwen):
    g = linear_ops(qwen, Engine(4, 1, FP8B, moe_tp=4), H200, TOKENS, TOKENS)
    (ar,) = _by_op(g, Op.ALL_REDUCE)
    (moe_ar,) = _by_op(g, Op.MOE_ALL_REDUCE)
    assert ar.count == 48 and moe_ar.count == 48 and moe_ar.query.scalars == (4,)
    (experts,) = _by_op(g, Op.MOE_EXPERTS)
    assert experts.query.scalars[4:6] == (4, 1) and np.array_equal(experts.query.arrays[0], TOKENS)


@pytest.mark.parametrize("backend", [Backend.TRTLLM, Backend.VLLM, Backend.SGLANG])
def test_attention_dp_experts_see_the_whole_groups_tokens(qwen, backend):
    engine = Engine(1, 1, FP8B, dp=4, moe_ep=4)
    g = linear_ops(qwen, engine, H200, TOKENS, TOKENS, backend)
    (experts,) = _by_op(g, Op.MOE_EXPERTS)
    assert np.array_equal(experts.query.arrays[0], TOKENS * 4)
    (qkv,) = _by_op(g, Op.QKV_GEMM)
    assert np.array_equal(qkv.query.arrays[0], TOKENS)  # attention on the rank's own tokens
    (gather,), (scatter,) = _by_op(g, Op.MOE_DISPATCH), _by_op(g, Op.MOE_COMBINE)
    assert gather.query.scalars == ("all_gather", 4, "bf16") and scatter.query.scalars == ("reduce_scatter", 4, "bf16")
    assert np.array_equal(gather.query.arrays[0], TOKENS * 2048 * 4)
    assert not _by_op(g, Op.MOE_ALL_REDUCE) and not _by_op(g, Op.ALL_REDUCE)


def test_trtllm_uses_the_all_to_all_table_on_nvl72_only(qwen):
    engine = Engine(1, 1, FP8B, dp=8, moe_ep=8)
    gb200 = load_system("gb200")
    a2a = [t for t in linear_ops(qwen, engine, gb200, TOKENS, TOKENS).terms if isinstance(t.query, NvlinkA2a)]
    assert nvlink_rack(gb200) and not nvlink_rack(H200)
    assert not [t for t in linear_ops(qwen, engine, H200, TOKENS, TOKENS).terms
                if isinstance(t.query, (MoeA2a, NvlinkA2a))]
    assert [t.query.op for t in a2a] == [NvlinkOp.DISPATCH, NvlinkOp.COMBINE]
    assert a2a[0].query.scalars[:4] == (2048, 8, 128, 8) and a2a[0].query.dtype == "fp8"  # FP8 on the wire
    vllm = linear_ops(qwen, engine, gb200, TOKENS, TOKENS, Backend.VLLM)
    assert not [t for t in vllm.terms if isinstance(t.query, (MoeA2a, NvlinkA2a))]


@pytest.mark.parametrize("kernel,nvlink,ops", [
    (MoeKernel.CUTLASS, NvlinkKernel.ONE_SIDED, [NvlinkOp.DISPATCH, NvlinkOp.COMBINE_LOW_PRECISION]),
    (MoeKernel.TRTLLM, NvlinkKernel.ONE_SIDED, [NvlinkOp.DISPATCH, NvlinkOp.COMBINE_LOW_PRECISION]),
    (MoeKernel.CUTEDSL, NvlinkKernel.ONE_SIDED, [NvlinkOp.DISPATCH, NvlinkOp.COMBINE_LOW_PRECISION]),
    (MoeKernel.WIDEEP, NvlinkKernel.TWO_SIDED,
     [NvlinkOp.PREPARE, NvlinkOp.DISPATCH, NvlinkOp.COMBINE_LOW_PRECISION])])
def test_the_nvlink_kernel_is_the_one_the_moe_backend_selects(kernel, nvlink, ops):
    """TRT-LLM 1.2/1.3: Cutlass / TRTLLMGen / CuteDSL MoE select NVLinkOneSided, WideEPMoE NVLinkTwoSided (its
    prepare phase first); NVFP4 experts dispatch NVFP4 and combine in NVFP4."""
    arch = resolve_model("nvidia/DeepSeek-R1-NVFP4", estimable=False)
    engine = replace(Engine(1, 1, Quant.default_for(GemmQuant.NVFP4), dp=32, moe_ep=32), moe_kernel=kernel)
    terms = [t for t in moe_layer_terms(arch, engine, load_system("gb200"), TOKENS, 58, Backend.TRTLLM)
             if isinstance(t.query, NvlinkA2a)]
    assert [t.query.op for t in terms] == ops and {t.query.kernel for t in terms} == {nvlink}
    assert {t.query.dtype for t in terms} == {"nvfp4"} and {t.query.ep_size for t in terms} == {32}


def test_gpt_oss_prices_sliding_layers_with_the_window(gptoss):
    engine = Engine(2, 1, Quant.default_for(GemmQuant.BF16), moe_tp=2)
    parts = {t.query.scalars[3]: t.count for t in generation_attention(gptoss, engine, [8], [5000]).terms}
    assert parts == {0: 18, 128: 18}
    assert {t.query.scalars[3] for t in context_attention(gptoss, engine, [1], [4000], [0]).terms} == {0, 128}
    g = linear_ops(gptoss, engine, H200, TOKENS, TOKENS)
    assert _by_op(g, Op.QKV_GEMM)[0].query.scalars[2] == "bf16"  # attention left in BF16 by the checkpoint
    assert _by_op(g, Op.MOE_EXPERTS)[0].query.scalars[6] == "w4a16_mxfp4"


def test_mxfp4_experts_kernel_per_framework_and_gpu(gptoss):
    engine = Engine(1, 1, Quant.default_for(GemmQuant.BF16))
    b200 = load_system("b200_sxm")
    assert expert_dtype(gptoss, engine, b200, Backend.TRTLLM) == "w4a8_mxfp4_mxfp8"
    assert expert_dtype(gptoss, engine, b200, Backend.VLLM) == "w4a8_mxfp4_mxfp8"  # its Blackwell MXFP8 switch
    assert expert_dtype(gptoss, engine, b200, Backend.SGLANG) == "w4a16_mxfp4"
    assert expert_dtype(gptoss, engine, H200, Backend.TRTLLM) == "w4a16_mxfp4"
    assert expert_dtype(gptoss, engine, H200, Backend.VLLM) == "w4a16_mxfp4"  # no FP4 math


def test_fp8_engines_run_block_scaled_experts_with_block_kernels(qwen):
    assert expert_dtype(qwen, Engine(1, 1, Quant.default_for(GemmQuant.FP8))) == "fp8_block"
    mixtral = resolve_model("mistralai/Mixtral-8x7B-v0.1", estimable=False)
    assert expert_dtype(mixtral, Engine(1, 1, Quant.default_for(GemmQuant.FP8))) == "fp8"  # quantized on load
    g = linear_ops(mixtral, Engine(2, 1, Quant.default_for(GemmQuant.BF16), moe_ep=2), H200, TOKENS, TOKENS)
    assert _by_op(g, Op.ROUTER_GEMM)[0].query.scalars == (8, 4096, "bf16")
    assert _by_op(g, Op.MOE_EXPERTS)[0].query.scalars[:6] == (4096, 14336, 2, 8, 1, 2)


def test_shared_experts_are_cut_by_the_attention_tp(qwen):
    arch = replace(qwen, mlp=replace(qwen.mlp, moe=replace(qwen.mlp.moe, shared_intermediate=4096)))
    terms = moe_layer_terms(arch, Engine(4, 1, FP8B, moe_tp=4), H200, TOKENS, 48)
    shared = [t.query.scalars for t in terms if t.op is Op.SHARED_EXPERT_GEMM]
    assert shared == [(2 * 1024, 2048, "fp8_block"), (2048, 1024, "fp8_block")]


def test_an_uncollected_layout_says_which_op_and_never_reads_as_measured(qwen, h200_trtllm_db):
    # moe_tp 4 of this shape is not in the h200 TRT-LLM table; the EP layout of the same GPUs is
    g = OpGroup(tuple(moe_layer_terms(qwen, Engine(4, 1, FP8B, moe_tp=4), H200, TOKENS, 48)))
    p = g.priced(lookup_all(h200_trtllm_db, g.queries))
    assert (p.tier >= Tier.EXTRAPOLATED).all()
    assert {source_label(t, s) for t, s in zip(p.tier, p.source)} == {"MoE experts"}
    # no layout of a 256-way expert split was collected: roofline, named
    g = OpGroup(tuple(moe_layer_terms(qwen, Engine(1, 1, FP8B, dp=512, moe_tp=2, moe_ep=256), H200, TOKENS, 48)))
    p = g.priced(lookup_all(h200_trtllm_db, g.queries))
    experts = [i for i, t in enumerate(g.terms) if t.op is Op.MOE_EXPERTS][0]
    assert (lookup_all(h200_trtllm_db, [g.terms[experts].query])[0].tier == Tier.ROOFLINE).all()
    assert (p.tier == Tier.ROOFLINE).all()


def test_nccl_queries_answer_as_perfdb_does(h200_trtllm_db):
    msg = np.array([4096.0, 1 << 20, 1 << 24])
    (lk,) = lookup_all(h200_trtllm_db, [Nccl("all_gather", msg, 4, "bf16")])
    ref = h200_trtllm_db.nccl("all_gather", msg, 4, "bf16")
    assert np.array_equal(lk.latency_s, ref.latency_s) and np.array_equal(lk.tier, ref.tier)
    assert (np.diff(lk.latency_s) > 0).all()


def test_an_nvlink_rack_is_hardware_data_not_a_bandwidth_tie():
    """GB200/GB300 NVL72 join their trays by NVLink (nvlink_domain_gpus: 72); an L40S server's NIC is faster
    than its PCIe, which once read as a rack and priced TRT-LLM's NVLink all-to-all on GPUs without NVLink."""
    from sloplan.model.moe_ops import nvlink_rack
    from sloplan.model.parallel_rules import domain_gpus
    from sloplan.perfdb.catalog import load_system

    for name in ("gb200", "gb300"):
        assert nvlink_rack(load_system(name)) and domain_gpus(load_system(name)) is None
    l40s = load_system("l40s")
    assert l40s.inter_node_bw_bytes_per_s >= l40s.intra_node_bw_bytes_per_s
    assert not nvlink_rack(l40s) and domain_gpus(l40s) == l40s.gpus_per_node
    assert not nvlink_rack(load_system("h200_sxm"))
