"""Per-worker estimators of disaggregated serving (model/disagg_workers.py)."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.core.enums import Backend, ServingMode
from sloplan.model.disagg_workers import (decode_pending, kv_bytes_per_request, kv_transfer_s, link_bytes_per_s,
                                          prefill_pending)
from sloplan.model.disagg_calibration import IDENTITY
from sloplan.model.options import evaluate, fitting_engines
from sloplan.model.pending import settle
from sloplan.perfdb import Tier


@pytest.fixture(scope="module")
def dense():
    ctx = build_context("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, None, 4000, 500, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 8, 512)
    return ctx, slots[0]


def test_workers_are_static_batching_split_by_phase(dense):
    ctx, slot = dense
    b = np.array([1, 2, 8, 32])
    # without the fitted disaggregated correction (tests/test_disagg_estimate.py checks how it applies)
    p, d = settle(ctx.db, [prefill_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, b,
                                           ctx.calibration, IDENTITY),
                           decode_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, b,
                                          ctx.calibration)])
    static = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC, b, ctx.calibration)
    # the decode worker is the aggregated estimator's decode, its frontend limit included: one definition
    reach = static.tier <= Tier.EXTRAPOLATED  # packed passes beyond the tables: test_packed_passes_...
    assert reach[0] and np.allclose(p.latency_s[reach], static.ttft_s[reach])
    assert np.allclose(d.tpot_s, static.tpot_s)
    # the prefill worker is busy for its latency less the server's fixed per-request TTFT cost
    assert np.allclose(p.service_s, p.latency_s - ctx.calibration.ttft_overhead_s)
    assert np.allclose(p.requests_per_s, b / p.service_s)
    assert np.allclose(d.requests_per_s, b / (ctx.workload.osl * d.tpot_s))
    assert np.all(np.diff(p.latency_s) > 0) and np.all(np.diff(d.requests_per_s) > 0)


def test_kv_bytes_gqa_and_mla():
    gqa = build_context("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, None, 1000, 100, 0, None).arch
    g = gqa.attention.gqa
    from sloplan.model.quant import KvDtype
    assert kv_bytes_per_request(gqa, KvDtype.FP8, 1000) == 2 * g.num_kv_heads * g.head_dim * 1000 * gqa.num_layers
    mla = build_context("deepseek-ai/DeepSeek-V3", "h200_sxm", Backend.TRTLLM, None, 1000, 100, 0, None).arch
    m = mla.attention.mla
    assert kv_bytes_per_request(mla, KvDtype.FP8, 1000) == (m.kv_lora_rank + m.qk_rope_head_dim) * 1000 * mla.num_layers


def test_link_and_transfer_time():
    from sloplan.perfdb import load_system

    h200, gb200 = load_system("h200_sxm"), load_system("gb200")
    assert link_bytes_per_s(h200, h200, 8) == h200.intra_node_bw_bytes_per_s
    assert link_bytes_per_s(h200, h200, 16) == h200.inter_node_bw_bytes_per_s
    assert link_bytes_per_s(h200, gb200, 2) == min(h200.inter_node_bw_bytes_per_s, gb200.inter_node_bw_bytes_per_s)
    assert kv_transfer_s(1e9, 1e10, streams=4, latency_s=1e-5) == pytest.approx(1e-5 + 0.025)


def test_decode_worker_meets_the_aggregated_frontend_limit(dense):
    """A binding frontend limit slows the decode worker exactly as it slows the aggregated engine."""
    from dataclasses import replace

    ctx, slot = dense
    b = np.array([1, 16, 64])
    cal = replace(ctx.calibration, frontend_s_per_token=1e-3)  # 1000 tokens/s: binds at every width
    (d,) = settle(ctx.db, [decode_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, b, cal)])
    static = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC, b, cal)
    assert np.allclose(d.tpot_s, static.tpot_s)
    assert np.all(b / d.tpot_s < 1000.0)  # the worker streams below the limit


def test_decode_worker_with_attention_dp_gets_the_limit_per_rank():
    from dataclasses import replace

    from sloplan.model.calibration import Calibration
    from sloplan.model.disagg_workers import decode_calibration

    cal = replace(Calibration(), frontend_s_per_token=4e-5)
    assert decode_calibration(cal, 1) == cal
    assert decode_calibration(cal, 8).frontend_s_per_token == pytest.approx(5e-6)
    assert decode_calibration(Calibration(), 8) == Calibration()


def test_packed_passes_beyond_the_tables_scale_the_widest_reachable_pass():
    from sloplan.model.disagg_workers import packed_beyond_tables

    b = np.array([1, 2, 4, 8])
    busy = np.array([1.0, 1.9, 3.0, 4.0])  # roofline rows come out too cheap
    tier = np.array([Tier.INTERPOLATED, Tier.EXTRAPOLATED, Tier.ROOFLINE, Tier.ROOFLINE])
    source = np.array([0, 1, 7, 7])
    out, t, s = packed_beyond_tables(b, busy, tier, source)
    assert np.allclose(out, [1.0, 1.9, 3.7, 7.3])  # the 2-prompt pass + 0.9 s per extra prompt
    assert list(t) == [Tier.INTERPOLATED, Tier.EXTRAPOLATED, Tier.EXTRAPOLATED, Tier.EXTRAPOLATED]
    assert list(s) == [0, 1, 1, 1]
    # nothing reachable, or everything: unchanged
    one = np.array([Tier.MEASURED] + [Tier.ROOFLINE] * 3)  # only one reachable: scaled by prompts
    assert np.allclose(packed_beyond_tables(b, busy, one, source)[0], [1.0, 2.0, 4.0, 8.0])
    for tiers in ([Tier.ROOFLINE] * 4, [Tier.MEASURED] * 4):
        out, t, _ = packed_beyond_tables(b, busy, np.array(tiers), source)
        assert np.allclose(out, busy) and list(t) == tiers


def test_a_real_packed_prefill_is_never_roofline_when_one_prompt_is_not():
    ctx = build_context("deepseek-ai/DeepSeek-V3", "gb200", Backend.SGLANG, None, 8192, 1024, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 8, 512)
    slot = next(s for s in slots if s.engine.dp == 8) if any(s.engine.dp == 8 for s in slots) else slots[0]
    b = np.arange(1, 65)
    (p,) = settle(ctx.db, [prefill_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, b,
                                           ctx.calibration, IDENTITY)])
    if p.tier[0] <= Tier.EXTRAPOLATED:
        assert np.all(p.tier <= Tier.EXTRAPOLATED)
    assert np.all(np.diff(p.service_s) >= 0) and p.service_s[-1] > p.service_s[0]


def test_each_worker_takes_the_tier_of_its_own_phase(dense):
    """A decode worker of 61 requests never prefills 61 prompts together: static batching's roofline
    prefill (m = 61 × 4000 tokens) must not tag it; the prefill worker's tier ignores decode steps."""
    ctx, _ = dense
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 8, 512)
    slot = next(s for s in slots if s.engine.tp == 1)
    b = np.array([61])
    static = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC, b, ctx.calibration)
    p, d = settle(ctx.db, [prefill_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, np.array([1]),
                                           ctx.calibration, IDENTITY),
                           decode_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, b,
                                          ctx.calibration)])
    assert static.tier[0] == Tier.ROOFLINE and d.tier[0] < Tier.ROOFLINE and p.tier[0] < Tier.ROOFLINE
    assert np.allclose(d.tpot_s, static.tpot_s)  # the price is the same; only the label is the phase's


