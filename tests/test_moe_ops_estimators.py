"""Aggregated and static estimates of MoE engines (Qwen3-30B-A3B-FP8 on h200_sxm, TRT-LLM), with attention DP.

Explicit engines (tp1 on one GPU, tp4 etp4, tp1 dp4 ep4, tp8 ep8) with the running cap the estimator itself
uses (model/moe_memory.py's per-GPU KV budget, as model/options.py engine_slot reads it); the dp plumbing
is checked against one rank's closed loop solved by hand."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sloplan.model.aggregated import aggregated, closed_loop, static, step_curves
from sloplan.model.calibration import calibration
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import framework
from sloplan.model.memory import kv_tokens_per_request, memory_plan
from sloplan.model.ops import source_label
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import Tier

Q = Quant.default_for(GemmQuant.FP8_BLOCK)
ENGINES = {"tp1": Engine(1, 1, Q), "tp4etp4": Engine(4, 1, Q, moe_tp=4), "tp1dp4ep4": Engine(1, 1, Q, dp=4, moe_ep=4),
           "tp8ep8": Engine(8, 1, Q, moe_ep=8)}
CONC = np.array([1, 4, 16, 64, 256])
WL = Workload(4000, 500)


@pytest.fixture(scope="module")
def setup(h200_trtllm_db):
    arch = resolve_model("Qwen/Qwen3-30B-A3B-FP8", estimable=False)
    fw = framework("trtllm").profile
    return arch, h200_trtllm_db, fw, calibration("trtllm", "h200_sxm")


def _cap(setup, engine):
    arch, db, fw, _ = setup
    tokens = kv_tokens_per_request(arch, WL.isl, WL.osl, fw.reserve_per_request_osl)
    return memory_plan(arch, engine, db.system, fw).max_requests(tokens)


def _agg(setup, engine, conc=CONC, cap=None):
    arch, db, fw, cal = setup
    return aggregated(arch, engine, db, fw, WL, conc, _cap(setup, engine) if cap is None else cap, cal)


def test_kv_capacity_grows_with_gpus_and_dp_ranks_cache_their_own(setup):
    caps = {k: _cap(setup, e) for k, e in ENGINES.items()}
    assert 0 < caps["tp1"] < caps["tp4etp4"] < caps["tp8ep8"]
    # four ranks, each with the whole attention KV (4 KV heads) and a quarter of the experts
    assert caps["tp1dp4ep4"] > 3 * caps["tp1"]


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_estimates_with_a_tier(setup, name):
    m = _agg(setup, ENGINES[name])
    assert np.isfinite(m.ttft_s).all() and (m.ttft_s > 0).all() and (m.tpot_s > 0).all()
    assert (np.diff(m.tpot_s) > 0).all() and (np.diff(m.tokens_per_s) > 0).all()
    assert list(m.concurrency) == list(CONC)
    assert m.tier.dtype == np.int8 and ((m.tier >= Tier.MEASURED) & (m.tier <= Tier.ROOFLINE)).all()


def test_an_uncollected_moe_tp_layout_is_named_in_the_estimate(setup):
    m = _agg(setup, ENGINES["tp4etp4"])
    assert (m.tier >= Tier.EXTRAPOLATED).all()
    assert {source_label(t, s) for t, s in zip(m.tier, m.source)} == {"MoE experts"}
    assert _agg(setup, ENGINES["tp8ep8"]).tier.max() < Tier.EXTRAPOLATED  # collected layout


def test_more_gpus_serve_more_tokens_at_high_load(setup):
    one, dp4, ep8 = (_agg(setup, ENGINES[k]).tokens_per_s[-1] for k in ("tp1", "tp1dp4ep4", "tp8ep8"))
    assert dp4 > 2 * one and ep8 > 2 * one
    assert _agg(setup, ENGINES["tp8ep8"]).tpot_s[0] < _agg(setup, ENGINES["tp1"]).tpot_s[0]


def test_attention_dp_solves_one_ranks_loop(setup):
    """dp4: each rank sees a quarter of the clients and of the running cap, its steps in lockstep with the
    other three (closed_loop's dp); throughput is four ranks'."""
    arch, db, fw, cal = setup
    engine = ENGINES["tp1dp4ep4"]
    cap = _cap(setup, engine)
    m = _agg(setup, engine, cap=cap)
    rank_conc, rank_cap = CONC / 4, cap // 4
    d_max = int(min(np.ceil(min(rank_conc.max(), rank_cap)) + 1, fw.token_budget - 1))
    rank_cal = replace(cal, frontend_s_per_token=cal.frontend_s_per_token * 4)
    ref = closed_loop(step_curves(arch, engine, db, fw, WL, d_max), WL, 1, rank_conc, rank_cap, rank_cal, 4)
    assert np.allclose(m.tpot_s, ref.tpot_s, rtol=1e-12) and np.allclose(m.ttft_s, ref.ttft_s, rtol=1e-12)
    assert np.allclose(m.tokens_per_s, 4 * ref.tokens_per_s, rtol=1e-12)
    assert list(m.running) == list(np.minimum(CONC, rank_cap * 4))


def test_clients_beyond_the_ranks_capacity_wait(setup):
    engine = ENGINES["tp1dp4ep4"]
    m = _agg(setup, engine, conc=np.array([64, 640]), cap=64)
    assert m.running[1] == 64 and m.ttft_s[1] > 5 * m.ttft_s[0]
    assert m.tokens_per_s[1] == pytest.approx(m.tokens_per_s[0], rel=0.35)


def test_static_batches_split_over_dp_ranks(setup):
    arch, db, fw, cal = setup
    batch = np.array([1, 8, 32])
    one = static(arch, ENGINES["tp1"], db, fw, WL, batch, cal)
    dp4 = static(arch, ENGINES["tp1dp4ep4"], db, fw, WL, batch, cal)
    assert (np.diff(one.ttft_s) > 0).all() and (np.diff(dp4.ttft_s) > 0).all()
    assert dp4.ttft_s[2] < one.ttft_s[2]  # 8 prompts per rank, not 32
    assert list(dp4.concurrency) == [1, 8, 32]
    lat = dp4.ttft_s + (WL.osl - 1) * dp4.tpot_s
    assert np.allclose(dp4.tokens_per_s, batch * WL.osl / lat, rtol=1e-12)
