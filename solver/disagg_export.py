"""The disaggregated model as a file (LP or MPS), for `--export` when the best plan is disaggregated.

What is written is level 1 of the disaggregated best plan (solver/disagg.py): the MILP of
solver/problems/disagg.py — integer prefill and decode worker counts per option, the rate balance,
the TTFT pair caps, the budgets and per-pool limits, one engine per pool unless mixed — maximizing
served tokens/s, on the exactly reduced instance (solver/disagg_reduction.py: the same optimum with
the dominated rows left out). Its optimum is the best plan's tokens/s; the tie-breaks are further
solves of the same model. HiGHS writes the file whatever backend solved, as for the replica model
(solver/export.py); its first comment lines say what the model is.
"""
from __future__ import annotations

from pathlib import Path

from .backends import backend_for
from .disagg_reduction import reduce_instance
from .disagg_tables import DisaggInstance
from .problems.disagg import build_disagg_problem


def export_disagg_model(inst: DisaggInstance, path: str | Path) -> tuple[int, int]:
    """Write the level-1 disaggregated MILP of `inst` (reduced) to `path`; its (rows, columns)."""
    sub, _, _ = reduce_instance(inst)
    formulation = build_disagg_problem(sub).formulation
    written = backend_for("highs")(formulation).export(path)
    mark = "* " if written.suffix.lower() == ".mps" else "\\ "
    lines = ["sloplan disaggregated model, level 1 of the best plan (maximize tokens/s = osl r)",
             f"options after the exact dominance reduction: {len(sub.prefill)} prefill of {len(inst.prefill)}, "
             f"{len(sub.decode)} decode of {len(inst.decode)}",
             "np(i), nd(j): workers of prefill option i / decode option j; r: requests/s served"]
    written.write_text("".join(f"{mark}{line}\n" for line in lines) + written.read_text())
    return formulation.num_rows, formulation.num_cols
