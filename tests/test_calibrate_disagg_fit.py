"""bench/calibrate_disagg.py's fit: the prefill busy-time scale and the fixed TTFT cost come back from rows
made with them, and the scale never goes below 1 (a prefill worker never priced faster than the same
engine's static prefill), however much faster the rows say it is."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sloplan.disagg_loop import Pools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import calibrate_disagg  # noqa: E402

LOOP = calibrate_disagg.PREDICTORS["loop"]
ISL = 1000


def _pools(prefill_workers: int) -> Pools:
    b, n = np.arange(1, 5), np.arange(1, 33)
    service, tpot = 0.05 + 0.04 * b, 0.010 + 0.0004 * n
    return Pools(prefill_batch=b, prefill_latency_s=service + 0.02, prefill_service_s=service,
                 prefill_workers=prefill_workers, decode_concurrency=n, decode_tpot_s=tpot, decode_first_step_s=tpot,
                 decode_workers=2, kv_transfer_s=0.002, osl=200)


def _rows(scale: float, overhead_s: float) -> list[dict]:
    """Rows whose measured TTFT is the loop's under (scale, overhead_s): light and loaded clients."""
    rows = []
    for i, (workers, clients) in enumerate((w, c) for w in (1, 2) for c in (1, 16, 64)):
        pools = _pools(workers)
        truth = LOOP(calibrate_disagg.corrected(pools, scale, overhead_s), clients, ISL)
        rows.append({"id": f"r{i}", "key": ("sglang", "b200_sxm"), "isl": ISL, "predict": LOOP, "pools": pools,
                     "clients": clients, "ttft": truth.ttft_s, "tpot": truth.tpot_s})
    return rows


def test_the_fit_recovers_a_slower_prefill_and_its_fixed_cost():
    scale, overhead = calibrate_disagg.fit_one(_rows(1.4, 0.03))
    assert scale == pytest.approx(1.4, abs=0.02)
    assert overhead == pytest.approx(0.03, abs=0.005)


def test_the_scale_stays_at_one_when_the_rows_say_faster():
    rows = _rows(0.7, 0.05)
    scale, _ = calibrate_disagg.fit_one(rows)
    assert scale == 1.0
    free = min(calibrate_disagg.errors(rows, (s, 0.05))[0].mean() for s in (0.7, 0.8))
    assert free < calibrate_disagg.errors(rows, (1.0, 0.05))[0].mean()  # below 1 would have fitted better


def test_cross_validation_in_forked_workers_equals_the_folds_in_turn():
    """Run in a fresh process, as the bench script runs: forking this test process, whose other tests may have
    left solver threads behind, could hang a child on a lock one of them held."""
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; import test_calibrate_disagg_fit as t; "
            "rows = t._rows(1.3, 0.02); cv = t.calibrate_disagg.cross_validated_rows; "
            "serial = cv(rows, 3, workers=1); assert serial and cv(rows, 3, workers=2) == serial, 'differ'")
    run = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
