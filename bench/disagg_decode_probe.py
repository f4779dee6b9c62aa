"""One disaggregated row's decode step, op by op, as the decode worker prices it and as the aggregated engine's
decode-only step at the same width prices it (issue 13, T6). Diagnostic only; writes nothing.

    .venv/bin/python bench/disagg_decode_probe.py dsr1_b200_trtllm_fp4_disagg_1024x1024_c10_cfg320

Prints the calibration entry the decode worker reads, the raw kernel time per op (the per-op tables at the
worker's batch), the priced step (kernel x kernel_scale + step and per-request overheads) beside the row's
measured TPOT, and every op whose aggregated decode-only price differs (none: both are one step model).
The row must be a development-split row (the split filter runs first).
"""
from __future__ import annotations

import argparse
import collections
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import is_dev_row  # noqa: E402
from accuracy import silicon_csv_path  # noqa: E402

from sloplan.core.enums import Role  # noqa: E402
from sloplan.estimate_rows_disagg import _nearest, parse_disagg  # noqa: E402
from sloplan.estimation import context_for  # noqa: E402
from sloplan.model.aggregated import static_pending, step_grid  # noqa: E402
from sloplan.model.disagg_workers import decode_calibration  # noqa: E402
from sloplan.model.lookups import lookup_all  # noqa: E402


def by_op(db, group, col: int) -> dict[str, float]:
    """Seconds per op (summed over its terms) of one column of an op group's grid."""
    out: dict[str, float] = collections.defaultdict(float)
    lookups = lookup_all(db, group.queries)
    for term, lk in zip(group.terms, lookups):
        out[term.op.name] += float(np.asarray(lk.latency_s)[col]) * term.count
    credit = float(np.asarray(group.overlap_credit(lookups))[col]) if group.overlap is not None else 0.0
    if credit:  # the shared expert beside the routed path (model/ops.py OpGroup.overlap_credit)
        out["SHARED_OVERLAP_CREDIT"] = -credit
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("row_id")
    rid = ap.parse_args().row_id
    if not is_dev_row(rid):
        raise SystemExit("row_id: not a development-split row")
    with Path(silicon_csv_path()).open(newline="") as f:
        row = next((r for r in csv.DictReader(f) if is_dev_row(r["id"]) and r["id"] == rid), None)
    if row is None:
        raise SystemExit(f"row_id: {rid} is not in the sample")
    args, note = parse_disagg(row)
    ctx, slot = context_for(_nearest(args).decode, dense_ignores_moe=True)
    e, cal = slot.engine, ctx.calibration
    b = int(row["decode_batch_size"]) * e.dp
    per_rank = -(-b // e.dp)
    lin, _, gen = static_pending(ctx.arch, e, ctx.system, ctx.fw, ctx.workload, np.array([b]),
                                 decode_calibration(cal, e.dp), Role.DECODE).groups
    worker = {**by_op(ctx.db, lin, 1), **{f"gen:{k}": v for k, v in by_op(ctx.db, gen, 0).items()}}
    glin, ggen, _ = step_grid(ctx.arch, e, ctx.system, ctx.fw, ctx.workload, per_rank + 1).groups
    agg = {**by_op(ctx.db, glin, per_rank), **{f"gen:{k}": v for k, v in by_op(ctx.db, ggen, per_rank).items()}}
    raw = sum(worker.values())
    step = raw * cal.kernel_scale + cal.step_overhead_s * e.pp + cal.request_overhead_s * per_rank
    print(f"{rid}: {e.label}, decode batch {b} ({note or 'no layout note'})")
    print(f"calibration: kernel_scale {cal.kernel_scale:.4g}, step_overhead {cal.step_overhead_s * 1e3:.3f} ms, "
          f"request_overhead {cal.request_overhead_s * 1e6:.1f} us, frontend {cal.frontend_s_per_token:.3g} s/token")
    for op, s in sorted(worker.items(), key=lambda kv: -kv[1]):
        print(f"  {op:28s} {s * 1e3:8.4f} ms")
    print(f"raw kernel {raw * 1e3:.3f} ms -> priced step {step * 1e3:.3f} ms; measured TPOT "
          f"{float(row['silicon_tpot_ms']):.3f} ms")
    diff = {op for op in set(worker) | set(agg) if not np.isclose(worker.get(op, 0.0), agg.get(op, 0.0))}
    print("aggregated decode-only step at the same width: " + (
        "identical op by op" if not diff else ", ".join(f"{op} {agg.get(op, 0) * 1e3:.4f} ms" for op in sorted(diff))))


if __name__ == "__main__":
    main()
