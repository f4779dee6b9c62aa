"""Model sizes of the enumerated and the compact best-plan formulations on the bundled instances.

Run from the repository root:

    .venv/bin/python bench/compact.py                       # tolerances 0, 1 %, 5 %
    .venv/bin/python bench/compact.py --tolerance 0 0.01

For each instance (instances/*.yaml and instances/regression/*.yaml) it builds, on the same option
table in the same run:
* enumerated, all options: the replica MIP with one column per fitting option and one named row per
  SLO breaker (the model the compact one compresses: both carry the SLOs as rows);
* enumerated, reduced: after the exact dominance reduction (what `--export` writes without a
  tolerance; it is small because the reduction knows the SLO limits);
* compact at each tolerance (solver/problems/compact.py): rows, columns, breakpoints, the measured
  fitting error of each fitted quantity (tokens/s, and each latency the request limits), and the
  optimum gap: the compact objective and the exact tokens/s of its plan (re-evaluated on the table,
  meeting the SLOs) over the exact optimum. 1.000 = the same plan quality.
Solve times are HiGHS wall time for level 1 (max tokens/s) of each model, measured here once.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, render_table  # noqa: E402


def _table(path: Path):
    from sloplan.api import resolve
    from sloplan.model.option_table import MODES
    from sloplan.model.options import option_table
    from sloplan.request import load_request

    req = load_request(path)
    ctx, slots, _ = resolve(req)
    modes = [m for m in req.modes if m in MODES]  # the compact model is of the replica (static/agg) table
    return option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, modes, req.max_batch_size,
                        ctx.calibration), req.total_gpus, req.slo


def _timed_solve(formulation):
    from sloplan.solver.backends import backend_for

    t0 = time.perf_counter()
    result = backend_for("highs")(formulation).solve()
    return result, time.perf_counter() - t0


_ERRORS = (("tokens_per_s", "tok/s"), ("ttft_s", "ttft"), ("tpot_s", "tpot"), ("request_latency_s", "req lat"))


def _errors(errors: dict[str, float]) -> str:
    return " ".join(f"{label} {errors[q]:.2%}" for q, label in _ERRORS if q in errors)


def _rows(path: Path, tolerances: list[float]) -> list[list[str]]:
    from sloplan.solver import best_deployment
    from sloplan.solver.problems.compact import build_compact_problem
    from sloplan.solver.problems.replica import build_replica_problem

    table, n, slo = _table(path)
    best = best_deployment(table, n, slo)
    out = []
    for label, reduce in (("enumerated, all options", False), ("enumerated, reduced", True)):
        f = build_replica_problem(table, n, slo, reduce=reduce).formulation
        _, dt = _timed_solve(f)
        out.append([path.stem, label, str(f.num_rows), str(f.num_cols), "-", "0", "1.000" if best else "-",
                    "1.000" if best else "-", f"{dt * 1e3:.0f}"])
    for tol in tolerances:
        problem = build_compact_problem(table, n, slo, tol)
        result, dt = _timed_solve(problem.formulation)
        plan = problem.deployment(result.values) if result.optimal else None
        objective = f"{result.objective / best.tokens_per_s:.4f}" if plan and best else "-"
        ratio = f"{plan.tokens_per_s / best.tokens_per_s:.4f}" if plan and best else "-"
        f = problem.formulation
        out.append([path.stem, f"compact, tolerance {tol:g}", str(f.num_rows), str(f.num_cols),
                    str(problem.breakpoints), _errors(problem.errors), objective, ratio, f"{dt * 1e3:.0f}"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.01, 0.05])
    args = ap.parse_args()
    inst = REPO_ROOT / "instances"
    paths = sorted(inst.glob("*.yaml")) + sorted((inst / "regression").glob("*.yaml"))
    rows = [r for p in paths if p.name != "expected.yaml" for r in _rows(p, args.tolerance)]
    print(render_table(["instance", "model", "rows", "cols", "breakpoints", "fit error (max, per quantity)",
                        "objective/exact", "plan/exact", "solve ms"], rows))


if __name__ == "__main__":
    main()