def test_attention_dp_decode_worker_waits_for_its_ranks_before_the_first_step():
    """The aggregated admission wait (Calibration.dp_wait_s) is the disaggregated decode worker's too: a
    dp > 1 worker's first step is its step plus dp_wait_steps of them; a dp = 1 worker's is the step."""
    from dataclasses import replace

    from sloplan.model.engine import Engine

    ctx = build_context("Qwen/Qwen3-30B-A3B-FP8", "h200_sxm", Backend.TRTLLM, None, 1024, 1024, 0, None)
    cal = replace(ctx.calibration, dp_wait_steps=40.0)
    b = np.array([1, 8, 32])
    q = ctx.quants[0]
    tp, dp = (decode_pending(ctx.arch, Engine(1, 1, q, dp=d, moe_ep=d), ctx.db.system, ctx.fw, ctx.workload, b, cal)
              for d in (1, 4))
    one, four = settle(ctx.db, [tp, dp])
    assert np.allclose(one.first_step_s, one.tpot_s)
    assert np.allclose(four.first_step_s, 41.0 * four.tpot_s)
    assert cal.dp_wait_s(0.01, 1) == 0.0 and cal.dp_wait_s(0.01, 2) == pytest.approx(0.4)


def test_prefill_worker_combines_in_bf16_and_keeps_the_nvlink_kernel():
    """A TRT-LLM attention-DP worker on an NVLink rack moves tokens to the experts with TRT-LLM's own NVLink
    all-to-all (no DeepEP: perfdb/nvlink_a2a.py, model/moe_ops.py NVLINK_KERNEL). NVFP4 experts combine in
    NVFP4 on a decode worker (the recipes' use_low_precision_moe_combine); a prefill worker's swap
    (normal_kernels) puts the combine on the standard kernel and changes nothing else."""
    from sloplan.model.disagg_workers import normal_kernels
    from sloplan.model.engine import Engine
    from sloplan.perfdb.queries import MoeA2a, NvlinkA2a, NvlinkKernel, NvlinkOp

    ctx = build_context("nvidia/DeepSeek-R1-NVFP4", "gb200", Backend.TRTLLM, None, 8192, 1024, 0, None)
    engine = Engine(1, 1, ctx.quants[0], dp=4, moe_ep=4)
    b = np.array([1, 4])
    pre = prefill_pending(ctx.arch, engine, ctx.db.system, ctx.fw, ctx.workload, b, ctx.calibration, IDENTITY)
    dec = decode_pending(ctx.arch, engine, ctx.db.system, ctx.fw, ctx.workload, b, ctx.calibration)

    def ops(p):
        qs = [t.query for g in p.groups for t in g.terms]
        assert not [q for q in qs if isinstance(q, MoeA2a)]  # no DeepEP lookup on the TRT-LLM NVLink path
        return {(q.op, q.kernel, q.dtype) for q in qs if isinstance(q, NvlinkA2a)}
    one = NvlinkKernel.ONE_SIDED  # the engine's MoE backend is CUTLASS (TRT-LLM's default): NVLinkOneSided
    assert ops(dec) == {(NvlinkOp.DISPATCH, one, "nvfp4"), (NvlinkOp.COMBINE_LOW_PRECISION, one, "nvfp4")}
    assert ops(pre) == ops(normal_kernels(dec)) == {(NvlinkOp.DISPATCH, one, "nvfp4"),
                                                    (NvlinkOp.COMBINE, one, "nvfp4")}
