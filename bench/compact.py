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

`--fleet E` adds a synthetic fleet (smooth curves drawn here, no estimator involved) of E
engines × 256 concurrencies each, with concave tokens/s and rising TTFT/TPOT, on 512 GPUs under a TTFT
and a TPOT limit: the case the compact model is for (thousands of engines), and on smooth curves it
compresses far more than on the estimated ones, whose kernel-table steps need more breakpoints.
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


def _fleet_table(engines: int, seed: int = 0):
    """Smooth synthetic curves: tokens/s = peak c / (c + bend), TPOT = c / tokens/s, TTFT linear in c."""
    import dataclasses

    import numpy as np

    from sloplan.solver.slo import Slo
    from sloplan.solver.synthetic import table_from_columns

    rng = np.random.default_rng(seed)
    conc = np.tile(np.arange(1, 257), engines)
    eng = np.repeat(np.arange(engines), 256)
    per_engine = rng.choice([1, 2, 4, 8], size=engines)
    gpus, peak = per_engine[eng], (rng.uniform(800, 3000, size=engines) * per_engine)[eng]
    bend = rng.uniform(4, 64, size=engines)[eng]
    tokens = peak * conc / (conc + bend)
    ttft = (0.05 + 0.004 * conc * rng.uniform(0.5, 2.0, size=engines)[eng]) / np.sqrt(gpus)
    table = table_from_columns(gpus, tokens, conc / tokens, ttft)
    table = dataclasses.replace(table, engine_index=eng, concurrency=conc.astype(np.int64))
    return table, 512, Slo(ttft_s=0.6, tpot_s=0.05)


def _timed_solve(formulation):
    from sloplan.solver.backends import backend_for

    t0 = time.perf_counter()
    result = backend_for("highs")(formulation).solve()
    return result, time.perf_counter() - t0


_ERRORS = (("tokens_per_s", "tok/s"), ("ttft_s", "ttft"), ("tpot_s", "tpot"), ("request_latency_s", "req lat"))


def _errors(errors: dict[str, float]) -> str:
    return " ".join(f"{label} {errors[q]:.2%}" for q, label in _ERRORS if q in errors)


def _rows(path: Path | int, tolerances: list[float]) -> list[list[str]]:
    """The table's lines for an instance file, or for a synthetic fleet of `path` engines."""
    from sloplan.solver import best_deployment
    from sloplan.solver.problems.compact import build_compact_problem
    from sloplan.solver.problems.replica import build_replica_problem

    table, n, slo = _table(path) if isinstance(path, Path) else _fleet_table(path)
    name = path.stem if isinstance(path, Path) else f"synthetic fleet, {path} engines"
    best = best_deployment(table, n, slo)
    out = []
    for label, reduce in (("enumerated, all options", False), ("enumerated, reduced", True)):
        f = build_replica_problem(table, n, slo, reduce=reduce).formulation
        _, dt = _timed_solve(f)
        out.append([name, label, str(f.num_rows), str(f.num_cols), "-", "0", "1.000" if best else "-",
                    "1.000" if best else "-", f"{dt * 1e3:.0f}"])
    for tol in tolerances:
        problem = build_compact_problem(table, n, slo, tol)
        result, dt = _timed_solve(problem.formulation)
        plan = problem.deployment(result.values) if result.optimal else None
        objective = f"{result.objective / best.tokens_per_s:.4f}" if plan and best else "-"
        ratio = f"{plan.tokens_per_s / best.tokens_per_s:.4f}" if plan and best else "-"
        f = problem.formulation
        out.append([name, f"compact, tolerance {tol:g}", str(f.num_rows), str(f.num_cols),
                    str(problem.breakpoints), _errors(problem.errors), objective, ratio, f"{dt * 1e3:.0f}"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.01, 0.05])
    ap.add_argument("--fleet", type=int, default=0, metavar="E", help="also a synthetic fleet of E engines")
    args = ap.parse_args()
    inst = REPO_ROOT / "instances"
    paths = sorted(inst.glob("*.yaml")) + sorted((inst / "regression").glob("*.yaml"))
    targets = [p for p in paths if p.name != "expected.yaml"] + ([args.fleet] if args.fleet > 0 else [])
    rows = [r for p in targets for r in _rows(p, args.tolerance)]
    print(render_table(["instance", "model", "rows", "cols", "breakpoints", "fit error (max, per quantity)",
                        "objective/exact", "plan/exact", "solve ms"], rows))


if __name__ == "__main__":
    main()
