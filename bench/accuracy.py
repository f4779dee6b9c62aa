"""End-to-end accuracy of sloplan's TTFT/TPOT estimates against measured silicon, next to the peer's.

Run from the repository root:

    .venv/bin/python bench/accuracy.py                      # runs `sloplan estimate` once
    .venv/bin/python bench/accuracy.py --by model --csv /tmp/acc.csv
    .venv/bin/python bench/accuracy.py --from-pred /tmp/pred.csv   # reuse an earlier prediction file
    .venv/bin/python bench/accuracy.py --peer-only          # only the peer's figures (no sloplan)

Ground truth is `silicon_sample.csv` from the installed aiconfigurator-core wheel. Only the
development split is used (design.md, Contracts: Accurate); held-out rows are dropped as soon as
the file is read and never printed, joined or scored. Of the dev rows we keep the dense aggregated
ones (856 rows with aiconfigurator-core 0.12.0), the rows sloplan's dense agg estimator targets; a
second section (bench/accuracy_moe.py) scores the MoE/MLA aggregated rows (2,079) the same way, per
system/backend, with how many rows each tool predicted (`--no-moe` skips it); a third
(bench/accuracy_disagg.py) the disaggregated rows that carry worker counts and batch sizes (226), with
the queueing and KV-transfer shares of sloplan's predicted TTFT (`--no-disagg` skips it).

The peer's predictions for the same rows come precomputed in
`../shared/data/peer-predictions-dev.csv` (see that folder's README for how they were made).

sloplan CLI contract assumed:
    sloplan estimate --from-csv IN.csv --out PRED.csv
IN.csv has silicon_sample.csv's columns; PRED.csv has those columns plus
`layout_note, pred_ttft_ms, pred_tpot_ms, data_version, error` (empty predictions + a message in `error` for rows
it cannot estimate).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO_ROOT, find_sloplan, fmt, is_dev_row, last_line, render_table

EXPECTED_ROWS = 856
TARGETS = {"tpot_mape": 10.0, "ttft_mape": 20.0, "predicted_pct": 95.0}
MIN_ROWS_TO_FLAG = 20

# Dense = one FFN per layer, no experts, no MLA. Anything matching DENY is MoE/MLA even when ALLOW
# also matches (e.g. Qwen3.5-397B-A17B, Llama-4-Scout-17B-16E).
DENSE_ALLOW = re.compile(r"llama-3|qwen2\.5|qwen3(\.\d+)?-\d+(\.\d+)?b|mistral-7b", re.I)
DENSE_DENY = re.compile(r"-a\d+(\.\d+)?b|deepseek|gpt-oss|minimax|kimi|glm|llama-4|mixtral|\d+e\b", re.I)


# ----------------------------------------------------------------------------- input rows

def silicon_csv_path() -> Path:
    """Locate silicon_sample.csv without importing aiconfigurator_core (its import is slow and
    would pull the peer's estimator code into the process that measures us)."""
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("accuracy: aiconfigurator-core is not installed in this Python")
    return Path(list(spec.submodule_search_locations)[0]) / "systems" / "silicon_sample.csv"


def is_dense(model_path: str) -> bool:
    """Dense decoder-only model by name; the sample's model ids are few and stable enough."""
    return bool(DENSE_ALLOW.search(model_path)) and not DENSE_DENY.search(model_path)


def load_dev_agg(path: Path) -> tuple[list[str], list[dict], list[dict]]:
    """Read the sample, keeping only dev-split aggregated rows: (columns, dense rows, MoE/MLA rows).

    The split filter runs first, row by row, so held-out rows never reach any later code.
    """
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = [r for r in reader if is_dev_row(r["id"])]
    agg = [r for r in rows if r["mode"] == "agg"]
    return columns, [r for r in agg if is_dense(r["model_path"])], [r for r in agg if not is_dense(r["model_path"])]


def load_dev_dense_agg(path: Path) -> tuple[list[str], list[dict]]:
    """The dev-split dense aggregated rows (what bench/calibrate.py fits on)."""
    columns, dense, _ = load_dev_agg(path)
    return columns, dense


# ----------------------------------------------------------------------------- predictions

def to_ms(text: str | None) -> float | None:
    """Parse a millisecond field; empty, non-finite or non-positive means 'no prediction'."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def run_sloplan_estimate(exe: str, columns: list[str], rows: list[dict], workdir: Path, name: str = "dense") -> Path:
    """Write the rows to a CSV and run one `sloplan estimate` process over them, timing it.

    One process for all rows, so the wall time includes start-up and table loading, as a user
    scoring a batch would see it.
    """
    src = workdir / f"dev_{name}_agg.csv"
    out = workdir / ("sloplan_pred.csv" if name == "dense" else f"sloplan_pred_{name}.csv")
    with src.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    cmd = [exe, "estimate", "--from-csv", str(src), "--out", str(out)]
    print("running:", " ".join(cmd))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"sloplan estimate: exit {proc.returncode}, wall {wall:.2f} s for {len(rows)} rows")
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(last_line(proc.stderr or proc.stdout))
    return out


def load_predictions(path: Path, wanted: set[str]) -> dict[str, dict]:
    """id -> {ttft, tpot, error, data_version}, for the wanted (dev) ids only.

    Filtering by id here means a prediction file that also covers held-out rows cannot leak them.
    """
    preds: dict[str, dict] = {}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r.get("id") not in wanted:
                continue
            preds[r["id"]] = {
                "ttft": to_ms(r.get("pred_ttft_ms")),
                "tpot": to_ms(r.get("pred_tpot_ms")),
                "error": (r.get("error") or "").strip(),
                "data_version": r.get("data_version", ""),
                "layout_note": (r.get("layout_note") or "").strip(),
            }
    return preds


def join(rows: list[dict], ours: dict[str, dict], peer: dict[str, dict]) -> list[dict]:
    """One record per dev row: measurement, sloplan's and the peer's predictions side by side."""
    empty = {"ttft": None, "tpot": None, "error": "no prediction row", "data_version": ""}
    joined = []
    for r in rows:
        s, p = ours.get(r["id"], empty), peer.get(r["id"], empty)
        joined.append({
            "id": r["id"], "model_path": r["model_path"], "system": r["system"], "backend": r["backend"],
            "backend_version": r["backend_version"], "isl": r["isl"], "osl": r["osl"],
            "batch_size": r["batch_size"], "tp_size": r["tp_size"], "pp_size": r["pp_size"],
            "silicon_ttft_ms": to_ms(r["silicon_ttft_ms"]), "silicon_tpot_ms": to_ms(r["silicon_tpot_ms"]),
            "sloplan_ttft_ms": s["ttft"], "sloplan_tpot_ms": s["tpot"],
            "sloplan_data_version": s["data_version"], "sloplan_error": s["error"],
            "peer_ttft_ms": p["ttft"], "peer_tpot_ms": p["tpot"], "peer_error": p["error"],
        })
    return joined


# ----------------------------------------------------------------------------- metrics

def predicted(rec: dict, tool: str) -> bool:
    """A tool 'predicted' a row when it gave both TTFT and TPOT and the row has both measured."""
    need = ("silicon_ttft_ms", "silicon_tpot_ms", f"{tool}_ttft_ms", f"{tool}_tpot_ms")
    return all(rec[k] is not None for k in need)


@dataclass
class Errors:
    """Absolute percentage errors of one tool on one set of rows."""

    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, recs: list[dict], tool: str) -> "Errors":
        def ape(rec: dict, metric: str) -> float:
            meas = rec[f"silicon_{metric}_ms"]
            return abs(rec[f"{tool}_{metric}_ms"] - meas) / meas * 100.0

        return cls([ape(r, "ttft") for r in recs], [ape(r, "tpot") for r in recs])

    def summary(self, metric: str) -> tuple[float | None, float | None]:
        """(MAPE, median APE) in percent; None when there are no rows."""
        values = getattr(self, metric)
        if not values:
            return None, None
        return statistics.fmean(values), statistics.median(values)


def partition(recs: list[dict], by: str) -> dict[str, list[dict]]:
    """Group records by 'system backend' or by model, sorted for a stable printout."""
    groups: dict[str, list[dict]] = {}
    for r in recs:
        key = r["model_path"] if by == "model" else f"{r['system']} {r['backend']}"
        groups.setdefault(key, []).append(r)
    return dict(sorted(groups.items()))


# ----------------------------------------------------------------------------- report

def pct(part: int, whole: int) -> str:
    return fmt(100.0 * part / whole if whole else None, ".1f")


def mape_cells(errs: Errors, metric: str) -> list[str]:
    mape, med = errs.summary(metric)
    return [fmt(mape, ".1f"), fmt(med, ".1f")]


def head_to_head_row(name: str, recs: list[dict], with_sloplan: bool) -> tuple[list[str], list[str]]:
    """Figures on rows both tools predicted (the fair comparison); returns (cells, worse-metrics)."""
    both = [r for r in recs if predicted(r, "peer") and (not with_sloplan or predicted(r, "sloplan"))]
    ours = Errors.of(both, "sloplan") if with_sloplan else Errors()
    peer = Errors.of(both, "peer")
    worse = []
    if with_sloplan and len(both) >= MIN_ROWS_TO_FLAG:
        worse = [m for m in ("ttft", "tpot") if ours.summary(m)[0] > peer.summary(m)[0]]
    n_ours = sum(predicted(r, "sloplan") for r in recs)
    n_peer = sum(predicted(r, "peer") for r in recs)
    cells = [name, str(len(recs)), pct(n_ours, len(recs)) if with_sloplan else "-", pct(n_peer, len(recs)),
             str(len(both)), *mape_cells(ours, "ttft"), *mape_cells(peer, "ttft"),
             *mape_cells(ours, "tpot"), *mape_cells(peer, "tpot"),
             ("WORSE " + "+".join(worse)) if worse else ""]
    return cells, worse


def own_rows_row(name: str, recs: list[dict]) -> list[str]:
    """Each tool on every row it predicted itself (coverage differences show up here)."""
    cells = [name]
    for tool in ("sloplan", "peer"):
        mine = [r for r in recs if predicted(r, tool)]
        errs = Errors.of(mine, tool)
        cells += [str(len(mine)), *mape_cells(errs, "ttft"), *mape_cells(errs, "tpot")]
    return cells


def print_report(recs: list[dict], by: str, with_sloplan: bool, targets: dict[str, float] = TARGETS) -> None:
    """Two tables (head-to-head, own rows), overall first, then one line per partition."""
    groups = [("ALL", recs), *partition(recs, by).items()]
    h2h_header = ["partition", "n", "sl%pred", "peer%pred", "n_both",
                  "sl TTFT MAPE", "sl TTFT med", "peer TTFT MAPE", "peer TTFT med",
                  "sl TPOT MAPE", "sl TPOT med", "peer TPOT MAPE", "peer TPOT med", "flag"]
    h2h = [head_to_head_row(name, g, with_sloplan)[0] for name, g in groups]
    print(f"\nHead-to-head, MAPE / median abs % error on rows BOTH tools predicted (partition by {by}).")
    print(f"'WORSE' = sloplan's MAPE above the peer's on a partition with >= {MIN_ROWS_TO_FLAG} shared rows.")
    print(render_table(h2h_header, h2h))
    own_header = ["partition", "sl n", "sl TTFT MAPE", "sl TTFT med", "sl TPOT MAPE", "sl TPOT med",
                  "peer n", "peer TTFT MAPE", "peer TTFT med", "peer TPOT MAPE", "peer TPOT med"]
    print("\nEach tool on ALL rows it predicted itself.")
    print(render_table(own_header, [own_rows_row(name, g) for name, g in groups]))
    if with_sloplan:
        print_targets(recs, targets)


def print_targets(recs: list[dict], targets: dict[str, float] = TARGETS) -> None:
    """sloplan's overall figures (own predicted rows) beside the project's accuracy targets."""
    mine = [r for r in recs if predicted(r, "sloplan")]
    errs = Errors.of(mine, "sloplan")
    figures = {
        "tpot_mape": errs.summary("tpot")[0],
        "ttft_mape": errs.summary("ttft")[0],
        "predicted_pct": 100.0 * len(mine) / len(recs) if recs else None,
    }
    print("\nTargets (sloplan, all its predicted rows):")
    for key, target in targets.items():
        value = figures[key]
        ok = value is not None and (value >= target if key == "predicted_pct" else value <= target)
        sign = ">=" if key == "predicted_pct" else "<="
        print(f"  {key:14s} {fmt(value, '.1f'):>7s}%   target {sign} {target:.0f}%   {'met' if ok else 'MISSED'}")


def print_errors(recs: list[dict], tool: str, limit: int = 5) -> None:
    """The most common reasons a tool gave no prediction: the first thing to fix."""
    counts: dict[str, int] = {}
    for r in recs:
        if not predicted(r, tool):
            msg = (r[f"{tool}_error"] or "empty prediction")[:120]
            counts[msg] = counts.get(msg, 0) + 1
    if counts:
        print(f"\n{tool}: unpredicted rows by reason (top {limit}):")
        for msg, n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]:
            print(f"  {n:5d}  {msg}")


def dump_csv(recs: list[dict], path: Path) -> None:
    """Per-row joined table (dev rows only) for digging into the worst rows."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(recs[0].keys()))
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in recs)
    print(f"\nwrote {len(recs)} dev rows to {path}")


