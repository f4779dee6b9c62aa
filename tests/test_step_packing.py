"""Chunked-prefill step accounting: the remainder chunk and several short prompts packed in one step."""
import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.model.aggregated import closed_loop, prefill_service, slowest_of, static, step_curves
from sloplan.model.calibration import Calibration
from sloplan.model.framework import Backend
from sloplan.model.options import fitting_engines


def test_a_prompt_just_over_the_budget_pays_one_full_step_and_a_small_one():
    tau_dec, tau_mix = np.array([0.010]), np.array([0.100])
    chunk = np.array([8189.0])  # 8192-token budget next to 3 decodes
    service = prefill_service(8192, chunk, tau_dec, tau_mix)
    assert service[0] == pytest.approx(0.100 + 0.010 + 0.090 * 3 / 8189)
    # a prompt that fits prices exactly one mixed step; two full chunks price two
    assert prefill_service(4000, np.array([4000.0]), tau_dec, tau_mix)[0] == pytest.approx(0.100)
    assert prefill_service(8000, np.array([4000.0]), tau_dec, tau_mix)[0] == pytest.approx(0.200)


@pytest.fixture(scope="module")
def short_output():
    """Llama-3.1-8B, 1000-token prompts and 100-token answers: prefill dominates the work."""
    ctx = build_context("meta-llama/Llama-3.1-8B-Instruct", "h200_sxm", Backend.SGLANG, None, 1000, 100, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 1, 512)
    slot = slots[0]
    curves = step_curves(ctx.arch, slot.engine, ctx.db, ctx.fw, ctx.workload, 400)
    return ctx, slot, curves


def test_a_full_step_carries_several_prompts_and_costs_more_than_one(short_output):
    ctx, _, curves = short_output
    assert np.all(curves.room > curves.chunk)  # 1000-token prompts, 8192-token budget
    assert np.all(curves.tau_full_s > curves.tau_mix_s) and np.all(curves.tau_mix_s > curves.tau_dec_s)
    # its prefill increment is about `prompts` one-prompt increments (compute-bound prefill GEMMs)
    prompts = curves.room / curves.chunk
    ratio = (curves.tau_full_s - curves.tau_dec_s) / (curves.tau_mix_s - curves.tau_dec_s)
    assert np.all((ratio > 0.7 * prompts) & (ratio < 1.5 * prompts))


def test_prompts_arriving_faster_than_one_per_step_are_served_not_queued(short_output):
    ctx, slot, curves = short_output
    m = closed_loop(curves, ctx.workload, 1, np.array([256.0]), slot.max_running, Calibration())
    requests_per_s = m.tokens_per_s[0] / ctx.workload.osl
    # more than one prompt per step on average: the old one-prompt-per-step cap would have made
    # this concurrency prefill-bound with a queue in TTFT
    assert requests_per_s * m.tpot_s[0] > 1.5
    assert m.ttft_s[0] < 10 * m.tpot_s[0] * ctx.workload.osl


def test_contention_scales_with_the_share_of_step_time_prompts_take():
    """Same clients, prompts and engine: with long outputs prompts arrive rarely, so the load-scaled
    contention term waits less; with queue_load_exp = 0 the wait does not see the load at all."""
    waits = {}
    for osl in (100, 2000):
        ctx = build_context("meta-llama/Llama-3.1-8B-Instruct", "h200_sxm", Backend.SGLANG, None, 1000, osl, 0, None)
        slot = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 1, 512)[0][0]
        curves = step_curves(ctx.arch, slot.engine, ctx.db, ctx.fw, ctx.workload, 65)
        conc = np.array([64.0])
        base = closed_loop(curves, ctx.workload, 1, conc, slot.max_running, Calibration()).ttft_s[0]
        for exp in (0.0, 1.0):
            cal = Calibration(queue_coef=0.5, queue_exp=1.0, queue_load_exp=exp)
            waits[osl, exp] = closed_loop(curves, ctx.workload, 1, conc, slot.max_running, cal).ttft_s[0] - base
    assert all(w > 0 for w in waits.values())
    assert waits[100, 1.0] < waits[100, 0.0] and waits[2000, 1.0] < waits[2000, 0.0]
    # the load factor cuts the rare-prompt (long-output) wait by much more than the frequent-prompt one
    assert waits[2000, 1.0] / waits[2000, 0.0] < 0.5 * waits[100, 1.0] / waits[100, 0.0]


