"""Tests of hypotheses for the disaggregated rows' short TTFT (issue 13), each against the development
split, quantitatively, before anything is modelled. A diagnostic: it writes nothing and fits nothing.

    .venv/bin/python bench/disagg_ttft_probe.py

Rows: those of bench/accuracy_disagg.py that sloplan predicts, priced once as `estimate --from-csv` prices
them (the fitted fixed cost included), then the closed loop (sloplan/disagg_loop.py) re-solved under each
variant, so a variant costs no table lookups. Every figure is TTFT MAPE over the same rows.

1. Decode KV capacity: a decode worker admits a request only when its KV cache holds it. Each row's
   capacity in requests (the memory model's `max_running`, the framework's reservation per request) and
   with a whole isl + osl reserved per request (TRT-LLM's GUARANTEED_NO_EVICT for every framework),
   against the slots the row runs (decode_batch_size x attention DP). If capacity < slots were the cause,
   the large misses would sit on the rows with ratio < 1.
2. Fewer prompts per prefill pass: at most m prompts per attention-DP rank (m = 1, 2, 4) instead of the
   token budget's share.
3. The benchmark's requests per client k: k = 1 (one wave: the whole TTFT is the burst's wait) through
   20, and the steady state.
4. TPOT's share: the decode curve scaled until the loop's TPOT equals the measured one, so the loop's
   cycle (and the prefill pool's load) is the measured one.
5. Where the misses are: rows by the prefill pool's utilisation at the *measured* throughput
   (clients / (TTFT + (osl - 1) TPOT), both measured) over its priced capacity.
6. Burstier arrivals than Poisson: the prefill pool's steady wait (M/D/1) times q, as Kingman's G/D/1
   approximation scales it by the arrivals' squared coefficient of variation (q = c_a^2; 1 is Poisson).
7. What each row asks of the prefill pass: the factor on a pass's time (service and latency together,
   bench/calibrate_disagg.py's prefill_scale) that makes the row's TTFT the measured one, by backend
   and prefill attention DP, on the rows whose pool is more than 5 % busy at the measured throughput.
8. A gated batch server: a worker that takes every prompt that arrived during its last pass is busy a
   share u = rate * service(b) / (b * workers) of the time (1 whenever passes hold more than one
   prompt), so an arrival waits at least u times half a pass, more than M/D/1 at the pool's full-pass
   utilisation gives at light load.

The non-stationary closed loop (clients in lock-step, prompts in bursts every cycle) is tested on its
own by bench/disagg_sim_probe.py, which simulates the benchmark run itself (bench/disagg_sim.py):
refuted as the cause, see there.
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import replace

import numpy as np

from _common import fmt, render_table
from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg

K_VALUES = (1, 2, 5, 10, 20, None)  # None: the steady state
REQUESTS_PER_CLIENT = 10  # the protocol's, as sloplan/estimate_rows_disagg.py SAMPLE_REQUESTS_PER_CLIENT
PROMPTS_PER_RANK = (1, 2, 4)
RATIO_EDGES = (0.0, 1.0, 1.5, 2.0, 4.0, 10.0, 100.0, float("inf"))
LOAD_EDGES = (0.0, 0.05, 0.2, 0.5, 0.8, 1.0, float("inf"))


def prepare(rows: list[dict]) -> list[dict]:
    """Each row sloplan prices: pools (fitted correction), clients, measured TTFT/TPOT (s), KV capacities."""
    from sloplan.estimate_disagg import clients_of, price
    from sloplan.estimate_rows import ROW_ERRORS
    from sloplan.estimate_rows_disagg import CSV_NAMES, _nearest, parse_disagg
    from sloplan.model.memory import kv_tokens_per_request

    out = []
    for row in rows:
        try:
            args, _ = parse_disagg(row)
            built, p = price(_nearest(args), CSV_NAMES, dense_ignores_moe=True)
        except ROW_ERRORS:
            continue
        (ctx, p_slot), (_, d_slot) = built.values()
        whole = d_slot.memory.max_requests(kv_tokens_per_request(ctx.arch, ctx.workload.isl, ctx.workload.osl, 1.0))
        slots = args.counts.decode_batch * d_slot.engine.dp
        out.append({"id": row["id"], "backend": row["backend"], "pools": p.pools, "clients": clients_of(args, p),
                    "prefill_dp": p_slot.engine.dp, "osl": int(row["osl"]), "isl": int(row["isl"]),
                    "capacity_ratio": d_slot.max_running / slots, "whole_ratio": whole / slots,
                    "ttft": float(row["silicon_ttft_ms"]) / 1e3, "tpot": float(row["silicon_tpot_ms"]) / 1e3})
    return out


def signed(rows: list[dict], ttft_s: list[float]) -> np.ndarray:
    return np.array([t / r["ttft"] - 1 for r, t in zip(rows, ttft_s)]) * 100


def loop_ttft(rows: list[dict], pools_of=lambda r: r["pools"], k: int | None = REQUESTS_PER_CLIENT) -> np.ndarray:
    """Signed TTFT error (%) of each row with its pools replaced by pools_of(row), k requests per client."""
    from sloplan.disagg_loop import closed_loop

    return signed(rows, [closed_loop(pools_of(r), r["clients"], k).ttft_s for r in rows])


def summary(name: str, err: np.ndarray) -> list[str]:
    if not len(err):
        return [name, "0", "-", "-"]
    return [name, str(len(err)), fmt(float(np.abs(err).mean()), ".1f"), fmt(float(np.median(err)), ".1f")]


def buckets(rows: list[dict], err: np.ndarray, key: str, edges: tuple) -> list[list[str]]:
    values = np.array([r[key] for r in rows])
    out = []
    for lo, hi in zip(edges, edges[1:]):
        mask = (values > lo) & (values <= hi)
        out.append(summary(f"({lo:g}, {hi:g}]", err[mask]) + [fmt(float(np.abs(err[mask]).sum()) / len(err), ".1f")])
    return out


HEADER = ["variant", "n", "TTFT MAPE", "median signed"]


def kv_capacity(rows: list[dict], base: np.ndarray) -> None:
    print("\n1. Decode KV capacity over the slots run (decode_batch_size x attention DP), requests")
    for key, what in (("capacity_ratio", "the framework's reservation"), ("whole_ratio", "isl + osl reserved")):
        ratios = [r[key] for r in rows]
        print(f"   {what}: min {min(ratios):.2f}, rows below 1: {sum(x < 1 for x in ratios)}")
    print(render_table(["capacity / slots", "n", "TTFT MAPE", "median signed", "points of MAPE"],
                       buckets(rows, base, "capacity_ratio", RATIO_EDGES)))


def truncated(pools, n: int):
    return replace(pools, prefill_batch=pools.prefill_batch[:n], prefill_latency_s=pools.prefill_latency_s[:n],
                   prefill_service_s=pools.prefill_service_s[:n])


def prompts_per_pass(rows: list[dict], base: np.ndarray) -> None:
    table = [summary("token budget (as priced)", base)]
    for m in PROMPTS_PER_RANK:
        err = loop_ttft(rows, lambda r, m=m: truncated(r["pools"], min(r["pools"].largest_batch, m * r["prefill_dp"])))
        table.append(summary(f"<= {m} prompt(s) per rank per pass", err))
    print("\n2. Prompts per prefill pass")
    print(render_table(HEADER, table))


def requests_per_client(rows: list[dict]) -> None:
    backends = sorted({r["backend"] for r in rows})
    table = []
    for k in K_VALUES:
        err = loop_ttft(rows, k=k)
        cells = summary("steady state" if k is None else f"k = {k}", err)
        for b in backends:
            mask = np.array([r["backend"] == b for r in rows])
            cells.append(fmt(float(np.abs(err[mask]).mean()), ".1f"))
        table.append(cells)
    print("\n3. Requests per client (the start-up wave's weight)")
    print(render_table(HEADER + [f"{b} MAPE" for b in backends], table))


def measured_tpot(pools, clients: int, tpot_s: float):
    """`pools` with its decode curve scaled until the loop's TPOT is `tpot_s`."""
    from sloplan.disagg_loop import closed_loop

    scale, out = 1.0, pools
    for _ in range(6):
        scale *= tpot_s / closed_loop(out, clients, REQUESTS_PER_CLIENT).tpot_s
        out = replace(pools, decode_tpot_s=pools.decode_tpot_s * scale)
    return out


