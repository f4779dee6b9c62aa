"""bench/disagg_ttft_probe.py's variants: each is the priced loop when it changes nothing, and the
pass-time factor it reports for a row is the one that made the row's TTFT."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sloplan.disagg_loop import Pools, closed_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import disagg_ttft_probe as probe  # noqa: E402


def pools(largest=8, prefill_workers=1) -> Pools:
    b = np.arange(1, largest + 1)
    n = np.arange(1, 65)
    service = 0.05 + 0.04 * b
    tpot = 0.010 + 0.0004 * n
    return Pools(prefill_batch=b, prefill_latency_s=service + 0.02, prefill_service_s=service,
                 prefill_workers=prefill_workers, decode_concurrency=n, decode_tpot_s=tpot, decode_first_step_s=tpot,
                 decode_workers=2, kv_transfer_s=0.001, osl=200)


def test_unchanged_variants_are_the_priced_loop():
    p = pools()
    base = closed_loop(p, 100, probe.REQUESTS_PER_CLIENT).ttft_s
    assert closed_loop(probe.truncated(p, p.largest_batch), 100, probe.REQUESTS_PER_CLIENT).ttft_s == base
    assert closed_loop(probe.scaled_pass(p, 1.0), 100, probe.REQUESTS_PER_CLIENT).ttft_s == pytest.approx(base)


def test_fewer_prompts_per_pass_lower_the_pool_s_rate():
    p = pools()
    assert probe.truncated(p, 2).prefill_rate < p.prefill_rate
    assert probe.truncated(p, 2).largest_batch == 2


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7, 3.0])
def test_implied_scale_recovers_the_pass_time_that_made_the_ttft(scale):
    p = pools()
    measured = closed_loop(probe.scaled_pass(p, scale), 60, probe.REQUESTS_PER_CLIENT).ttft_s
    row = {"pools": p, "clients": 60, "ttft": measured}
    assert probe.implied_scale(row) == pytest.approx(scale, rel=1e-6)


def test_measured_tpot_sets_the_loop_s_tpot():
    p = pools()
    target = 1.3 * closed_loop(p, 60, probe.REQUESTS_PER_CLIENT).tpot_s
    scaled = probe.measured_tpot(p, 60, target)
    assert closed_loop(scaled, 60, probe.REQUESTS_PER_CLIENT).tpot_s == pytest.approx(target, rel=1e-3)
