"""The disaggregated section of bench/accuracy.py: the development split's disaggregated rows that say
what ran (prefill_batch_size, prefill_num_workers, decode_batch_size, decode_num_workers non-empty).

Same rules as the other sections (development split only, filtered on read; the peer's predictions
joined on id; a row counts as predicted when a tool gave both TTFT and TPOT), with issue 13's targets
(TPOT MAPE <= 12 %, TTFT <= 25 %, >= 90 % of rows predicted), a coverage table per (system, backend),
and what sloplan's predicted TTFT is made of on these rows: the shares of queueing at the prefill pool
and of the KV-cache transfer (sloplan/disagg_loop.py), as the sum of each part over the sum of TTFT
and as the median row's share. With `--disagg-cv K`, K-fold cross-validated figures of the disaggregated
constants (bench/calibrate_disagg.py: refit on the other folds, scored on the fold they did not see).
"""
from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

from _common import fmt, is_dev_row, render_table
from accuracy import (Errors, dump_csv, partition, pct, predicted, print_errors, section_records,
                      print_report, to_ms)

DISAGG_TARGETS = {"tpot_mape": 12.0, "ttft_mape": 25.0, "predicted_pct": 90.0}
EXPECTED_DISAGG_ROWS = 226
COUNTS = ("prefill_batch_size", "prefill_num_workers", "decode_batch_size", "decode_num_workers")
PARTS = ("prefill", "queue", "kv_transfer", "first_step")
MIN_ROWS_TO_FLAG = 20


def load_dev_disagg(path: Path) -> list[dict]:
    """The dev-split disaggregated rows with all four counts (the split filter runs first, row by row)."""
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if is_dev_row(r["id"])]
    return [r for r in rows if r["mode"] == "disagg" and all((r.get(c) or "").strip() for c in COUNTS)]


def load_parts(path: Path, wanted: set[str]) -> dict[str, dict[str, float]]:
    """id -> TTFT's predicted parts in ms (prefill, queue, kv_transfer, first_step), dev ids only."""
    out: dict[str, dict[str, float]] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r.get("id") in wanted and all(to_ms(r.get(f"pred_{p}_ms")) is not None or p == "queue" for p in PARTS):
                out[r["id"]] = {p: float(r.get(f"pred_{p}_ms") or 0.0) for p in PARTS}
    return out


def share_row(name: str, recs: list[dict]) -> list[str]:
    """Queueing and KV-transfer shares of sloplan's predicted TTFT on the rows it predicted."""
    mine = [r for r in recs if predicted(r, "sloplan") and r.get("parts")]
    if not mine:
        return [name, "0", "-", "-", "-", "-"]
    total = sum(r["sloplan_ttft_ms"] for r in mine)

    def pooled(part: str) -> str:
        return fmt(100.0 * sum(r["parts"][part] for r in mine) / total, ".1f")

    def median(part: str) -> str:
        return fmt(100.0 * statistics.median(r["parts"][part] / r["sloplan_ttft_ms"] for r in mine), ".2f")
    return [name, str(len(mine)), pooled("queue"), median("queue"), pooled("kv_transfer"), median("kv_transfer")]


def print_shares(recs: list[dict], by: str) -> None:
    header = ["partition", "n", "queue % (pooled)", "queue % (median row)", "KV % (pooled)", "KV % (median row)"]
    print("\nWhat sloplan's predicted TTFT is made of on these rows: queueing at the prefill pool and the KV-cache"
          " transfer, pooled (sum of the part / sum of TTFT) and the median row's share.")
    print(render_table(header, [share_row(name, g) for name, g in [("ALL", recs), *partition(recs, by).items()]]))


def coverage_row(name: str, recs: list[dict], cv: dict[str, tuple[float, float]] | None) -> list[str]:
    mine = [r for r in recs if predicted(r, "sloplan")]
    peers = [r for r in recs if predicted(r, "peer")]
    ours, theirs = Errors.of(mine, "sloplan"), Errors.of(peers, "peer")
    cells = [name, str(len(recs)), pct(len(mine), len(recs)), pct(len(peers), len(recs)),
             fmt(ours.summary("ttft")[0], ".1f"), fmt(ours.summary("tpot")[0], ".1f")]
    if cv is not None:
        folded = [cv[r["id"]] for r in recs if r["id"] in cv]
        cells += [str(len(folded)), fmt(statistics.fmean(t for t, _ in folded) if folded else None, ".1f"),
                  fmt(statistics.fmean(p for _, p in folded) if folded else None, ".1f")]
    cells += [fmt(theirs.summary("ttft")[0], ".1f"), fmt(theirs.summary("tpot")[0], ".1f")]
    fewer = len(recs) >= MIN_ROWS_TO_FLAG and len(mine) < len(peers)
    return cells + ["sloplan predicts fewer" if fewer else ""]


def print_coverage(recs: list[dict], by: str, cv: dict[str, tuple[float, float]] | None) -> None:
    header = ["partition", "n", "sl%pred", "peer%pred", "sl TTFT MAPE", "sl TPOT MAPE"]
    if cv is not None:
        header += ["cv n", "sl cv TTFT MAPE", "sl cv TPOT MAPE"]
    header += ["peer TTFT MAPE", "peer TPOT MAPE", "flag"]
    print("\nDisaggregated coverage: each tool on ALL rows it predicted itself"
          + ("; cv = out-of-fold, constants refit on the other folds." if cv is not None else "."))
    groups = [("ALL", recs), *partition(recs, by).items()]
    print(render_table(header, [coverage_row(name, g, cv) for name, g in groups]))


def disagg_section(args: argparse.Namespace, columns: list[str], path: Path) -> None:
    """The whole disaggregated section: both report tables with the issue's targets, coverage, shares, reasons."""
    rows = load_dev_disagg(path)
    recs, _, pred_path = section_records(args, columns, rows, "disagg", "disaggregated",
                                         "dev-split disagg rows with worker counts", EXPECTED_DISAGG_ROWS)
    ids = {r["id"] for r in rows}
    parts = load_parts(pred_path, ids) if pred_path else {}
    for rec in recs:
        rec["parts"] = parts.get(rec["id"])
    with_sloplan = pred_path is not None
    print_report(recs, args.by, with_sloplan, DISAGG_TARGETS)
    cv = None
    if args.disagg_cv and with_sloplan:
        import calibrate_disagg

        cv = calibrate_disagg.cross_validated(pred_path, ids, args.disagg_cv)
    print_coverage(recs, args.by, cv)
    if with_sloplan:
        print_shares(recs, args.by)
    for tool in (("sloplan", "peer") if with_sloplan else ("peer",)):
        print_errors(recs, tool)
    if args.disagg_csv:
        dump_csv([{k: v for k, v in r.items() if k != "parts"} for r in recs], args.disagg_csv)