def tpot_share(rows: list[dict], base: np.ndarray) -> None:
    err = loop_ttft(rows, lambda r: measured_tpot(r["pools"], r["clients"], r["tpot"]))
    print("\n4. The loop's cycle at the measured TPOT")
    print(render_table(HEADER, [summary("priced TPOT", base), summary("measured TPOT", err)]))


def measured_load(rows: list[dict], base: np.ndarray) -> None:
    for r in rows:
        rate = r["clients"] / (r["ttft"] + (r["osl"] - 1) * r["tpot"])
        r["load"] = rate / r["pools"].prefill_rate
    print("\n5. Rows by the prefill pool's utilisation at the measured throughput")
    print(render_table(["utilisation", "n", "TTFT MAPE", "median signed", "points of MAPE"],
                       buckets(rows, base, "load", LOAD_EDGES)))
    idle = [(r, e) for r, e in zip(rows, base) if r["load"] <= LOAD_EDGES[1]]
    over = [e for r, e in idle if e < -50]  # measured more than 2x the prediction
    rest = [abs(e) for r, e in idle if e >= -50]
    print(f"   load <= {LOAD_EDGES[1]}: {len(over)} of {len(idle)} rows measure > 2x the predicted TTFT "
          f"({sum(map(abs, over)) / len(rows):.1f} points); the other {len(rest)}: {statistics.fmean(rest):.1f} %")
    burst = [r for r in rows
             if r["ttft"] - float(r["pools"].prefill_latency_s[-1]) > r["clients"] / r["pools"].prefill_rate]
    print(f"   rows whose measured TTFT less the prefill exceeds the whole start-up burst (clients / prefill rate): "
          f"{len(burst)} ({', '.join(sorted({r['backend'] for r in burst}))})")


