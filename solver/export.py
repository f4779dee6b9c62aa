"""The best-plan model as a file (LP or MPS) for users who take it to their own solver.

What is written is level 1 of the best plan (best.py): the replica MIP of the request — one integer
count per kept option (the exact reduction of reduction.py), the GPU budget, "at least one replica",
and one named row per option that breaks an SLO (``slo_ttft(17)``: the option of table row 17 may not
be used), maximizing served tokens/s. Its optimum is the best plan's tokens/s; the tie-breaks are
further solves on the same model with other objectives. Names are the formulation's, with brackets
written as parentheses (HiGHS's LP writer rejects brackets), and HiGHS writes the file, whatever
backend solves.

With a tolerance it writes the compact model instead (problems/compact.py: two integer columns per
fitted segment of each engine's curve, tokens/s and the limited latencies piecewise-linear in
concurrency, the SLOs as the model's own per-segment rows): the same optimum at tolerance 0, and a
smaller file above it, within the measured fitting errors, which its first comment lines state (LP
backslash and MPS star comments, which solvers skip) with what the model guarantees.
"""
from __future__ import annotations

from pathlib import Path

from sloplan.model.option_table import OptionTable

from .backends import backend_for
from .problems.replica import build_replica_problem
from .slo import Slo


def export_best_model(table: OptionTable, total_gpus: int, slo: Slo, path: str | Path,
                      tolerance: float | None = None) -> tuple[int, int]:
    """Write the level-1 best-plan MIP to `path` (``.lp`` or ``.mps``); its (rows, columns). With a
    `tolerance`, the compact model fitted at it instead (problems/compact.py), headed by its errors."""
    if tolerance is None:
        formulation = build_replica_problem(table, total_gpus, slo).formulation
        backend_for("highs")(formulation).export(path)
        return formulation.num_rows, formulation.num_cols
    from .problems.compact import build_compact_problem

    problem = build_compact_problem(table, total_gpus, slo, tolerance)
    written = backend_for("highs")(problem.formulation).export(path)
    mark = "* " if written.suffix.lower() == ".mps" else "\\ "
    header = "".join(f"{mark}{line}\n" for line in compact_header(problem, tolerance))
    written.write_text(header + written.read_text())
    return problem.formulation.num_rows, problem.formulation.num_cols


def compact_header(problem, tolerance: float) -> list[str]:
    """What a compact file says about itself: the fit, its measured errors, and the guarantee."""
    errors = ", ".join(f"{q} {e:.4%}" for q, e in problem.errors.items())
    return [f"sloplan compact model, tolerance {tolerance:g}: {problem.breakpoints} breakpoints, "
            f"{len(problem.segments)} segments",
            "per segment: n = replicas, c = their summed concurrency",
            "fit error, max relative over every integer concurrency (0 at the breakpoints):",
            f"  {errors}",
            "SLO rows admit a concurrency only where fitted and table latency meet the limit:",
            "every plan of this model meets the SLOs on the table; the objective is its tokens/s",
            "within the tokens_per_s error"]
