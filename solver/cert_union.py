"""One certificate over the request's modes together: the replica option table and the disaggregated pairs.

A request is feasible when *some* of its modes is, so a set of kept groups is feasible over the union
exactly when the replica instance (solver/cert_replica.py: static and agg rows) or the disaggregated
one (solver/cert_disagg.py: prefill × decode pairs) is feasible with them. Feasibility stays monotone
in the kept groups, so the subset search of solver/certificate.py finds the minimal conflicting sets
of the union with this oracle: a set is minimal over the union when every mode is infeasible with it
and dropping any one group makes some mode feasible.

Each bound is the least over the modes of that mode's least feasible limit while every other group
holds, so asking for it is feasible (in the mode reaching it) and asking for the next float below is
infeasible in every mode. Each relaxation changes one thing — an SLO to its bound, the budget to the
fewest GPUs, a per-pool limit to the fewest GPUs a worker needs, a format, a mode the request does not
ask for — and carries the best plan across the modes it makes available (solver/mode_union.py).
The replica plans come from the request's backend under its deadline (`outcomes` records how each
ended); the disaggregated ones from the exact pair enumeration (MILP with mixed pools).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sloplan.core.enums import Role, SloKind

from .cert_disagg import ORDER, DisaggCert
from .cert_replica import CLOSEST, LIFTS, Bound, CertInstance, Relaxation
from .certificate import all_minimal_conflicts
from .disagg_tables import md1_wait_s
from .groups import ConstraintGroup
from .limits import NO_LIMIT, Deadline
from .mode_union import union_best
from .plan import Plan
from .slo import Slo

_G = ConstraintGroup
PLAN_UTILISATION = 0.5  # the bound pair's prefill utilisation the plan beside a zero-load bound allows
POOL_LIMITS = (("max_prefill_gpus", Role.PREFILL), ("max_decode_gpus", Role.DECODE))  # request field, pool


def covering_ms(value_s: float) -> float:
    """The shortest millisecond limit with at most 4 decimals whose seconds are >= `value_s` (so the
    request asking for it admits the option that reaches `value_s`)."""
    ms = math.ceil(value_s * 1e7) / 1e4
    while ms / 1000.0 < value_s:
        ms = math.nextafter(ms, math.inf)
    return ms


def with_limit(slo: Slo, kind: SloKind, value: float | None) -> Slo:
    return Slo(**{**{k.field: slo.limit(k) for k in SloKind}, kind.field: value})


@dataclass(eq=False)
class UnionCert:
    """The replica instance (None when no table was priced) and the disaggregated one (None likewise),
    the request's backend and deadline for the replica plans."""

    replica: CertInstance | None
    disagg: DisaggCert | None
    backend: str = "highs"
    deadline: Deadline = NO_LIMIT
    outcomes: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    @property
    def total_gpus(self) -> int:
        return self.replica.total_gpus if self.replica is not None else self.disagg.instance.total_gpus

    @property
    def slo(self) -> Slo:
        return self.replica.slo if self.replica is not None else self.disagg.instance.slo

    @cached_property
    def groups(self) -> tuple[ConstraintGroup, ...]:
        have = set(self.replica.groups if self.replica is not None else ())
        have |= set(self.disagg.groups if self.disagg is not None else ())
        return tuple(g for g in ORDER if g in have)

    def feasible(self, kept) -> bool:
        kept = frozenset(kept)
        if kept not in self._cache:
            self._cache[kept] = ((self.replica is not None and self.replica.feasible(kept))
                                 or (self.disagg is not None and self.disagg.feasible(kept)))
        return self._cache[kept]

    def mode_feasible(self) -> dict[str, bool]:
        """Per mode family of the request: feasible with every group."""
        out = {}
        if self.replica is not None and self.replica.in_domain.any():
            out["static/agg"] = self.replica.feasible(self.replica.groups)
        if self.disagg is not None and self.disagg.in_domain:
            out["disagg"] = self.disagg.feasible(self.disagg.groups)
        return out

    def conflicts(self) -> tuple[frozenset, ...]:
        return all_minimal_conflicts(self.groups, self.feasible)

    # ---- bounds -----------------------------------------------------------------------------------
    def bounds(self) -> tuple[Bound, ...]:
        """Per SLO the request sets, and for the budget: the least value over the modes (replica first on ties)."""
        out = []
        for kind in SloKind:
            if self.slo.limit(kind) is None:
                continue
            cands = [self.replica.slo_bound(kind) if self.replica is not None else None]
            if self.disagg is not None:
                b = self.disagg.slo_bound(kind, self.groups)
                cands.append(None if b is None else Bound(b.group, b.value, self.slo.limit(kind), b.pair))
            out.append(_least(cands))
        cands = [self.replica.gpu_bound() if self.replica is not None else None]
        if self.disagg is not None:
            b = self.disagg.count_bound(_G.GPU_BUDGET, self.groups)
            cands.append(None if b is None else Bound(b.group, b.value, float(self.total_gpus), b.pair))
        out.append(_least(cands))
        return tuple(b for b in out if b is not None)

    # ---- plans ------------------------------------------------------------------------------------
    def best(self, slo: Slo | None = None, total_gpus: int | None = None, lifted: tuple | None = None,
             limits: tuple | None = None, modes: tuple[str, ...] = ("replica", "disagg"),
             extra: np.ndarray | None = None, disagg_anyway: bool = False) -> Plan | None:
        """The best plan across the request's modes under the changes given: SLOs, budget, a format's
        rows lifted (`lifted`: (replica rows, (prefill rows, decode rows))), per-pool limits, rows of a
        replica mode the request does not ask for (`extra`), the disaggregated mode added (`disagg_anyway`)."""
        slo = self.slo if slo is None else slo
        total = self.total_gpus if total_gpus is None else total_gpus
        plans = []
        if self.replica is not None and "replica" in modes:
            rows = extra if lifted is None else lifted[0]
            plans.append(self._replica_plan(rows, total, slo, LIFTS["quantization"] if lifted is not None else None))
        if self.disagg is not None and "disagg" in modes and (self.disagg.in_domain or disagg_anyway):
            plans.append(self._disagg_plan(slo, total, limits, None if lifted is None else lifted[1]))
        return union_best(plans)

    def _replica_plan(self, extra, total: int, slo: Slo, lifted) -> Plan | None:
        from .best import best_plan_within

        rep = self.replica
        usable = rep.usable(extra=None if extra is None else np.asarray(extra, bool), total_gpus=total, lifted=lifted)
        if not (usable & slo.allowed(rep.table)).any():
            return None
        plan, outcome = best_plan_within(rep.table.take(np.flatnonzero(usable)), total, slo, backend=self.backend,
                                         deadline=self.deadline)
        self.outcomes.append(outcome)
        return plan

    def _disagg_plan(self, slo: Slo, total: int, limits, lifted) -> Plan | None:
        from .disagg import disagg_best, disagg_plan

        inst = self.disagg.sub_instance(slo=slo, total_gpus=total, limits=limits, lifted=lifted)
        if inst is None:
            return None
        dep = disagg_best(inst, backend=self.backend)
        return None if dep is None else disagg_plan(inst, dep)

    # ---- relaxations ------------------------------------------------------------------------------
    def relaxations(self) -> tuple[Relaxation, ...]:
        """The smallest single changes that make the request feasible, each with its best plan."""
        out = []
        for b in self.bounds():
            if b.group is _G.GPU_BUDGET:
                if b.value > self.total_gpus:
                    out.append(("gpu_budget", b.value, self.best(total_gpus=int(b.value)), None))
            elif b.value > b.limit:
                kind = next(k for k in SloKind if k.group is b.group)
                at = self.usable_limit(b)
                plan = self.best(slo=with_limit(self.slo, kind, covering_ms(at) / 1000.0))
                out.append((b.group.value, b.value, plan, None if at == b.value else at))
        out += [(*r, None) for r in self._alternative_relaxations() + self._pool_relaxations()]
        return tuple(Relaxation(kind, value, plan, None, at) for kind, value, plan, at in out if plan is not None)

    def usable_limit(self, b: Bound) -> float:
        """The limit the plan shown beside an SLO bound `b` is solved under: the bound itself, except for a
        TTFT or request-latency bound reached by a disaggregated pair. That bound is tight (asking for it
        is feasible) but reached only as the pair's load goes to zero: its prefill worker's wait budget
        is 0, so its utilisation cap is 0 and the best plan there serves 0 tok/s — true, and useless as
        an answer to "what would this relaxation give me". So the plan is solved at the bound plus the pair's
        M/D/1 prefill wait at utilisation `PLAN_UTILISATION` = 1/2, `rho l / (2 (1 - rho))` = l / 2 with l
        its prefill batch latency (solver/disagg_tables.py `md1_wait_s`): the pair's own prefill worker
        may then run half busy, so it serves real load, and the margin is stated in the pair's own terms
        (the wait at which queueing equals half the service time) rather than as a tuned constant. The
        relaxation keeps the bound as its value and reports this limit beside it."""
        if not isinstance(b.row, tuple) or b.group not in (_G.SLO_TTFT, _G.SLO_REQUEST_LATENCY):
            return b.value
        return b.value + md1_wait_s(PLAN_UTILISATION, float(self.disagg.instance.prefill.latency_s[b.row[0]]))

    def _alternative_relaxations(self) -> list:
        out, rep, dis = [], self.replica, self.disagg
        names = dict.fromkeys([*(rep.alternatives if rep is not None else ()),
                               *(dis.alternatives if dis is not None and dis.in_domain else ())])
        for name in names:
            kind, rows = (rep.alternatives[name] if rep is not None and name in rep.alternatives
                          else dis.alternatives[name])
            if kind == "mode":
                out.append(("mode", name, self.best(extra=np.asarray(rows, bool), modes=("replica",))))
                continue
            r_rows = None  # a format's replica rows, in the request's replica modes only
            if rep is not None:
                r_rows = np.asarray(rep.alternatives.get(name, (kind, np.zeros(len(rep.table), bool)))[1], bool)
                r_rows = r_rows & rep.in_domain
            d_rows = dis.alternatives.get(name, (kind, None))[1] if dis is not None else None
            if d_rows is None and dis is not None:
                d_rows = (np.zeros(len(dis.instance.prefill), bool), np.zeros(len(dis.instance.decode), bool))
            out.append(("quantization", name, self.best(lifted=(r_rows, d_rows))))
        if dis is not None and not dis.in_domain:
            out.append(("mode", "disagg", self.best(modes=("disagg",), disagg_anyway=True)))
        return out

    def _pool_relaxations(self) -> list:
        dis, out = self.disagg, []
        if dis is None or not dis.in_domain or _G.POOL_GPUS not in self.groups:
            return out
        inst = dis.instance
        for name, role in POOL_LIMITS:
            limit = getattr(inst, name)
            b = dis.count_bound(_G.POOL_GPUS, self.groups, role) if limit is not None else None
            if b is not None and b.value > limit:
                limits = ((int(b.value), inst.max_decode_gpus) if role is Role.PREFILL
                          else (inst.max_prefill_gpus, int(b.value)))
                out.append((name, int(b.value), self.best(limits=limits, modes=("disagg",))))
        return out

    def closest(self, n: int = CLOSEST) -> list[int | tuple[int, int]]:
        """The options nearest to meeting every SLO, over the request's modes: replica rows (within the
        budget, planned formats, memory) and disaggregated pairs (unloaded), by their worst ratio of
        value to limit; a row is an int, a pair (prefill row, decode row)."""
        found = []
        if self.replica is not None:
            rep = self.replica
            for r in rep.closest(n):
                ratio = max((float(getattr(rep.table, k.field)[r]) / self.slo.limit(k) for k in SloKind
                             if self.slo.limit(k) is not None), default=0.0)
                found.append((ratio, 0, int(r)))
        if self.disagg is not None:
            found += [(ratio, 1, pair) for ratio, pair in self.disagg.closest(n)]
        return [item for _, _, item in sorted(found, key=lambda t: (t[0], t[1]))[:n]]

    # ---- evidence ---------------------------------------------------------------------------------
    def evidence(self) -> dict:
        """How each mode family's answer was derived and independently confirmed: the replica row checks
        against one backend solve of the certificate MILP, the disaggregated pair checks against the
        exact pair enumeration of the request's own instance (solver/disagg_pairs.py)."""
        out = {}
        for family, feasible in self.mode_feasible().items():
            if family == "disagg":
                found = self._disagg_plan(self.slo, self.total_gpus, None, None) is not None
                status = "optimal" if found else "infeasible"
                out[family] = {"oracle": "pair checks (prefill row × decode row)",
                               "confirmed_by": "pair enumeration (solver/disagg_pairs.py)"
                               if not self.disagg.instance.mixed_pools else f"{self.backend} MILP (mixed pools)",
                               "status": status, "gap": 0.0}
            else:
                out[family] = {"oracle": "row checks (option table)", **self._replica_solve()}
                status = out[family]["status"]
            if status in ("optimal", "infeasible") and (status == "optimal") != feasible:
                raise RuntimeError(f"certificate: {family} checks say feasible={feasible}, the confirmation "
                                   f"says {status}")
        return out

    def _replica_solve(self) -> dict:
        from .backends import backend_for

        result = backend_for(self.backend)(self.replica.formulation()).solve(self.deadline.options())
        return {"confirmed_by": f"{self.backend} on the certificate MILP", "status": result.status.value,
                "gap": None if math.isinf(result.gap) else float(result.gap)}


def _least(cands: list[Bound | None]) -> Bound | None:
    have = [b for b in cands if b is not None]
    return min(have, key=lambda b: b.value) if have else None
