"""bench/disagg_recipe_probe.py: the catalog's caps it reads for development-split rows, and cutting a
decode pool at a recipe's slots changes nothing while they hold every client and makes clients wait
for a slot when they do not."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from sloplan.disagg_loop import Pools, closed_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import disagg_recipe_probe as probe  # noqa: E402


def pools(slots=16, decode_workers=2) -> Pools:
    b = np.arange(1, 9)
    n = np.arange(1, slots + 1)
    service = 0.05 + 0.04 * b
    tpot = 0.010 + 0.0004 * n
    return Pools(prefill_batch=b, prefill_latency_s=service + 0.02, prefill_service_s=service, prefill_workers=1,
                 decode_concurrency=n, decode_tpot_s=tpot, decode_first_step_s=tpot, decode_workers=decode_workers,
                 kv_transfer_s=0.001, osl=200)


def test_recipe_rows_are_development_rows_with_a_positive_cap():
    from accuracy import silicon_csv_path
    from accuracy_disagg import load_dev_disagg

    dev = load_dev_disagg(silicon_csv_path())
    slots = probe.recipe_slots(dev)
    assert slots and set(slots) <= {r["id"] for r in dev}
    assert all(v >= 1 for v in slots.values())
    assert slots["dsr1_gb300_trtllm_fp8_disagg_1024x8192_c36_cfg392"] == 8  # ctx1_gen4_tep8_batch8


def test_slots_holding_every_client_change_nothing():
    p = pools(slots=16)
    base = closed_loop(p, 32, 10)
    same = closed_loop(probe.with_slots(p, 16), 32, 10)
    assert same.ttft_s == base.ttft_s and not same.decode_saturated


def test_fewer_slots_than_clients_make_clients_wait_for_one():
    p = pools(slots=16)
    capped = probe.with_slots(p, 12)
    assert capped.slots == 12
    point = closed_loop(capped, 32)  # 2 x 12 slots for 32 clients, steady state
    assert point.decode_saturated
    # Little over the whole loop: a client is in its TTFT (the slot wait included) or decoding
    assert point.ttft_s + (200 - 1) * point.tpot_s == pytest.approx(32 / point.requests_per_s, rel=1e-9)
    assert point.requests_per_s == pytest.approx(capped.decode_rate(12))  # the 24 slots' rate
    assert point.ttft_s > closed_loop(p, 32).ttft_s + 0.5
    assert closed_loop(capped, 32, 10).ttft_s > closed_loop(p, 32, 10).ttft_s + 0.5
