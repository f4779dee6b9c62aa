"""Per-worker estimators of disaggregated serving (model/disagg_workers.py)."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.core.enums import Backend, Client, ServingMode
from sloplan.model.disagg_workers import (decode_pending, kv_bytes_per_request, kv_transfer_s, link_bytes_per_s,
                                          prefill_pending)
from sloplan.model.disagg_calibration import IDENTITY
from sloplan.model.options import evaluate, fitting_engines
from sloplan.model.pending import settle


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
                                          ctx.calibration, IDENTITY)])
    static = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC, b, ctx.calibration)
    # the decode worker streams through the deployment's frontend: no worker-side streaming limit
    offline = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC, b,
                       ctx.calibration.for_client(Client.OFFLINE))
    assert np.allclose(p.latency_s, static.ttft_s) and np.allclose(d.tpot_s, offline.tpot_s)
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
