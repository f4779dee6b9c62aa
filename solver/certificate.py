"""Certificates of infeasibility over named constraint groups, for any problem that has them.

A certificate names the *minimal conflicting sets* of constraint groups: sets S such that the model
keeping only the groups of S (plus the structural rows that are never relaxed) is infeasible, while
dropping any one group of S makes it feasible. Everything here talks to a feasibility *oracle*
``feasible(kept) -> bool`` over frozensets of `ConstraintGroup`, so the same search serves the replica
problem (solver/cert_replica.py), the disaggregated pairs (solver/cert_disagg.py) and the union of the
request's modes (solver/cert_union.py); any `Formulation` gets an oracle from `FormulationOracle`,
one backend solve per question.

Why enumeration works: removing constraints only enlarges the feasible set, so feasibility is
monotone in the kept groups. Walking the subsets by increasing size and skipping supersets of the
conflicts already found, every subset still tested has only feasible proper subsets (an infeasible
one would contain a smaller conflict, found earlier), so each infeasible one is minimal by
definition. A formulation has few groups (memory, TTFT, TPOT, request latency, GPU budget,
quantization, per-pool limits), so all 2^k subsets are at most a few hundred checks, and most are
skipped. `deletion_filter` finds one conflict in k checks for models with more groups.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .formulation import Formulation, Sense
from .groups import ConstraintGroup

Oracle = Callable[[frozenset[ConstraintGroup]], bool]
MAX_ENUMERATED_GROUPS = 12  # 4096 subsets: beyond this only deletion filtering is offered


def all_minimal_conflicts(groups: Sequence[ConstraintGroup], feasible: Oracle) -> tuple[frozenset, ...]:
    """Every minimal conflicting set of `groups` (see the module docstring), smallest first.
    Empty when keeping all of them is feasible."""
    if len(groups) > MAX_ENUMERATED_GROUPS:
        raise ValueError(f"{len(groups)} groups: enumerate at most {MAX_ENUMERATED_GROUPS}, "
                         "use deletion_filter for one conflict")
    if feasible(frozenset(groups)):
        return ()
    found: list[frozenset] = []
    for size in range(len(groups) + 1):
        for subset in map(frozenset, combinations(groups, size)):
            if not any(c <= subset for c in found) and not feasible(subset):
                found.append(subset)
    return tuple(found)


def deletion_filter(groups: Sequence[ConstraintGroup], feasible: Oracle) -> frozenset | None:
    """One minimal conflicting set in len(groups) checks (Chinneck's deletion filter over groups):
    drop each group in turn and keep it out when the rest stays infeasible. None when feasible."""
    kept = frozenset(groups)
    if feasible(kept):
        return None
    for g in groups:
        if not feasible(kept - {g}):
            kept = kept - {g}
    return kept


def smallest_feasible(candidates: Iterable[float], feasible_at: Callable[[float], bool]) -> float | None:
    """The smallest candidate limit at which the model is feasible, by bisection over the sorted
    candidates (feasibility is monotone in a limit that only ever admits more). The candidates are
    the values the limit is compared against (an SLO column), so the answer is tight: the next
    smaller candidate, and so every smaller limit, is infeasible. None when even the largest is not."""
    values = np.unique(np.asarray(list(candidates), dtype=float))
    values = values[np.isfinite(values)]
    if len(values) == 0 or not feasible_at(float(values[-1])):
        return None
    lo, hi = -1, len(values) - 1  # feasible_at(values[hi]) holds; values[lo] unknown or infeasible
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if feasible_at(float(values[mid])):
            hi = mid
        else:
            lo = mid
    return float(values[hi])


@dataclass(frozen=True)
class Check:
    """One oracle question and the backend's answer, for the certificate's --json evidence."""

    kept: tuple[str, ...]
    status: str
    gap: float | None


@dataclass(eq=False)
class FormulationOracle:
    """Feasibility of `formulation` keeping only some of its `relaxable` groups: one backend solve of
    the model without the others, with a zero objective (any feasible point answers). Groups not in
    `relaxable` are structural and always kept. Answers are cached; `checks` records each solve."""

    formulation: Formulation
    relaxable: frozenset[ConstraintGroup]
    backend: str = "highs"
    checks: list[Check] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    def __call__(self, kept: frozenset[ConstraintGroup]) -> bool:
        kept = frozenset(kept)
        if kept not in self._cache:
            self._cache[kept] = self._solve(kept)
        return self._cache[kept]

    def _solve(self, kept: frozenset[ConstraintGroup]) -> bool:
        from .backends import backend_for

        f = self.formulation.without_groups(self.relaxable - kept)
        model = backend_for(self.backend)(Formulation(f.variables, f.constraints, {}, Sense.MINIMIZE))
        result = model.solve()
        feasible = result.proved_optimal()  # SolverError on a limit: never a guessed answer
        self.checks.append(Check(tuple(sorted(g.value for g in kept)), result.status.value,
                                 None if result.gap == float("inf") else float(result.gap)))
        return feasible