BURSTINESS = (1.0, 2.0, 4.0, 8.0)
FEW_CLIENTS = 8


def burstiness(rows: list[dict]) -> None:
    import sloplan.disagg_loop as loop

    poisson, table = loop.md1_wait_s, []
    backends = sorted({r["backend"] for r in rows})
    try:
        for q in BURSTINESS:
            loop.md1_wait_s = lambda rho, service, q=q: q * poisson(rho, service)
            err = loop_ttft(rows)
            table.append(summary(f"q = {q:g}", err) + [fmt(float(np.abs(err[[r["backend"] == b for r in rows]]).mean()),
                                                          ".1f") for b in backends])
    finally:
        loop.md1_wait_s = poisson
    print("\n6. The prefill pool's steady wait times q (arrivals burstier than Poisson)")
    print(render_table(HEADER + [f"{b} MAPE" for b in backends], table))


def scaled_pass(pools, scale: float):
    service = pools.prefill_service_s
    return replace(pools, prefill_service_s=service * scale,
                   prefill_latency_s=pools.prefill_latency_s + service * (scale - 1))


def implied_scale(r: dict, lo: float = 0.05, hi: float = 50.0) -> float:
    """The pass-time factor at which the row's predicted TTFT equals the measured one (bisection, log scale)."""
    from sloplan.disagg_loop import closed_loop

    def short(s: float) -> bool:
        return closed_loop(scaled_pass(r["pools"], s), r["clients"], REQUESTS_PER_CLIENT).ttft_s < r["ttft"]
    if not short(lo) or short(hi):
        return lo if not short(lo) else hi
    for _ in range(40):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if short(mid) else (lo, mid)
    return (lo * hi) ** 0.5


def pass_scale(rows: list[dict]) -> None:
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r["load"] > LOAD_EDGES[1]:
            groups.setdefault((r["backend"], r["prefill_dp"]), []).append(implied_scale(r))
    table = [[b, str(dp), str(len(v)), fmt(float(np.median(v)), ".2f"), fmt(float(np.percentile(v, 25)), ".2f"),
              fmt(float(np.percentile(v, 75)), ".2f")] for (b, dp), v in sorted(groups.items())]
    print("\n7. Pass-time factor each row asks for (prefill pool > 5 % busy at the measured throughput)")
    print(render_table(["backend", "prefill dp", "n", "median", "p25", "p75"], table))
    for b in sorted({r["backend"] for r in rows}):
        few = [implied_scale(r) for r in rows if r["backend"] == b and r["clients"] <= FEW_CLIENTS]
        print(f"   {b} at <= {FEW_CLIENTS} clients: {len(few)} rows, median {np.median(few):.2f}")


def gated_wait(rows: list[dict], base: np.ndarray) -> None:
    import sloplan.disagg_loop as loop

    md1 = loop.prefill_wait_s

    def gated(pools, rate, clients):
        wait = md1(pools, rate, clients)
        b = loop.prefill_batch_at(pools, rate)
        service = pools._prefill(pools.prefill_service_s, b)
        busy = min(1.0, rate * service / (b * pools.prefill_workers))
        return max(wait, busy * service / 2 * (clients - 1) / clients)
    try:
        loop.prefill_wait_s = gated
        err = loop_ttft(rows)
    finally:
        loop.prefill_wait_s = md1
    print("\n8. The prefill wait at least the busy share of half a pass (a gated batch server)")
    print(render_table(HEADER, [summary("M/D/1 (as priced)", base), summary("gated", err)]))


def main() -> int:
    rows = prepare(load_dev_disagg(silicon_csv_path()))
    base = loop_ttft(rows)
    print(f"{len(rows)} dev-split disaggregated rows predicted; as priced: TTFT MAPE {np.abs(base).mean():.1f} %, "
          f"median signed {statistics.median(base):.1f} %, {int((base < 0).sum())} under-predicted")
    kv_capacity(rows, base)
    prompts_per_pass(rows, base)
    requests_per_client(rows)
    tpot_share(rows, base)
    measured_load(rows, base)
    burstiness(rows)
    pass_scale(rows)
    gated_wait(rows, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
