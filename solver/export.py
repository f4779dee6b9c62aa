"""The best-plan model as a file (LP or MPS) for users who take it to their own solver.

What is written is level 1 of the best plan (best.py): the replica MIP of the request — one integer
count per kept option (the exact reduction of reduction.py), the GPU budget, "at least one replica",
and one named row per option that breaks an SLO (``slo_ttft(17)``: the option of table row 17 may not
be used), maximizing served tokens/s. Its optimum is the best plan's tokens/s; the tie-breaks are
further solves on the same model with other objectives. Names are the formulation's, with brackets
written as parentheses (HiGHS's LP writer rejects brackets), and HiGHS writes the file, whatever
backend solves.

With a tolerance it writes the compact model instead (problems/compact.py: two integer columns per
fitted segment of each engine's tokens/s curve, SLO breakers cut before fitting): the same optimum at
tolerance 0, and a smaller file whose tokens/s are within the measured fitting error above it.
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
    `tolerance`, the compact model fitted at it instead (problems/compact.py)."""
    if tolerance is None:
        formulation = build_replica_problem(table, total_gpus, slo).formulation
    else:
        from .problems.compact import build_compact_problem

        formulation = build_compact_problem(table, total_gpus, slo, tolerance).formulation
    backend_for("highs")(formulation).export(path)
    return formulation.num_rows, formulation.num_cols
