"""The decode workers' slots as the rows' published launch recipes set them, against the sample's
decode_batch_size (issue 13). A diagnostic: it writes nothing, fits nothing.

    .venv/bin/python bench/disagg_recipe_probe.py

The sample's disaggregated rows carry decode_batch_size = C / (decode workers x decode attention DP) on
every row, so without a cap in sloplan's closed loop (sloplan/disagg_loop.py) the decode pool always holds
all C clients. The launch recipes (srt-slurm: TensorRT-LLM's `decode: max_batch_size`, SGLang's
`decode: max-running-requests`, each a cap on the requests one decode worker runs) often hold fewer:
ctx1_gen4_tep8_batch8 runs C = 36 on 4 x 8 = 32 slots, ctx1_gen3_tep8_batch4 C = 18 on 12, SGLang's
b200-fp8 8k1k_stp_maxtpt_1 C = 288 on 256. A request the decode pool cannot admit waits for a slot, and
its first token with it (TensorRT-LLM's generation server schedules it when its capacity scheduler fits
it; SGLang's decode server pre-allocates its KV only then, and the prefill server's transfer waits for
that), which the loop's saturated-decode branch prices once the pool has the recipe's slots.
`estimate --from-csv` now applies the cap (a `decode_max_running` column, else model/catalog/decode_caps.yaml
by config_id, derived by bench/disagg_recipe_caps.py from the recipes: it reproduces all 23 caps first read
here by hand); this probe re-solves each development row with the sample's slots (a `decode_max_running`
column too large to cut) and with the catalog's, and lists the rows the cap cuts.

What it showed when the catalog was adopted (calibration_disagg.yaml refit with the caps): 181 of the 216
rows get a cap, 27 are cut; on those 27 TTFT MAPE 69.4 % -> 34.6 % (TPOT 22.6 -> 21.4 %), the other 189
unchanged (42.7 %); all 216: 46.0 % -> 41.7 % in-sample, 46.9 % -> 42.6 % 5-fold CV. Where the cap cuts,
the 25 TensorRT-LLM rows' TTFT lands within 0.7x to 1.4x of the measured one on 17 (3 before; 18 were
below 0.5x), 0.28x to 1.61x in all; three of them (gb200 fp4 C = 102, gb300 fp4 C = 3228, h100 C = 154)
do not move: their KV memory already holds fewer requests than the recipe's cap. SGLang's two b200 fp8
8k/1k rows the cap cuts stay 4x to 7x short (C = 288 on 256 and 2 x 128 slots: 0.12x -> 0.22x, 0.11x ->
0.15x), as do those whose slots hold every client (C = 160, 512, 1024, 3x to 6x short): their miss is not
the decode cap. Before the catalog (hand-read caps, 23 rows, the committed calibration): 66.2 % -> 45.1 %.

It also states the other lead for these rows, TensorRT-LLM's attention-DP balancing on the context
servers (attention_dp_config, PyExecutor._balance_adp_requests): refuted from the source, see
report_adp() (nothing to measure).

A third reading, also measured here by hand and not kept: pricing a prefill worker's pass with the
aggregated calibration's prefill_scale (model/aggregated.py scales its prefill by it; model/disagg_workers.py
does not), both refit, moves SGLang's 76 rows from 53.4 % to 39.7 % TTFT MAPE (5-fold CV 53.9 -> 40.1 %) but
TensorRT-LLM's 131 from 43.8 % to 52.6 % and all 216 from 46.0 % to 46.7 % (CV 46.9 -> 47.3 %).
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import replace

from _common import fmt, render_table
from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg
from disagg_ttft_probe import REQUESTS_PER_CLIENT, prepare


def recipe_slots(rows: list[dict]) -> dict[str, int]:
    """id -> the requests one decode worker may run by its recipe (model/catalog/decode_caps.yaml), for the
    rows the catalog gives a cap."""
    from sloplan.csv_decode_caps import decode_cap

    found = {r["id"]: decode_cap(r, None)[0] for r in rows}
    return {i: cap for i, cap in found.items() if cap is not None}


def with_slots(pools, batch: int):
    """`pools` whose decode workers run at most `batch` requests each (all their ranks together)."""
    k = min(batch, len(pools.decode_concurrency))
    return replace(pools, decode_concurrency=pools.decode_concurrency[:k], decode_tpot_s=pools.decode_tpot_s[:k],
                   decode_first_step_s=pools.decode_first_step_s[:k])


def solve(rows: list[dict], batches: dict[str, int]) -> list[dict]:
    """Each row's TTFT/TPOT (s) as the loop predicts it with the sample's slots and with the recipe's cap
    (both priced by `estimate --from-csv`'s reading: a decode_max_running column too large to cut, or none)."""
    from sloplan.disagg_loop import closed_loop
    from sloplan.estimate_rows_disagg import CAP, MAX_CAP

    sample = {r["id"]: r for r in prepare([{**row, CAP: str(MAX_CAP)} for row in rows])}
    out = []
    for r in prepare(rows):
        base = closed_loop(sample[r["id"]]["pools"], r["clients"], REQUESTS_PER_CLIENT)
        capped = closed_loop(r["pools"], r["clients"], REQUESTS_PER_CLIENT)
        out.append({**sample[r["id"]], "base": base, "capped": capped, "recipe": batches.get(r["id"]),
                    "recipe_slots": r["pools"].slots})
    return out


def mape(rows: list[dict], key: str, metric: str) -> float:
    return statistics.fmean(100 * abs(getattr(r[key], f"{metric}_s") / r[metric] - 1) for r in rows)


def report_rows(solved: list[dict]) -> None:
    head = ("id", "C", "slots sample", "slots recipe", "TTFT meas s", "TTFT pred s", "with recipe s", "saturated")
    body = [(r["id"], r["clients"], r["pools"].slots * r["pools"].decode_workers,
             r["recipe_slots"] * r["pools"].decode_workers, fmt(r["ttft"]), fmt(r["base"].ttft_s),
             fmt(r["capped"].ttft_s), "yes" if r["capped"].decode_saturated else "no")
            for r in solved if r["recipe_slots"] < r["pools"].slots]
    print(render_table(head, body))


def report_mape(solved: list[dict]) -> None:
    mine = [r for r in solved if r["recipe_slots"] < r["pools"].slots]
    head = ("rows", "n", "TTFT MAPE sample slots", "TTFT MAPE recipe slots", "TPOT MAPE sample", "TPOT MAPE recipe")
    body = [(name, len(rs), fmt(mape(rs, "base", "ttft"), ".1f"), fmt(mape(rs, "capped", "ttft"), ".1f"),
             fmt(mape(rs, "base", "tpot"), ".1f"), fmt(mape(rs, "capped", "tpot"), ".1f"))
            for name, rs in (("rows the cap cuts", mine), ("all rows", solved)) if rs]
    print(render_table(head, body))


def report_adp() -> None:
    print("Attention-DP balancing on the context servers (lead 1): refuted from the source, not measured.\n"
          "- TensorRT-LLM AttentionDpConfig.enable_balance defaults to False (llmapi/llm_args.py); the rows'\n"
          "  recipes set enable_attention_dp: true on the prefill server and no attention_dp_config.\n"
          "- Even when enabled, PyExecutor._balance_adp_requests holds context requests only while every rank\n"
          "  has generation requests (`timeout_reached or not all_ranks_have_gen_requests` releases them): a\n"
          "  context-only server's rank holding the new prompt has none, so it is scheduled at once.")


def main() -> int:
    rows = load_dev_disagg(silicon_csv_path())
    solved = solve(rows, recipe_slots(rows))
    report_rows(solved)
    print()
    report_mape(solved)
    print()
    report_adp()
    return 0


if __name__ == "__main__":
    sys.exit(main())
