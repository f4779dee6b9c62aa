"""The benchmark run simulated (bench/disagg_sim.py) against the closed loop's mean
(sloplan/disagg_loop.py) on the development split's disaggregated rows, over the SAME priced pools
(bench/disagg_ttft_probe.py's `prepare`: each row priced once as `estimate --from-csv` prices it, the
fitted correction included). A diagnostic: it writes nothing and fits nothing.

    .venv/bin/python bench/disagg_sim_probe.py

Variants: the closed loop with the start-up wave (what `estimate --from-csv` predicts today); the
simulation with the protocol's lengths (uniform on [0.8 L, L]); the simulation with every length at
its nominal L (ratio 1: lock-step clients, nothing spreads the waves but the prefill pool itself);
the simulation with round-robin routing over both pools (rr) and over the decode pool only (rr-d;
Dynamo's frontend routes round robin unless started with --router-mode kv, and the TRT-LLM sweeps
start it without). Each: TTFT and TPOT MAPE and median signed TTFT error, over all rows, per backend
and per (isl, osl).

What it showed (216 rows, pools as priced; TTFT / TPOT MAPE): loop 44.8 / 19.4 %; sim 46.2 / 19.2;
sim at ratio 1 49.5 / 19.1; sim rr 47.0 / 19.2. The hypothesis is refuted: the protocol's own length
spread (outputs over [0.8 osl, osl] finish up to a fifth of a decode apart) breaks the lock-step
within a wave or two, so the run's mean TTFT is the closed loop's within a few points, and perfectly
equal lengths (ratio 1) are worse, not better. TRT-LLM at isl 1k / osl 8k stays at -80 % median
(-35 % with round-robin decode routing, whose mis-routed requests wait for a slot on a full decode
worker; 63.5 % -> 51.9 % MAPE there, but the other rows and vLLM get worse: 16.2 % -> 24.1 %).
Refitted under each (bench/calibrate_disagg.py --predictor sim / sim-rr) the figures stay behind the
loop's (46.0 / 46.8 % and 45.7 / 46.1 % in-sample / 5-fold CV against 44.8 / 45.8 %). What remains is
not queueing a run of the priced pools produces: SGLang's prefill passes priced 2-3x fast where the
pool is busy (bench/disagg_ttft_probe.py, 7), and 13 TRT-LLM rows, every one with an attention-DP
prefill worker, that measure more than 3x the simulated run while its prefill pool is under 35 % busy
(5.4 points of TTFT MAPE).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from _common import fmt, render_table
from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg
from disagg_ttft_probe import REQUESTS_PER_CLIENT, prepare


def loop(r: dict):
    from sloplan.disagg_loop import closed_loop

    return closed_loop(r["pools"], r["clients"], REQUESTS_PER_CLIENT)


def sim(ratio: float, prefill: str = "shared", decode: str = "shared"):
    from disagg_sim import Routing, simulate

    routing = (Routing(prefill), Routing(decode))
    return lambda r: simulate(r["pools"], r["clients"], REQUESTS_PER_CLIENT, r["isl"], ratio, routing=routing)


def errors(rows: list[dict], predict) -> tuple[np.ndarray, np.ndarray, float]:
    """Signed TTFT and TPOT errors (%) of each row, and the seconds it took."""
    t0 = time.perf_counter()
    points = [predict(r) for r in rows]
    ttft = np.array([p.ttft_s / r["ttft"] - 1 for p, r in zip(points, rows)]) * 100
    tpot = np.array([p.tpot_s / r["tpot"] - 1 for p, r in zip(points, rows)]) * 100
    return ttft, tpot, time.perf_counter() - t0


def cells(ttft: np.ndarray, tpot: np.ndarray, mask: np.ndarray) -> list[str]:
    if not mask.any():
        return ["-", "-", "-"]
    return [fmt(float(np.abs(ttft[mask]).mean()), ".1f"), fmt(float(np.median(ttft[mask])), ".1f"),
            fmt(float(np.abs(tpot[mask]).mean()), ".1f")]


def table(rows: list[dict], results: dict, key, title: str) -> None:
    groups = sorted({key(r) for r in rows}, key=str)
    header = ["partition", "n"] + [f"{name} {m}" for name in results for m in ("TTFT", "med", "TPOT")]
    out = []
    for g in ["ALL", *groups]:
        mask = np.array([g == "ALL" or key(r) == g for r in rows])
        line = [str(g), str(int(mask.sum()))]
        for ttft, tpot, _ in results.values():
            line += cells(ttft, tpot, mask)
        out.append(line)
    print(f"\n{title} (TTFT = TTFT MAPE, med = median signed TTFT error, TPOT = TPOT MAPE; %)")
    print(render_table(header, out))


def main() -> int:
    rows = prepare(load_dev_disagg(silicon_csv_path()))
    results = {"loop": errors(rows, loop), "sim": errors(rows, sim(0.8)), "sim r=1": errors(rows, sim(1.0)),
               "sim rr": errors(rows, sim(0.8, "round-robin", "round-robin")),
               "sim rr-d": errors(rows, sim(0.8, "shared", "round-robin"))}
    for name, (_, _, s) in results.items():
        print(f"{name}: {s:.1f} s for {len(rows)} rows")
    table(rows, results, lambda r: r["backend"], "By backend")
    table(rows, results, lambda r: (r["isl"], r["osl"]), "By (isl, osl)")
    table(rows, results, lambda r: (r["backend"], r["isl"], r["osl"]), "By backend and (isl, osl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
