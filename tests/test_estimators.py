"""Estimator behaviour: physically sensible trends, surrogate vs full estimator, tiers, memory caps."""
import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.options import evaluate, fitting_engines
from sloplan.perfdb import Tier


@pytest.fixture(scope="module")
def setup():
    ctx = build_context("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, None, 4000, 500, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 8, 512)
    return ctx, {s.engine.label: s for s in slots}


def _agg(ctx, slot, conc):
    return evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, ServingMode.AGG, np.asarray(conc), ctx.calibration)


def test_tpot_and_throughput_grow_with_concurrency(setup):
    ctx, slots = setup
    m = _agg(ctx, slots["tp2pp1 fp8_block"], np.arange(1, 257))
    assert np.all(np.diff(m.tpot_s) >= -1e-12)
    # throughput rises overall; measured kernels have wave-quantization steps, so allow small dips
    assert m.tokens_per_s[-1] > 10 * m.tokens_per_s[0]
    assert np.all(m.tokens_per_s[1:] > 0.85 * np.maximum.accumulate(m.tokens_per_s)[:-1])


def test_more_tensor_parallelism_is_faster_per_user(setup):
    ctx, slots = setup
    tpot = {tp: _agg(ctx, slots[f"tp{tp}pp1 fp8_block"], [1]).tpot_s[0] for tp in (1, 2, 4, 8)}
    assert tpot[1] > tpot[2] > tpot[4] > tpot[8]


def test_clients_beyond_capacity_wait_for_a_slot(setup):
    ctx, slots = setup
    slot = slots["tp1pp1 fp8_block"]
    cap = slot.max_running
    m = _agg(ctx, slot, [cap, 2 * cap])
    assert m.running[1] == cap
    assert m.tokens_per_s[1] == pytest.approx(m.tokens_per_s[0], rel=1e-6)  # same work, more waiting
    latency = m.ttft_s + (ctx.workload.osl - 1) * m.tpot_s
    assert latency[1] == pytest.approx(2 * latency[0], rel=0.02)


def test_static_batch_ttft_grows_with_batch(setup):
    ctx, slots = setup
    m = evaluate(ctx.arch, slots["tp4pp1 fp8_block"], ctx.db, ctx.fw, ctx.workload, ServingMode.STATIC,
                 np.array([1, 2, 4, 8]), ctx.calibration)
    assert np.all(np.diff(m.ttft_s) > 0) and np.all(np.diff(m.tpot_s) >= 0)


def test_every_estimate_carries_a_tier(setup):
    ctx, slots = setup
    m = _agg(ctx, slots["tp8pp1 fp8_block"], np.arange(1, 64))
    assert set(np.unique(m.tier)) <= {t.value for t in Tier}


def test_pipeline_parallel_trades_latency_for_throughput(setup):
    ctx, slots = setup
    pp1, pp2 = _agg(ctx, slots["tp2pp1 fp8_block"], [64]), _agg(ctx, slots["tp1pp2 fp8_block"], [64])
    assert pp2.tpot_s[0] > pp1.tpot_s[0] * 0.8  # a token still crosses every layer


def test_solve_rechecks_the_best_plan_and_meets_the_slos():
    from sloplan.api import solve

    r = solve({"model": "Qwen/Qwen3-32B-FP8", "system": "h200_sxm", "total_gpus": 8, "isl": 4000, "osl": 500,
               "ttft_ms": 2000, "tpot_ms": 30, "modes": ["agg", "static"]})  # disagg: tests/test_disagg_solve.py
    b = r.best
    assert b.ttft_ms <= 2000 and b.tpot_ms <= 30 and b.gpus_used <= 8
    assert b.check.surrogate_error_pct < 1.0
    assert b.check.tpot_ms == pytest.approx(b.tpot_ms, rel=0.01)
    assert "--tp_size" in b.launch and b.tier in {t.label for t in Tier}
    xy = sorted((p.tokens_per_s_per_user, p.tokens_per_s_per_gpu) for p in r.front)
    assert all(a[1] > b_[1] for a, b_ in zip(xy, xy[1:]))  # user speed up, per-GPU throughput down
    assert (b.tokens_per_s_per_user, b.tokens_per_s_per_gpu) in xy or b.tokens_per_s_per_gpu <= xy[0][1] + 1e-9


def test_priced_sums_remember_which_op_set_the_tier():
    from sloplan.model.ops import Op, Priced, weakest

    def part(tiers, op):
        t = np.array(tiers, dtype=np.int8)
        return Priced(np.ones(len(t)), t, np.full(len(t), op, dtype=np.int8))

    total = part([0, 2, 1], Op.QKV_GEMM) + part([1, 2, 3], Op.LM_HEAD_GEMM)
    assert total.tier.tolist() == [1, 2, 3]
    assert total.source.tolist() == [Op.LM_HEAD_GEMM, Op.QKV_GEMM, Op.LM_HEAD_GEMM]  # ties keep the first
    tier, source = weakest(part([0, 0], Op.DOWN_GEMM), part([2, 0], Op.ALL_REDUCE))
    assert tier.tolist() == [2, 0] and source[0] == Op.ALL_REDUCE


def test_an_extrapolated_estimate_names_the_op_that_left_the_measured_range():
    from sloplan.estimation import estimate

    # Qwen3's 151,936-token vocabulary: the LM-head GEMM is wider than any collected n (65,536) at TP1,
    # and 37,984 wide at TP4, inside the measured range
    tp1 = estimate("Qwen/Qwen3-32B-FP8", "h200_sxm", "trtllm", tp=1, concurrency=8, isl=4000, osl=500)
    tp4 = estimate("Qwen/Qwen3-32B-FP8", "h200_sxm", "trtllm", tp=4, concurrency=8, isl=4000, osl=500)
    assert (tp1.tier, tp1.tier_source) == ("extrapolated", "LM-head GEMM")
    assert tp4.tier_source != "LM-head GEMM"
    assert (tp4.tier_source is None) == (tp4.tier in ("measured", "interpolated"))
