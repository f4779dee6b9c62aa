"""The registry of solver backends: name -> where its class lives, what it needs, how to tell it is installed.

Why a table: the CLI lists accepted `--solver` values, the README's backend table names what each
needs, and the same-answer test runs every installed one — all from these rows, none importing a
solver library until a backend is asked for (`installed` probes: cheap `find_spec`/`PATH` checks,
then the library's own availability call, which may import it). The default, ``highs``, is always
installed: highspy is a hard dependency.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class BackendEntry:
    """One backend: `module` (in this package) holds `factory`, a class or, with `arg`, a function of
    `arg` returning the class; `probe` (a function of `arg`, or of nothing) says whether it can run."""

    module: str
    factory: str
    needs: str
    probe: str | None = None
    arg: str | None = None

    def load(self):
        obj = getattr(import_module(f"{__package__}.{self.module}"), self.factory)
        return obj if self.arg is None else obj(self.arg)

    def installed(self) -> bool:
        if self.probe is None:
            return True
        fn = getattr(import_module(f"{__package__}.{self.module}"), self.probe)
        return bool(fn() if self.arg is None else fn(self.arg))


def _pyomo(solver: str, needs: str) -> BackendEntry:
    return BackendEntry("pyomo_backend", "backend_class", needs, "pyomo_available", solver)


def _ortools(solver: str) -> BackendEntry:
    return BackendEntry("ortools_mip", "backend_class", "ortools (the wheel links SCIP and CBC)",
                        "ortools_mip_available", solver)


REGISTRY: dict[str, BackendEntry] = {
    "highs": BackendEntry("highs", "HighsBackend", "nothing more (highspy is a dependency)"),
    "pyomo:highs": _pyomo("highs", "pyomo (HiGHS through appsi and highspy)"),
    "pyomo:cbc": _pyomo("cbc", "pyomo and the `cbc` program on PATH"),
    "pyomo:glpk": _pyomo("glpk", "pyomo and the `glpsol` program on PATH"),
    "pyomo:scip": _pyomo("scip", "pyomo and the `scip` program on PATH"),
    "pyomo:gurobi": _pyomo("gurobi", "pyomo and gurobipy with a licence"),
    "pyomo:cplex": _pyomo("cplex", "pyomo and the cplex Python package with a licence"),
    "ortools:scip": _ortools("scip"),
    "ortools:cbc": _ortools("cbc"),
    "ortools:cp-sat": BackendEntry("ortools_cpsat", "CpSatBackend",
                                   "ortools; integer models only (coefficients integral at 10^6 scale)",
                                   "cpsat_available"),
}