def test_a_frontend_limit_caps_throughput_and_the_excess_waits_for_its_first_token(short_output):
    """Clients that the frontend cannot stream for wait before their first token: throughput bends
    towards 1/frontend_s_per_token, TPOT stays the engine's, and TTFT absorbs the closed-loop difference."""
    ctx, slot, curves = short_output
    conc = np.array([1.0, 256.0])
    free = closed_loop(curves, ctx.workload, 1, conc, slot.max_running, Calibration())
    cap_tokens_per_s = 0.5 * free.tokens_per_s[1]  # binds at 256 clients, hardly at one
    capped = closed_loop(curves, ctx.workload, 1, conc, slot.max_running,
                         Calibration(frontend_s_per_token=1 / cap_tokens_per_s))
    assert capped.tokens_per_s[0] == pytest.approx(free.tokens_per_s[0], rel=1e-3)
    assert capped.ttft_s[0] == pytest.approx(free.ttft_s[0], rel=1e-2)
    assert 0.8 * cap_tokens_per_s < capped.tokens_per_s[1] < cap_tokens_per_s
    assert capped.tpot_s[1] == pytest.approx(free.tpot_s[1])
    latency = capped.ttft_s[1] + (ctx.workload.osl - 1) * capped.tpot_s[1]
    assert latency == pytest.approx(256 * ctx.workload.osl / capped.tokens_per_s[1])  # Little's law
    assert capped.ttft_s[1] > free.ttft_s[1] + 0.5 * latency / 2


def test_a_static_batch_streams_no_faster_than_the_frontend(short_output):
    ctx, slot, _ = short_output
    batch = np.array([1, 64])

    def run(cal: Calibration):
        return static(ctx.arch, slot.engine, ctx.db, ctx.fw, ctx.workload, batch, cal)

    free = run(Calibration())
    s_per_token = 2 * free.tpot_s[1] / 64  # binds at 64 requests, hardly at one
    capped = run(Calibration(frontend_s_per_token=s_per_token))
    assert capped.tpot_s[0] == pytest.approx(free.tpot_s[0], rel=1e-3)
    assert capped.tpot_s[1] > 64 * s_per_token
    assert capped.tokens_per_s[1] < free.tokens_per_s[1] and capped.tokens_per_s[1] < 1 / s_per_token


def test_a_pipeline_round_moves_at_the_pace_of_its_slowest_micro_batch():
    chunk = np.array([1000.0, 1000.0, 1000.0])
    prompts = np.array([0.0, 250.0, 3000.0])  # none, a quarter of the steps, every step full
    assert np.allclose(slowest_of(prompts, chunk, 1), prompts)
    # two micro-batches: a round meets a prompt chunk with probability 1 - 0.75**2, not 0.25
    assert np.allclose(slowest_of(prompts, chunk, 2), [0.0, 1000 * (1 - 0.75**2), 3000.0])
    assert slowest_of(prompts, chunk, 4)[1] > slowest_of(prompts, chunk, 2)[1]


def test_pipeline_streams_pay_the_bubble_of_uneven_micro_batches(short_output):
    """Same decode width per stream, no framework overheads: two micro-batch streams turn a step
    more slowly than one, because one stream's prompt chunk holds the other back."""
    ctx, slot, curves = short_output
    one = closed_loop(curves, ctx.workload, 1, np.array([32.0]), slot.max_running, Calibration())
    two = closed_loop(curves, ctx.workload, 2, np.array([64.0]), slot.max_running, Calibration())
    assert two.tpot_s[0] > 1.05 * one.tpot_s[0]
    assert two.tokens_per_s[0] < 2 * one.tokens_per_s[0]
