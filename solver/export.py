"""The best-plan model as a file (LP or MPS) for users who take it to their own solver.

What is written is level 1 of the best plan (best.py): the replica MIP of the request — one integer
count per kept option (the exact reduction of reduction.py), the GPU budget, "at least one replica",
and one named row per option that breaks an SLO (``slo_ttft(17)``: the option of table row 17 may not
be used), maximizing served tokens/s. Its optimum is the best plan's tokens/s; the tie-breaks are
further solves on the same model with other objectives. Names are the formulation's, with brackets
written as parentheses (HiGHS's LP writer rejects brackets), and HiGHS writes the file, whatever
backend solves.
"""
from __future__ import annotations

from pathlib import Path

from sloplan.model.option_table import OptionTable

from .backends import backend_for
from .problems.replica import build_replica_problem
from .slo import Slo


def export_best_model(table: OptionTable, total_gpus: int, slo: Slo, path: str | Path) -> tuple[int, int]:
    """Write the level-1 best-plan MIP to `path` (``.lp`` or ``.mps``); its (rows, columns)."""
    problem = build_replica_problem(table, total_gpus, slo)
    backend_for("highs")(problem.formulation).export(path)
    return problem.formulation.num_rows, problem.formulation.num_cols