# ----------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-pred", type=Path, help="reuse this sloplan prediction CSV instead of running sloplan")
    ap.add_argument("--peer-only", action="store_true", help="skip sloplan entirely; print the peer's figures")
    ap.add_argument("--peer-pred", type=Path,
                    default=REPO_ROOT.parent / "shared" / "data" / "peer-predictions-dev.csv",
                    help="the peer's predictions (id, pred_ttft_ms, pred_tpot_ms, error)")
    ap.add_argument("--silicon", type=Path, help="override the silicon_sample.csv location")
    ap.add_argument("--by", choices=["system-backend", "model"], default="system-backend")
    ap.add_argument("--csv", type=Path, help="write the joined per-row table (dev rows only) here")
    ap.add_argument("--sloplan", help="path of the sloplan executable (default: beside this Python, then PATH)")
    ap.add_argument("--keep", type=Path, help="directory to keep the input/prediction CSVs in")
    ap.add_argument("--no-moe", action="store_true", help="skip the MoE/MLA section (dense figures only)")
    ap.add_argument("--moe-cv", type=int, default=0, metavar="K",
                    help="MoE section: also K-fold cross-validated figures (refit per fold, like calibrate.py --cv)")
    ap.add_argument("--moe-csv", type=Path, help="write the MoE section's joined per-row table (dev rows only) here")
    ap.add_argument("--no-disagg", action="store_true", help="skip the disaggregated section")
    ap.add_argument("--disagg-cv", type=int, default=0, metavar="K",
                    help="disaggregated section: also K-fold cross-validated figures (bench/calibrate_disagg.py)")
    ap.add_argument("--disagg-csv", type=Path,
                    help="write the disaggregated section's joined per-row table (dev rows only) here")
    return ap.parse_args(argv)


