"""The attention-DP admission wait (Calibration.dp_wait_steps, model/aggregated.py closed_loop): dp > 1 engines
pay it in decode steps before each prefill; dp = 1 engines, every dense model among them, never do."""
from dataclasses import replace

import numpy as np
import pytest

from sloplan.model.aggregated import closed_loop, step_curves
from sloplan.model.calibration import calibration
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import framework
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload

Q = Quant.default_for(GemmQuant.FP8_BLOCK)
WL = Workload(1024, 1024)


@pytest.fixture(scope="module")
def curves(h200_trtllm_db):
    arch = resolve_model("Qwen/Qwen3-30B-A3B-FP8", estimable=False)
    fw = framework("trtllm").profile
    return {dp: step_curves(arch, Engine(1, 1, Q, dp=dp, moe_ep=dp), h200_trtllm_db, fw, WL, 40) for dp in (1, 4)}


def _loop(curves, dp, cal, conc):
    return closed_loop(curves[dp], WL, 1, np.asarray(conc, dtype=float), 64, cal, dp)


def test_a_dp1_engine_never_waits(curves):
    cal = calibration("trtllm", "h200_sxm", moe=True)
    a = _loop(curves, 1, replace(cal, dp_wait_steps=0.0), [1, 8, 32])
    b = _loop(curves, 1, replace(cal, dp_wait_steps=80.0), [1, 8, 32])
    assert np.array_equal(a.ttft_s, b.ttft_s) and np.array_equal(a.tpot_s, b.tpot_s)


def test_attention_dp_ranks_wait_the_steps_before_their_prefill(curves):
    cal = replace(calibration("trtllm", "h200_sxm", moe=True), queue_coef=0.0, frontend_s_per_token=0.0)
    conc = [0.25, 2.0, 8.0]  # one rank's clients
    base = _loop(curves, 4, replace(cal, dp_wait_steps=0.0), conc)
    waited = _loop(curves, 4, replace(cal, dp_wait_steps=50.0), conc)
    extra_steps = (waited.ttft_s - base.ttft_s) / waited.tpot_s
    assert (extra_steps > 30).all() and (extra_steps < 70).all()  # about 50 of the rank's steps
    # waiting clients are not decoding: at a fixed concurrency the decode batch, and so TPOT, can only shrink
    assert (waited.tpot_s <= base.tpot_s * (1 + 1e-12)).all()


def test_prefill_in_steps_scales_the_prompt_work_the_tpot_averages(curves):
    """Calibration.prefill_in_steps: prefill_scale prices the prompt chunks of the shared steps as it prices
    the TTFT's prefill. Off, the TPOT ignores prefill_scale; on, it grows with it at a load with prompts in
    the steps, the more so the more clients share them."""
    cal = replace(calibration("trtllm", "h200_sxm", moe=True), queue_coef=0.0, frontend_s_per_token=0.0)
    conc = [8.0, 32.0]
    tpot = {(on, s): _loop(curves, 1, replace(cal, prefill_in_steps=on, prefill_scale=s), conc).tpot_s
            for on in (False, True) for s in (1.0, 2.0)}
    assert np.allclose(tpot[False, 1.0], tpot[False, 2.0], rtol=0.01)  # only through the TTFT's Little's law
    assert np.allclose(tpot[True, 1.0], tpot[False, 1.0])
    growth = tpot[True, 2.0] / tpot[True, 1.0]
    assert (growth > 1.01).all() and growth[1] > growth[0]  # more clients, more prompt work per step
