"""The decode workers' slots as the rows' published launch recipes set them, against the sample's
decode_batch_size (issue 13). A diagnostic: it writes nothing, fits nothing and changes no prediction.

    .venv/bin/python bench/disagg_recipe_probe.py

The sample's disaggregated rows carry decode_batch_size = C / (decode workers x decode attention DP) on
every row, so in sloplan's closed loop (sloplan/disagg_loop.py) the decode pool always holds all C
clients. The launch recipes (srt-slurm: TensorRT-LLM's `decode: max_batch_size`, SGLang's
`decode: max-running-requests`, each a cap on the requests one decode worker runs) often hold fewer:
ctx1_gen4_tep8_batch8 runs C = 36 on 4 x 8 = 32 slots, ctx1_gen3_tep8_batch4 C = 18 on 12, SGLang's
b200-fp8 8k1k_stp_maxtpt_1 C = 288 on 256. A request the decode pool cannot admit waits for a slot, and
its first token with it (TensorRT-LLM's generation server schedules it when its capacity scheduler fits
it; SGLang's decode server pre-allocates its KV only then, and the prefill server's transfer waits for
that), which the loop's saturated-decode branch already prices once the pool has the recipe's slots.
bench/data/disagg_recipe_decode_slots.csv lists the development-split rows whose recipe was read (its
path per row); each is re-solved with its decode curve cut at the recipe's slots.

It also states the other lead for these rows, TensorRT-LLM's attention-DP balancing on the context
servers (attention_dp_config, PyExecutor._balance_adp_requests): refuted from the source, see
report_adp() (nothing to measure).

What it showed (fitted pools of `estimate --from-csv`, calibration_disagg.yaml as committed): on the 23
recipe rows TTFT MAPE 66.2 % with the sample's slots, 45.1 % with the recipe's (TPOT 20.4 / 20.1 %); over
all 216 rows 46.6 % -> 44.3 %. Where the recipe's slots hold all C clients nothing moves; where they are
short, the TensorRT-LLM rows' TTFT lands at 0.83x to 1.39x of the measured one but for b200 fp4 8k/1k
C = 370 (8.06 s measured, 3.82 s), from 0.02x to 0.35x before. SGLang's b200 8k/1k rows stay 3x to 6x
short even where the slots hold every client (C = 160, 512, 1024): their miss is not the decode cap.
The sample cannot say the cap: the fix is a column with the recipe's decode cap (or its recipe), not a
constant; `sloplan estimate --mode disagg` already prices it when decode_batch is the recipe's cap and
concurrency the benchmark's C.

A third reading, also measured here by hand and not kept: pricing a prefill worker's pass with the
aggregated calibration's prefill_scale (model/aggregated.py scales its prefill by it; model/disagg_workers.py
does not), both refit, moves SGLang's 76 rows from 53.4 % to 39.7 % TTFT MAPE (5-fold CV 53.9 -> 40.1 %) but
TensorRT-LLM's 131 from 43.8 % to 52.6 % and all 216 from 46.0 % to 46.7 % (CV 46.9 -> 47.3 %).
"""
from __future__ import annotations

import csv
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from _common import REPO_ROOT, fmt, render_table
from accuracy import silicon_csv_path
from accuracy_disagg import load_dev_disagg
from disagg_ttft_probe import REQUESTS_PER_CLIENT, prepare

RECIPES = REPO_ROOT / "bench" / "data" / "disagg_recipe_decode_slots.csv"


def recipe_slots(path: Path = RECIPES) -> dict[str, int]:
    """id -> the requests one decode worker may run by its recipe (the file's comment lines skipped)."""
    with path.open() as f:
        lines = [line for line in f if not line.startswith("#")]
    return {r["id"]: int(r["decode_max_running"]) for r in csv.DictReader(lines)}


def with_slots(pools, batch: int):
    """`pools` whose decode workers run at most `batch` requests each (all their ranks together)."""
    k = min(batch, len(pools.decode_concurrency))
    return replace(pools, decode_concurrency=pools.decode_concurrency[:k], decode_tpot_s=pools.decode_tpot_s[:k],
                   decode_first_step_s=pools.decode_first_step_s[:k])


def solve(rows: list[dict], batches: dict[str, int]) -> list[dict]:
    """Each row's TTFT/TPOT (s) as the loop predicts it with the sample's slots and with the recipe's."""
    from sloplan.disagg_loop import closed_loop

    out = []
    for r in rows:
        base = closed_loop(r["pools"], r["clients"], REQUESTS_PER_CLIENT)
        capped = base
        if r["id"] in batches:
            capped = closed_loop(with_slots(r["pools"], batches[r["id"]]), r["clients"], REQUESTS_PER_CLIENT)
        out.append({**r, "base": base, "capped": capped, "recipe": batches.get(r["id"])})
    return out


def mape(rows: list[dict], key: str, metric: str) -> float:
    return statistics.fmean(100 * abs(getattr(r[key], f"{metric}_s") / r[metric] - 1) for r in rows)


def report_rows(solved: list[dict]) -> None:
    head = ("id", "C", "slots sample", "slots recipe", "TTFT meas s", "TTFT pred s", "with recipe s", "saturated")
    body = [(r["id"], r["clients"], r["pools"].slots * r["pools"].decode_workers,
             r["recipe"] * r["pools"].decode_workers, fmt(r["ttft"]), fmt(r["base"].ttft_s),
             fmt(r["capped"].ttft_s), "yes" if r["capped"].decode_saturated else "no")
            for r in solved if r["recipe"] is not None]
    print(render_table(head, body))


def report_mape(solved: list[dict]) -> None:
    mine = [r for r in solved if r["recipe"] is not None]
    head = ("rows", "n", "TTFT MAPE sample slots", "TTFT MAPE recipe slots", "TPOT MAPE sample", "TPOT MAPE recipe")
    body = [(name, len(rs), fmt(mape(rs, "base", "ttft"), ".1f"), fmt(mape(rs, "capped", "ttft"), ".1f"),
             fmt(mape(rs, "base", "tpot"), ".1f"), fmt(mape(rs, "capped", "tpot"), ".1f"))
            for name, rs in (("recipe rows", mine), ("all rows", solved)) if rs]
    print(render_table(head, body))


def report_adp() -> None:
    print("Attention-DP balancing on the context servers (lead 1): refuted from the source, not measured.\n"
          "- TensorRT-LLM AttentionDpConfig.enable_balance defaults to False (llmapi/llm_args.py); the rows'\n"
          "  recipes set enable_attention_dp: true on the prefill server and no attention_dp_config.\n"
          "- Even when enabled, PyExecutor._balance_adp_requests holds context requests only while every rank\n"
          "  has generation requests (`timeout_reached or not all_ranks_have_gen_requests` releases them): a\n"
          "  context-only server's rank holding the new prompt has none, so it is scheduled at once.")


def main() -> int:
    batches = recipe_slots()
    rows = prepare(load_dev_disagg(silicon_csv_path()))
    solved = solve(rows, batches)
    report_rows(solved)
    print()
    report_mape(solved)
    print()
    report_adp()
    return 0


if __name__ == "__main__":
    sys.exit(main())