def sloplan_predictions(args: argparse.Namespace, columns: list[str], rows: list[dict],
                        name: str = "dense") -> Path | None:
    """Path of sloplan's prediction CSV for one section: given, or made now; None (with the reason) if it failed."""
    if args.peer_only:
        return None
    if args.from_pred:
        return args.from_pred
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="sloplan-acc-" if name == "dense" else f"sloplan-acc-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run_sloplan_estimate(find_sloplan(args.sloplan), columns, rows, workdir, name=name)
    except (RuntimeError, OSError) as exc:
        print(f"sloplan estimate failed: {exc}")
        return None


def section_records(args: argparse.Namespace, columns: list[str], rows: list[dict], name: str, title: str,
                    what: str, expected: int) -> tuple[list[dict], dict[str, dict], Path | None]:
    """A section's header (`title`, then `what` its rows are and how many), then its rows joined with
    sloplan's and the peer's predictions: (records, sloplan's predictions by id, sloplan's CSV or None)."""
    note = "" if len(rows) == expected else f"  (WARNING: expected {expected})"
    print(f"\n===== {title} section =====\n{what}: n = {len(rows)}{note}")
    ids = {r["id"] for r in rows}
    pred_path = sloplan_predictions(args, columns, rows, name=name)
    ours = load_predictions(pred_path, ids) if pred_path else {}
    return join(rows, ours, load_predictions(args.peer_pred, ids)), ours, pred_path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = args.silicon or silicon_csv_path()
    columns, rows, moe_rows = load_dev_agg(path)
    note = "" if len(rows) == EXPECTED_ROWS else f"  (WARNING: expected {EXPECTED_ROWS})"
    print(f"silicon: {path}\ndev-split dense agg rows: n = {len(rows)}{note}")
    ids = {r["id"] for r in rows}
    pred_path = sloplan_predictions(args, columns, rows)
    ours = load_predictions(pred_path, ids) if pred_path else {}
    peer = load_predictions(args.peer_pred, ids)
    recs = join(rows, ours, peer)
    print_report(recs, args.by, with_sloplan=pred_path is not None)
    for tool in (("sloplan", "peer") if pred_path else ("peer",)):
        print_errors(recs, tool)
    if args.csv:
        dump_csv(recs, args.csv)
    if not args.no_moe:
        from accuracy_moe import moe_section

        moe_section(args, columns, moe_rows)
    if not args.no_disagg:
        from accuracy_disagg import disagg_section

        disagg_section(args, columns, path)
    return 0 if (pred_path or args.peer_only) else 1


if __name__ == "__main__":
    sys.exit(main())
