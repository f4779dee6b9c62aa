"""The request fields that choose and limit the solver (`solver`, `time_limit_s`), checked at the edge.

Why here and not in fields.py: the check asks the solver's backend registry what is installed, which
may import a solver library to probe it; it runs only for a non-default name, so the default path and
`--help` import nothing (the registry is imported inside the check).
"""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field

SOLVER_ACCEPTS = "an installed solver backend (highs, the default; the others: README, Solver backends)"

Seconds = Annotated[Optional[float], Field(gt=0, allow_inf_nan=False,
                                           description="a finite number of seconds > 0, or none for no limit")]


def solver_installed(name: str) -> str:
    """`name` when it is a registered backend installed here, else a ValueError listing the installed ones."""
    if name == "highs":
        return name
    from sloplan.solver.backends import backend_names, installed_backends

    here = installed_backends()
    if name in here:
        return name
    what = "not installed here" if name in backend_names() else "unknown backend"
    raise ValueError(f"{what}; installed: {', '.join(here)}")


SOLVER_HELP = ("solver backend: highs, pyomo:highs, pyomo:cbc, pyomo:glpk, pyomo:scip, pyomo:gurobi, pyomo:cplex, "
               "ortools:scip, ortools:cbc, ortools:cp-sat (the installed ones; an error lists them); naming one "
               "also solves the disaggregated mode as a MILP on it instead of the exact pair enumeration "
               "[default: highs]")
TIME_LIMIT_HELP = ("seconds the solver may spend on the best plan and the front together; a plan it stops on is "
                   "marked with its status and gap, never as optimal [default: none, proved optimal]")
EXPORT_HELP = ("also write the best-plan model as LP or MPS, by the extension (checked before solving): the "
               "replica MIP of the request, or the disaggregated MILP when the best plan is disaggregated "
               "[default: none]")
EXPORT_TOLERANCE_HELP = ("with --export: write the compact model instead, each engine's tokens/s and limited "
                         "latencies piecewise-linear in concurrency within this relative error (0 = exact; "
                         "e.g. 0.01), the SLOs as its rows; the file's first comments state the measured "
                         "errors [default: the enumerated model]")
