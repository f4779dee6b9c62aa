"""Re-derive a certificate over several modes without its row and pair checks.

The replica side's questions go to solver/cert_verify.py (brute force over replica vectors, or one
backend solve). The disaggregated side builds, for each question, the instance that keeps exactly the
groups asked (`kept_instance`: rows of excluded formats dropped, the decode memory row lifted when the
memory group is not kept, only the kept SLOs, the budget and per-pool limits only when kept) and asks
brute force (solver/brute_disagg.py: every pair of worker-count vectors) where that is small enough,
else the exact pair enumeration of the solver (solver/disagg_pairs.py; the MILP with mixed pools) —
neither of which uses the single-pair argument the certificate rests on. Conflicts are recomputed by
definition over every subset; each bound is checked tight both ways: feasible at it (and a hair
above), infeasible at the next float below (one GPU fewer for the budget).
"""
from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations

import numpy as np

from sloplan.core.enums import SloKind

from .cert_disagg import DisaggCert
from .cert_union import UnionCert, with_limit
from .cert_verify import Verifier
from .disagg_tables import DisaggInstance, take_rows
from .groups import ConstraintGroup
from .slo import Slo

BRUTE_ROWS = 12  # prefill + decode rows at most for brute force; beyond, the pair enumeration answers
_G = ConstraintGroup


def kept_instance(cert: DisaggCert, kept, slo: Slo, total_gpus: int, limits: tuple) -> DisaggInstance | None:
    """The disaggregated instance keeping exactly the groups `kept` (module docstring), or None without rows."""
    inst, kept = cert.instance, frozenset(kept)
    keep = []
    for role, table in ((0, inst.prefill), (1, inst.decode)):
        ok = np.ones(len(table), bool)
        for g, rows in cert.excluded.items():
            if g in kept:
                ok &= ~np.asarray(rows[role], bool)
        keep.append(np.flatnonzero(ok))
    if not len(keep[0]) or not len(keep[1]):
        return None
    prefill, decode = take_rows(inst.prefill, keep[0]), take_rows(inst.decode, keep[1])
    if _G.MEMORY not in kept:
        decode = replace(decode, kv_capacity=np.maximum(decode.kv_capacity, decode.concurrency))
    held = Slo(**{k.field: slo.limit(k) if k.group in kept else None for k in SloKind})
    big = int(prefill.gpus.max() + decode.gpus.max())
    pools = limits if _G.POOL_GPUS in kept else (None, None)
    return replace(inst, prefill=prefill, decode=decode, slo=held,
                   total_gpus=total_gpus if _G.GPU_BUDGET in kept else max(big, total_gpus),
                   max_prefill_gpus=pools[0], max_decode_gpus=pools[1])


class UnionVerifier:
    """Feasibility questions about a UnionCert, answered without its checks; `how` records the methods."""

    def __init__(self, union: UnionCert, backend: str = "highs") -> None:
        self.union, self.backend, self.how = union, backend, set()
        self.replica = Verifier(union.replica, backend) if union.replica is not None else None

    def feasible(self, kept, slo: Slo | None = None, total_gpus: int | None = None, limits=None) -> bool:
        u = self.union
        slo = u.slo if slo is None else slo
        total = u.total_gpus if total_gpus is None else total_gpus
        if self.replica is not None and u.replica.in_domain.any():
            inst = replace(u.replica, slo=slo, total_gpus=total)
            if self.replica.feasible(frozenset(kept), inst):
                self.how |= self.replica.how
                return True
            self.how |= self.replica.how
        d = u.disagg
        if d is None or not d.in_domain:
            return False
        limits = (d.instance.max_prefill_gpus, d.instance.max_decode_gpus) if limits is None else limits
        return self._disagg(kept_instance(d, kept, slo, total, limits))

    def _disagg(self, inst: DisaggInstance | None) -> bool:
        if inst is None:
            return False
        if len(inst.prefill) + len(inst.decode) <= BRUTE_ROWS:
            from .brute_disagg import brute_disagg_best

            try:
                found = brute_disagg_best(inst) is not None
                self.how.add("brute force (disagg)")
                return found
            except ValueError:  # too many plans to enumerate
                pass
        from .disagg import disagg_best

        self.how.add("pair enumeration (disagg)" if not inst.mixed_pools else f"{self.backend} MILP (disagg)")
        return disagg_best(inst, backend=self.backend) is not None

    def conflicts(self) -> set[frozenset]:
        groups = self.union.groups
        infeasible = {s for k in range(len(groups) + 1) for s in map(frozenset, combinations(groups, k))
                      if not self.feasible(s)}
        return {s for s in infeasible if all((s - {g}) not in infeasible for g in s)}

    def check_bound(self, group: ConstraintGroup, value: float) -> list[str]:
        """Tight both ways (module docstring); one line per failure."""
        u, groups = self.union, frozenset(self.union.groups) | {group}  # kept at its new limit
        if group is _G.GPU_BUDGET:
            at, below = self.feasible(groups, total_gpus=int(value)), value > 1 and self.feasible(
                groups, total_gpus=int(value) - 1)
            above = at
        else:
            kind = next(k for k in SloKind if k.group is group)
            at = self.feasible(groups, slo=with_limit(u.slo, kind, value))
            above = self.feasible(groups, slo=with_limit(u.slo, kind, value * (1 + 1e-9)))
            below = self.feasible(groups, slo=with_limit(u.slo, kind, math.nextafter(value, -math.inf)))
        if at and above and not below:
            return []
        return [f"{group.value} bound {value}: feasible at it {at}, a hair above {above}, just below {below}"]


def verify_union(union: UnionCert, feasible: bool, conflicts: set[frozenset], bounds: dict,
                 backend: str = "highs") -> tuple[str, list[str]]:
    """Compare a certificate's claims (feasibility, conflicts, bounds: group -> seconds or GPUs) with their
    re-derivation; the methods used, and one line per disagreement. Every bound the request's SLOs and
    budget call for must be claimed when the re-derivation finds the limit reachable."""
    v, problems = UnionVerifier(union, backend), []
    again = v.feasible(union.groups)
    if again != feasible:
        problems.append(f"feasible: certificate says {feasible}, re-derived {again}")
    found = v.conflicts() if not again else set()
    if found != set(conflicts):
        problems.append(f"conflicts: certificate {_names(conflicts)}, re-derived {_names(found)}")
    for group, value in bounds.items():
        problems += v.check_bound(group, value)
    asked = [k.group for k in SloKind if union.slo.limit(k) is not None] + [_G.GPU_BUDGET]
    for group in asked:
        if group not in bounds and v.feasible(frozenset(union.groups) - {group}):
            problems.append(f"{group.value}: no bound claimed, but the others hold together")
    return " and ".join(sorted(v.how)) or "row checks", problems


def _names(sets) -> str:
    return "; ".join(sorted("{" + ", ".join(sorted(g.value for g in s)) + "}" for s in sets)) or "none"
