"""A disaggregated deployment's closed loop (sloplan/disagg_loop.py) and `sloplan.estimate_disagg`."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.core.enums import Backend
from sloplan.disagg_loop import Pools, closed_loop, cycle_s, decode_occupancy
from sloplan.errors import InputError
from sloplan.estimate_disagg import estimate_disagg
from sloplan.model.disagg_workers import (decode_pending, kv_bytes_per_request, kv_transfer_s, link_bytes_per_s,
                                          prefill_pending)
from sloplan.model.options import fitting_engines
from sloplan.model.pending import settle


def pools(prefill_workers=1, decode_workers=2, slots=16, largest=4, kv=0.002, osl=200) -> Pools:
    """Made-up but shaped like the estimators: a pass of b prompts costs more with b, a decode step
    grows slowly with its width."""
    b = np.arange(1, largest + 1)
    n = np.arange(1, slots + 1)
    service = 0.05 + 0.04 * b
    tpot = 0.010 + 0.0004 * n
    return Pools(prefill_batch=b, prefill_latency_s=service + 0.02, prefill_service_s=service,
                 prefill_workers=prefill_workers, decode_concurrency=n, decode_tpot_s=tpot, decode_first_step_s=tpot,
                 decode_workers=decode_workers, kv_transfer_s=kv, osl=osl)


@pytest.mark.parametrize("clients", [1, 2, 7, 32, 200, 5000])
def test_ttft_is_the_sum_of_its_parts_and_littles_law_holds(clients):
    p = pools()
    pt = closed_loop(p, clients)
    assert pt.ttft_s == pytest.approx(pt.prefill_s + pt.queue_s + pt.kv_transfer_s + pt.first_step_s, rel=1e-12)
    # every client is somewhere in the loop: C = X * (TTFT + the rest of its decode)
    assert pt.requests_per_s * (pt.ttft_s + (p.osl - 1) * pt.tpot_s) == pytest.approx(clients, rel=1e-6)
    assert pt.kv_transfer_s == p.kv_transfer_s


def test_one_client_never_waits_and_runs_alone():
    p = pools()
    pt = closed_loop(p, 1)
    assert pt.queue_s == 0.0
    assert pt.prefill_s == pytest.approx(p.prefill_latency_s[0]) and pt.tpot_s == pytest.approx(p.decode_tpot_s[0])
    assert not pt.decode_saturated


def test_more_clients_never_lower_ttft_or_throughput():
    p = pools()
    points = [closed_loop(p, c) for c in (1, 2, 4, 8, 16, 32, 64, 128, 1000)]
    assert all(b.ttft_s >= a.ttft_s - 1e-9 for a, b in zip(points, points[1:]))
    assert all(b.requests_per_s >= a.requests_per_s - 1e-9 for a, b in zip(points, points[1:]))


def test_the_rate_is_the_root_a_brute_force_scan_finds():
    p = pools(prefill_workers=2, decode_workers=3)
    for clients in (3, 40, 90):
        pt = closed_loop(p, clients)
        top = min(p.prefill_rate, p.decode_rate(p.slots))
        grid = np.linspace(1e-6, top * (1 - 1e-9), 200_001)
        # the largest rate whose loop holds no more than the clients (F is increasing)
        held = np.array([x * cycle_s(p, x, clients) for x in grid[::1000]])
        best = grid[::1000][np.searchsorted(held, clients) - 1]
        assert best <= pt.requests_per_s <= best + (grid[1000] - grid[0]) + 1e-9


def test_a_small_prefill_pool_saturates_and_queues():
    p = pools(prefill_workers=1, decode_workers=8, slots=64)
    pt = closed_loop(p, 8 * 64)
    assert pt.prefill_utilisation > 0.97 and not pt.decode_saturated
    assert pt.queue_s > 10 * pt.prefill_s  # most of TTFT is the wait for the prompt's turn


def test_a_full_decode_pool_makes_clients_wait_for_a_slot():
    p = pools(prefill_workers=8, decode_workers=1, slots=4)
    pt = closed_loop(p, 40)
    assert pt.decode_saturated and pt.requests_per_s == pytest.approx(p.decode_rate(4))
    assert pt.decode_concurrency == 4 and pt.queue_s > 0


def test_decode_occupancy_is_littles_law_per_worker():
    p = pools(decode_workers=3)
    n = decode_occupancy(p, 5.0)
    assert 1 < n < p.slots and 5.0 * p.decode_s(n) / 3 == pytest.approx(n, rel=1e-9)
    assert decode_occupancy(p, 2 * p.decode_rate(p.slots)) == p.slots  # beyond its rate: every slot busy


@pytest.fixture(scope="module")
def qwen():
    ctx = build_context("Qwen/Qwen3-32B", "h200_sxm", Backend.TRTLLM, None, 2000, 200, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 8, 512)
    return ctx, next(s for s in slots if s.engine.tp == 2 and s.engine.pp == 1)


def test_one_client_one_worker_each_is_the_per_worker_estimators(qwen):
    ctx, slot = qwen
    e = estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", "trtllm", prefill_tp=2, decode_tp=2, decode_batch=8,
                        concurrency=1, isl=2000, osl=200, quant=slot.engine.quant.gemm.value)
    pre, dec = settle(ctx.db, [
        prefill_pending(ctx.arch, slot.engine, ctx.system, ctx.fw, ctx.workload, np.array([1]), ctx.calibration),
        decode_pending(ctx.arch, slot.engine, ctx.system, ctx.fw, ctx.workload, np.array([1]), ctx.calibration)])
    assert e.prefill_ms == pytest.approx(pre.latency_s[0] * 1e3) and e.queue_ms == 0.0
    assert e.tpot_ms == pytest.approx(dec.tpot_s[0] * 1e3)
    assert e.first_step_ms == pytest.approx(dec.first_step_s[0] * 1e3)
    kv_bytes = kv_bytes_per_request(ctx.arch, ctx.quants[0].kv, 2000)
    kv = kv_transfer_s(kv_bytes, link_bytes_per_s(ctx.system, ctx.system, 4), 2)
    assert e.kv_transfer_ms == pytest.approx(kv * 1e3)
    assert e.ttft_ms == pytest.approx(e.prefill_ms + e.queue_ms + e.kv_transfer_ms + e.first_step_ms)
    assert e.gpus == 4 and e.tokens_per_s_per_gpu == pytest.approx(e.requests_per_s * 200 / 4)


def test_clients_default_to_one_per_decode_slot():
    e = estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", prefill_tp=2, decode_tp=2, decode_batch=8, decode_workers=3,
                        isl=2000, osl=200)
    assert e.concurrency == 24 and e.decode_slots == 8


@pytest.mark.parametrize("kwargs, field", [
    ({"prefill_tp": 3}, "prefill_tp"), ({"decode_moe_ep": 2}, "decode_moe_ep"),
    ({"decode_workers": 0}, "decode_workers"),
    ({"prefill_batch": True}, "prefill_batch"), ({"concurrency": 0}, "concurrency"), ({"decode_dp": 2}, "decode_dp"),
])
def test_bad_arguments_name_the_role_argument(kwargs, field):
    with pytest.raises(InputError) as err:
        estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", isl=2000, osl=200, **kwargs)
    assert err.value.field == field and "accepted" in str(err.value)


def test_corrections_scale_the_workers_as_stated(qwen):
    from sloplan.model.disagg_calibration import IDENTITY, DisaggCorrection

    ctx, slot = qwen
    fix = DisaggCorrection(prefill_scale=3.0, ttft_overhead_s=0.1)
    b = np.array([1, 4])

    def workers(correction):
        return settle(ctx.db, [
            prefill_pending(ctx.arch, slot.engine, ctx.system, ctx.fw, ctx.workload, b, ctx.calibration, correction),
            decode_pending(ctx.arch, slot.engine, ctx.system, ctx.fw, ctx.workload, b, ctx.calibration)])
    (p0, d0), (p1, d1) = workers(IDENTITY), workers(fix)
    assert np.allclose(d1.tpot_s, d0.tpot_s)  # no disaggregated constant on the decode side
    assert np.allclose(p1.service_s, 3.0 * p0.service_s)
    assert np.allclose(p1.latency_s, p1.service_s + ctx.calibration.ttft_overhead_s + 0.1)


def test_a_system_without_its_own_correction_takes_its_frameworks(monkeypatch):
    from sloplan.model import disagg_calibration as dc

    table = {"trtllm": {"default": {"prefill_scale": 1.5}, "systems": {"gb200": {"prefill_scale": 1.7}}}}
    monkeypatch.setattr(dc, "_table", lambda: table)
    assert dc.correction(Backend.TRTLLM, "gb200").prefill_scale == 1.7
    assert dc.correction(Backend.TRTLLM, "h200_sxm").prefill_scale == 1.5
    assert dc.correction(Backend.VLLM, "h200_sxm") == dc.IDENTITY


@pytest.mark.parametrize("backend", ["sglang", "trtllm"])
def test_the_estimate_states_the_constants_it_was_priced_with(backend):
    from sloplan.model.disagg_calibration import correction

    e = estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", backend, prefill_tp=2, decode_tp=2, decode_batch=8,
                        isl=2000, osl=200)
    fix = correction(Backend(backend), "h200_sxm")
    assert e.prefill_scale == fix.prefill_scale >= 1.0
    assert e.disagg_fixed_ttft_ms == pytest.approx(fix.ttft_overhead_s * 1e3)
    assert e.to_dict()["prefill_scale"] == fix.prefill_scale


@pytest.mark.parametrize("fields", [{"prefill_scale": 0.9}, {"ttft_overhead_s": -0.01},
                                    {"prefill_scale": float("nan")}])
def test_a_correction_cheaper_than_the_aggregated_engine_is_refused(fields):
    from sloplan.model.disagg_calibration import DisaggCorrection

    with pytest.raises(ValueError, match=next(iter(fields))):
        DisaggCorrection(**fields)


@pytest.mark.parametrize("workers,largest,clients", [(1, 4, 1), (1, 4, 4), (1, 4, 5), (2, 4, 38), (3, 1, 9),
                                                     (4, 8, 1000)])
def test_start_up_wave_wait_matches_a_simulated_burst(workers, largest, clients):
    """All clients' first requests at t = 0: each worker takes its share in passes of its largest batch,
    in arrival order. The closed form equals that simulation (spread evenly: workers get equal shares)."""
    from sloplan.disagg_loop import startup_wait_s

    p = pools(prefill_workers=workers, largest=largest)
    full = float(p.prefill_service_s[-1])
    share = clients // workers  # whole shares in every case here
    waits = [(j // largest) * full for j in range(share)]  # the j-th queued prompt's wait on one worker
    assert startup_wait_s(p, clients) == pytest.approx(sum(waits) / len(waits), rel=1e-12)


def test_a_benchmark_run_averages_its_start_up_wave_with_the_steady_state():
    """k requests per client: the first C meet the start-up wave, the other (k - 1) C the steady state; one
    request per client is the wave alone, none the steady state; the rate and TPOT do not change."""
    from sloplan.disagg_loop import startup_wait_s

    p = pools(prefill_workers=1, decode_workers=8, slots=64)
    clients = 200
    steady, once, ten = (closed_loop(p, clients, k) for k in (None, 1, 10))
    wave = startup_wait_s(p, clients)
    assert wave > 0 and steady.queue_s > 0 and wave != steady.queue_s
    assert once.queue_s == pytest.approx(wave)
    assert ten.queue_s == pytest.approx(steady.queue_s + (wave - steady.queue_s) / 10)
    assert ten.requests_per_s == steady.requests_per_s and ten.tpot_s == steady.tpot_s
    assert closed_loop(p, 1, 10).queue_s == 0.0  # one client's first request meets an empty pool
    with pytest.raises(ValueError, match="requests_per_client"):
        closed_loop(p, clients, 0)


FP4 = dict(model="nvidia/DeepSeek-V3-0324-FP4", system="gb200", backend="trtllm", isl=1024, osl=1024, prefill_dp=4,
           prefill_moe_ep=4, decode_tp=8, decode_moe_ep=8, decode_batch=16, concurrency=16)


def test_each_role_takes_its_own_moe_backend():
    base = estimate_disagg(**FP4)
    gen = estimate_disagg(**FP4, decode_moe_backend="TRTLLM")
    assert gen.decode_engine.endswith("moe:TRTLLM") and "moe:" not in gen.prefill_engine
    assert gen.tpot_ms < base.tpot_ms  # trtllm-gen's small-batch MoE on the decode worker
    assert gen.prefill_ms == pytest.approx(base.prefill_ms)  # the prefill worker keeps CUTLASS
    wide = estimate_disagg(**FP4, prefill_moe_backend="WIDEEP")
    assert wide.prefill_engine.endswith("moe:WIDEEP") and wide.tpot_ms == pytest.approx(base.tpot_ms, rel=1e-3)


@pytest.mark.parametrize("kwargs, field", [
    (dict(FP4, decode_moe_backend="FOO"), "decode_moe_backend"),
    (dict(model="Qwen/Qwen3-32B", system="h200_sxm", prefill_moe_backend="TRTLLM"), "prefill_moe_backend"),
])
def test_a_bad_moe_backend_names_its_role(kwargs, field):
    with pytest.raises(InputError) as err:
        estimate_disagg(**kwargs)
    assert err.value.field == field and "accepted" in str(err.value)
