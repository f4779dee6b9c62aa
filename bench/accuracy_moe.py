"""The MoE/MLA section of bench/accuracy.py: the aggregated MoE rows of the development split.

Same rules as the dense section (development split only, filtered on read; the peer's predictions
joined on id; a row counts as predicted when a tool gave both TTFT and TPOT), with the targets of
issue 12 (TPOT MAPE ≤ 12 %, TTFT ≤ 25 %, ≥ 95 % of rows predicted) and one more table per
(system, backend): how many rows each tool predicted, how many rows' layouts sloplan re-read
(sloplan/csv_layout.py, the `layout_note` column), sloplan's MAPE with the shipped constants and,
with `--moe-cv K`, K-fold cross-validated: the constants refit (bench/calibrate.py's fit) on the
other folds' MoE rows and scored on the fold they did not see. A partition sloplan predicts less
of than the peer says so; nothing is averaged over rows a tool did not predict.
"""
from __future__ import annotations

import argparse
import hashlib

from _common import fmt, render_table
from accuracy import (Errors, dump_csv, partition, pct, predicted, print_errors, section_records,
                      print_report)

MOE_TARGETS = {"tpot_mape": 12.0, "ttft_mape": 25.0, "predicted_pct": 95.0}
EXPECTED_MOE_ROWS = 2079
MIN_ROWS_TO_FLAG = 20


def cross_validated(rows: list[dict], folds: int) -> dict[str, tuple[float, float]]:
    """id -> (TTFT, TPOT) absolute % error out of fold: for each fold, bench/calibrate.py's fit on the
    other folds' rows that sloplan can price, scored on this fold (rows it cannot price are absent)."""
    import calibrate

    prepped = calibrate.prepare(rows, by_design=True)
    fold_of = {r["id"]: int(hashlib.sha256(("cv" + r["id"]).encode()).hexdigest()[:8], 16) % folds for r in prepped}
    out: dict[str, tuple[float, float]] = {}
    for k in range(folds):
        train = [r for r in prepped if fold_of[r["id"]] != k]
        if not train:
            continue
        fitted = calibrate.fit_all(train, verbose=False, maxiter=calibrate.MOE_NM_MAXITER)
        test = [r for r in prepped if fold_of[r["id"]] == k and any(key in fitted for key in calibrate._keys(r))]
        if not test:
            continue
        t, p = calibrate.errors(test, calibrate.constants_for(fitted, test))
        out |= {r["id"]: (100.0 * float(a), 100.0 * float(b)) for r, a, b in zip(test, t, p)}
    return out


def _mape(values: list[float]) -> str:
    return fmt(sum(values) / len(values) if values else None, ".1f")


def coverage_row(name: str, recs: list[dict], cv: dict[str, tuple[float, float]] | None) -> list[str]:
    """One partition: rows, layouts re-read, predicted share per tool, MAPE per tool, CV, flag."""
    mine = [r for r in recs if predicted(r, "sloplan")]
    peers = [r for r in recs if predicted(r, "peer")]
    ours, theirs = Errors.of(mine, "sloplan"), Errors.of(peers, "peer")
    cells = [name, str(len(recs)), str(sum(1 for r in recs if r.get("sloplan_layout_note"))),
             pct(len(mine), len(recs)), pct(len(peers), len(recs)),
             fmt(ours.summary("ttft")[0], ".1f"), fmt(ours.summary("tpot")[0], ".1f")]
    if cv is not None:
        folded = [cv[r["id"]] for r in recs if r["id"] in cv]
        cells += [str(len(folded)), _mape([t for t, _ in folded]), _mape([p for _, p in folded])]
    cells += [fmt(theirs.summary("ttft")[0], ".1f"), fmt(theirs.summary("tpot")[0], ".1f")]
    fewer = len(recs) >= MIN_ROWS_TO_FLAG and len(mine) < len(peers)
    return cells + ["sloplan predicts fewer" if fewer else ""]


def print_coverage(recs: list[dict], by: str, cv: dict[str, tuple[float, float]] | None) -> None:
    header = ["partition", "n", "layout re-read", "sl%pred", "peer%pred", "sl TTFT MAPE", "sl TPOT MAPE"]
    if cv is not None:
        header += ["cv n", "sl cv TTFT MAPE", "sl cv TPOT MAPE"]
    header += ["peer TTFT MAPE", "peer TPOT MAPE", "flag"]
    groups = [("ALL", recs), *partition(recs, by).items()]
    print("\nMoE coverage: each tool on ALL rows it predicted itself; 'layout re-read' = rows whose layout"
          " columns sloplan/csv_layout.py mapped (layout_note)" + ("; cv = out-of-fold, constants refit on the"
                                                                 " other folds" if cv is not None else "."))
    print(render_table(header, [coverage_row(name, g, cv) for name, g in groups]))


def moe_section(args: argparse.Namespace, columns: list[str], rows: list[dict]) -> None:
    """The whole MoE section: header, the dense section's two tables with MoE targets, coverage, reasons."""
    recs, ours, pred_path = section_records(args, columns, rows, "moe", "MoE/MLA", "dev-split MoE/MLA agg rows",
                                            EXPECTED_MOE_ROWS)
    for rec in recs:
        rec["sloplan_layout_note"] = ours.get(rec["id"], {}).get("layout_note", "")
    with_sloplan = pred_path is not None
    print_report(recs, args.by, with_sloplan, MOE_TARGETS)
    cv = cross_validated(rows, args.moe_cv) if args.moe_cv and with_sloplan else None
    print_coverage(recs, args.by, cv)
    for tool in (("sloplan", "peer") if with_sloplan else ("peer",)):
        print_errors(recs, tool)
    if args.moe_csv:
        dump_csv(recs, args.moe_csv)
