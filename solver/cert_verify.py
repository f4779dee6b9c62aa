"""Re-derive a replica certificate independently of cert_replica's row checks.

Every question ("feasible keeping groups K?", "feasible at this limit?") is answered by brute force
(solver/brute.py enumerates every replica vector) when the rows involved are few enough, else by one
backend solve of the certificate MILP without the dropped groups (`FormulationOracle`). Minimal
conflicts are then recomputed *by definition* (infeasible, and every one-smaller subset feasible) over
all subsets, and each bound by bisection over its column's values (`smallest_feasible`), checked to
be tight both ways: feasible at the bound, infeasible a hair below it.
"""
from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations

import numpy as np

from sloplan.core.enums import SloKind

from .brute import brute_best
from .cert_replica import CertInstance
from .certificate import FormulationOracle, smallest_feasible
from .groups import ConstraintGroup
from .slo import Slo

BRUTE_ROWS = 40  # above this many usable rows, questions go to the backend instead
_G = ConstraintGroup


class Verifier:
    """Feasibility questions about one instance, answered without its row checks; `how` records which
    methods answered (brute force, backend)."""

    def __init__(self, inst: CertInstance, backend: str = "highs") -> None:
        self.inst, self.backend, self.how = inst, backend, set()

    def feasible(self, kept: frozenset, inst: CertInstance | None = None) -> bool:
        inst = inst or self.inst
        rows = np.flatnonzero(inst.allowed([g for g in kept if g is not _G.GPU_BUDGET]))
        budget = inst.total_gpus if _G.GPU_BUDGET in kept else int(max(inst.table.gpus.max(), inst.total_gpus))
        if 0 < len(rows) <= BRUTE_ROWS:
            try:
                self.how.add("brute force")
                return brute_best(inst.table.take(rows), budget, Slo()) is not None
            except ValueError:  # too many vectors to enumerate
                self.how.discard("brute force")
        if len(rows) == 0:
            return False
        self.how.add(f"{self.backend} solves")
        return FormulationOracle(inst.formulation(compact=False), frozenset(inst.groups), self.backend)(
            frozenset(kept) & frozenset(inst.groups))

    def conflicts(self) -> set[frozenset]:
        """Minimal conflicting sets by definition, over every subset of the groups."""
        groups = self.inst.groups
        infeasible = {s for k in range(len(groups) + 1) for s in map(frozenset, combinations(groups, k))
                      if not self.feasible(s)}
        return {s for s in infeasible if all((s - {g}) not in infeasible for g in s)}

    def slo_bound(self, kind: SloKind) -> float | None:
        """The least limit of `kind` at which every group is feasible (the others as requested)."""
        col = getattr(self.inst.table, kind.field)
        return smallest_feasible(col[self.inst.in_domain], lambda v: self.feasible_at(kind, v))

    def feasible_at(self, kind: SloKind, value: float) -> bool:
        slo = Slo(**{**{k.field: self.inst.slo.limit(k) for k in SloKind}, kind.field: value})
        inst = replace(self.inst, slo=slo)
        return self.feasible(frozenset(inst.groups), inst)

    def gpu_bound(self) -> int | None:
        sizes = np.unique(self.inst.table.gpus[self.inst.in_domain])
        found = smallest_feasible(sizes, lambda g: self.feasible_budget(int(g)))
        return None if found is None else int(found)

    def feasible_budget(self, budget: int) -> bool:
        inst = replace(self.inst, total_gpus=budget)
        return self.feasible(frozenset(inst.groups), inst)


def verify(inst: CertInstance, feasible: bool, conflicts: set[frozenset], bounds: dict,
           backend: str = "highs") -> tuple[str, list[str]]:
    """Compare a certificate's claims (feasibility, conflicts, bounds: group -> value in seconds or
    GPUs) with their re-derivation; the methods used, and one line per disagreement."""
    v, problems = Verifier(inst, backend), []
    again = v.feasible(frozenset(inst.groups))
    if again != feasible:
        problems.append(f"feasible: certificate says {feasible}, re-derived {again}")
    found = v.conflicts() if not again else set()
    if found != set(conflicts):
        problems.append(f"conflicts: certificate {_names(conflicts)}, re-derived {_names(found)}")
    for kind in SloKind:
        if inst.slo.limit(kind) is not None:
            problems += _check_bound(v, kind, bounds.get(kind.group))
    gpus = v.gpu_bound()
    if gpus != bounds.get(_G.GPU_BUDGET):
        problems.append(f"gpu_budget bound: certificate {bounds.get(_G.GPU_BUDGET)}, re-derived {gpus}")
    return " and ".join(sorted(v.how)) or "row checks", problems


def _check_bound(v: Verifier, kind: SloKind, claimed: float | None) -> list[str]:
    again = v.slo_bound(kind)
    if (again is None) != (claimed is None) or (again is not None and not math.isclose(again, claimed, rel_tol=1e-12)):
        return [f"{kind.group.value} bound: certificate {claimed}, re-derived {again}"]
    if again is not None and (not v.feasible_at(kind, again * (1 + 1e-9))
                              or v.feasible_at(kind, math.nextafter(again, -math.inf))):
        return [f"{kind.group.value} bound {again} is not tight"]
    return []


def _names(sets) -> str:
    return "; ".join(sorted("{" + ", ".join(sorted(g.value for g in s)) + "}" for s in sets)) or "none"
