"""The simulated benchmark run (bench/disagg_sim.py, a probe's model, on no solve path) against hand-computed
runs and the closed loop."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sloplan.disagg_loop import Pools, closed_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from disagg_sim import Routing, lengths, simulate  # noqa: E402

ISL = 1000
RR = (Routing.ROUND_ROBIN, Routing.ROUND_ROBIN)


def pools(prefill_workers=1, decode_workers=2, slots=16, largest=4, kv=0.002, osl=200, first=None) -> Pools:
    """Shaped like the estimators: a pass of b prompts costs more with b, a decode step grows with its width."""
    b = np.arange(1, largest + 1)
    n = np.arange(1, slots + 1)
    service = 0.05 + 0.04 * b
    tpot = 0.010 + 0.0004 * n
    return Pools(prefill_batch=b, prefill_latency_s=service + 0.02, prefill_service_s=service,
                 prefill_workers=prefill_workers, decode_concurrency=n, decode_tpot_s=tpot,
                 decode_first_step_s=tpot if first is None else first(tpot), decode_workers=decode_workers,
                 kv_transfer_s=kv, osl=osl)


def test_one_client_never_waits_and_matches_the_loop_at_nominal_lengths():
    p = pools()
    sim, loop = simulate(p, 1, 10, ISL, ratio=1.0), closed_loop(p, 1, 10)
    assert sim.queue_s == 0.0 and not sim.decode_saturated
    assert sim.ttft_s == pytest.approx(loop.ttft_s, rel=1e-12)
    assert sim.tpot_s == pytest.approx(p.decode_tpot_s[0], rel=1e-9)


def test_shorter_prompts_take_shorter_passes():
    p = pools()
    short = simulate(p, 1, 50, ISL)  # lengths uniform on [800, 1000]
    assert p.prefill_latency_s[0] - 0.2 * 0.04 < short.prefill_s < p.prefill_latency_s[0]


def test_two_prompts_at_once_queue_behind_each_other_as_computed_by_hand():
    # one prefill worker, one prompt per pass, one request per client, nominal lengths
    p = pools(largest=1, decode_workers=1, first=lambda tpot: 3 * tpot)
    pt = simulate(p, 2, 1, ISL, ratio=1.0)
    s1, lat1 = p.prefill_service_s[0], p.prefill_latency_s[0]
    f1, f2 = p.decode_first_step_s[0], p.decode_first_step_s[1]
    assert pt.ttft_s == pytest.approx(lat1 + p.kv_transfer_s + s1 / 2 + (f1 + f2) / 2, rel=1e-12)
    assert pt.queue_s == pytest.approx(s1 / 2, rel=1e-12) and pt.prefill_batch == 1.0


def test_a_light_load_is_the_steady_state():
    p = pools(prefill_workers=2, decode_workers=4, slots=64, largest=8)
    sim, loop = simulate(p, 4, 20, ISL), closed_loop(p, 4)
    assert sim.prefill_utilisation < 0.1
    assert sim.ttft_s == pytest.approx(loop.ttft_s, rel=0.05)
    assert sim.tpot_s == pytest.approx(loop.tpot_s, rel=0.05)


@pytest.mark.parametrize("clients", [4, 8])
def test_equal_lengths_keep_the_clients_in_lock_step(clients):
    # every request the same length: each wave of prompts arrives together and shares one pass
    p = pools(prefill_workers=1, decode_workers=4, slots=64, largest=8)
    sim = simulate(p, clients, 20, ISL, ratio=1.0)
    assert sim.prefill_batch == clients
    assert sim.prefill_s == pytest.approx(p.prefill_latency_s[clients - 1], rel=1e-12)


@pytest.mark.parametrize("clients", [1, 8, 64, 500])
@pytest.mark.parametrize("routing", [(Routing.SHARED, Routing.SHARED), RR])
def test_throughput_never_exceeds_either_pool(clients, routing):
    p = pools(prefill_workers=2, decode_workers=3, slots=32, largest=4)
    pt = simulate(p, clients, 10, ISL, ratio=1.0, routing=routing)
    assert pt.requests_per_s <= p.prefill_rate * (1 + 1e-9)
    assert pt.requests_per_s <= p.decode_rate(p.slots) * (1 + 1e-9)
    assert 0 < pt.prefill_utilisation <= 1 + 1e-9
    assert 1 <= pt.prefill_batch <= p.largest_batch and pt.decode_concurrency <= p.slots


def test_the_run_is_deterministic_and_the_seed_matters():
    p = pools()
    assert simulate(p, 40, 10, ISL) == simulate(p, 40, 10, ISL)
    assert simulate(p, 40, 10, ISL, seed=1) != simulate(p, 40, 10, ISL)
    draws = lengths(10_000, ISL, 0.8, np.random.default_rng(0))
    assert draws.min() == 800 and draws.max() == ISL


def test_a_small_prefill_pool_bursts_and_queues():
    p = pools(prefill_workers=1, decode_workers=8, slots=64)
    pt = simulate(p, 8 * 64, 10, ISL)
    assert pt.prefill_utilisation > 0.9 and not pt.decode_saturated
    assert pt.queue_s > 10 * pt.prefill_s


def test_a_full_decode_pool_makes_requests_wait_for_a_slot():
    p = pools(prefill_workers=8, decode_workers=1, slots=4)
    pt = simulate(p, 40, 10, ISL, ratio=1.0)
    assert pt.decode_saturated and pt.queue_s > 0
    assert pt.requests_per_s == pytest.approx(p.decode_rate(4), rel=0.05)


def test_round_robin_decode_routing_waits_where_a_shared_queue_does_not():
    # one slot per decode worker and one client per slot: only a mis-routed request waits
    p = pools(prefill_workers=1, decode_workers=4, slots=1, largest=8, osl=2000)
    shared, rr = simulate(p, 4, 10, ISL), simulate(p, 4, 10, ISL, routing=RR)
    assert not shared.decode_saturated and shared.queue_s < 0.01
    assert rr.decode_saturated and rr.queue_s > 0.05  # a share of a decode (~20 s) for the mis-routed requests
    assert rr.tpot_s == pytest.approx(shared.tpot_s, rel=1e-9)  # one request per worker either way


def test_bad_counts_raise():
    with pytest.raises(ValueError, match="clients"):
        simulate(pools(), 0, 10, ISL)


def test_calibrate_writes_only_the_constants_of_the_loop_in_use(tmp_path, monkeypatch):
    import calibrate_disagg

    monkeypatch.setattr(calibrate_disagg, "OUT", tmp_path / "calibration_disagg.yaml")
    with pytest.raises(SystemExit) as exc:
        calibrate_disagg.main(["--write", "--predictor", "sim", "--cv", "0"])
    assert exc.value.code == 2 and not (tmp_path / "calibration_disagg.yaml").exists()
    assert set(calibrate_disagg.PREDICTORS) == {"loop", "sim", "sim-rr"}
