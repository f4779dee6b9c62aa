"""The replica problem's certificate: conflicting groups, tight bounds and single relaxations.

The instance is one *wide* option table: the rows the request may use, plus rows that only a relaxed
request could (engines larger than the budget, engines whose memory is short, formats the request does
not plan, modes it does not ask for). Each constraint group excludes a set of rows:

* ``gpu_budget``  — rows whose engine needs more GPUs than the budget (with the sum row in the MILP);
* ``slo_ttft`` / ``slo_tpot`` / ``slo_request_latency`` — rows breaking that SLO (membership per row);
* ``memory``      — rows of engines whose KV budget cannot hold one request (engine level);
* ``quantization``— rows of formats the request does not plan (engine level).

Why a row check is exact for feasibility: a deployment is a non-empty multiset of rows, each of which
must pass every kept group; one replica of any passing row is itself a deployment within the budget.
So "feasible keeping groups K" is "some row passes all of K", and each SLO's best value while the
others hold is the least value of its column over the rows passing the rest (a deployment's latency is
the maximum over its rows). `formulation()` states the same thing as a MILP for the generic search and
the backends (tests check both agree, and with brute force). Modes outside the request are not a group:
they are the user's choice, offered back as a relaxation.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sloplan.core.enums import SloKind
from sloplan.model.option_table import OptionTable

from .best import best_plan
from .certificate import all_minimal_conflicts
from .formulation import Constraint, Formulation, Sense, Variable
from .groups import ConstraintGroup
from .plan import Plan
from .slo import Slo

_G = ConstraintGroup
ENGINE_GROUPS = (_G.MEMORY, _G.QUANTIZATION)
ORDER = (_G.GPU_BUDGET, _G.MEMORY, _G.QUANTIZATION, _G.SLO_TTFT, _G.SLO_TPOT, _G.SLO_REQUEST_LATENCY)
CLOSEST = 5
LIFTS = {"quantization": _G.QUANTIZATION}  # an alternative of this kind readmits rows that group excludes


@dataclass(frozen=True)
class Bound:
    """The best value of one limit while every other group holds (seconds, or GPUs for the budget),
    the request's limit, and the table row that reaches it."""

    group: ConstraintGroup
    value: float
    limit: float | None
    row: int


@dataclass(frozen=True, eq=False)
class Relaxation:
    """One change to the request that makes it feasible, and the best plan it unlocks (over `table`).
    `kind` is the group relaxed or "mode"; `value` the new limit (seconds, GPUs) or the added name;
    `plan_limit` the limit (seconds) the plan was solved under when it is not `value` (an SLO bound
    reached by a disaggregated pair only at zero load: solver/cert_union.py `usable_limit`)."""

    kind: str
    value: float | str
    plan: Plan
    table: OptionTable
    plan_limit: float | None = None


@dataclass(frozen=True, eq=False)
class CertInstance:
    """A wide table, the request's budget and SLOs, engine-level exclusions and alternatives.
    `domain`: rows of the request's modes. `alternatives`: name -> (kind, rows a relaxation readmits):
    a format the request does not plan ("quantization": its rows are no longer excluded by the
    quantization group, still by every other one), a mode it does not ask for ("mode")."""

    table: OptionTable
    total_gpus: int
    slo: Slo
    excluded: Mapping[ConstraintGroup, np.ndarray] = field(default_factory=dict)
    domain: np.ndarray | None = None
    alternatives: Mapping[str, tuple[str, np.ndarray]] = field(default_factory=dict)  # name -> (kind, rows)

    @cached_property
    def in_domain(self) -> np.ndarray:
        return np.ones(len(self.table), bool) if self.domain is None else np.asarray(self.domain, bool)

    @cached_property
    def masks(self) -> dict[ConstraintGroup, np.ndarray]:
        """Group -> rows it excludes (of the whole table: alternatives are filtered by them too)."""
        t, out = self.table, {_G.GPU_BUDGET: self.table.gpus > self.total_gpus}
        for g in ENGINE_GROUPS:
            if g in self.excluded:
                out[g] = np.asarray(self.excluded[g], bool)
        for kind, rows in self.slo.violators(t).items():
            out[kind.group] = np.zeros(len(t), bool)
            out[kind.group][rows] = True
        return {g: out[g] for g in ORDER if g in out}

    @cached_property
    def groups(self) -> tuple[ConstraintGroup, ...]:
        """The groups a conflict may name: those excluding at least one row of the domain."""
        return tuple(g for g, m in self.masks.items() if (m & self.in_domain).any())

    def allowed(self, kept, extra: np.ndarray | None = None, lifted: ConstraintGroup | None = None) -> np.ndarray:
        """Rows passing every group of `kept` (within the domain, or the domain plus `extra`), where
        group `lifted` no longer excludes the `extra` rows (a format readmitted by a relaxation)."""
        ok = self.in_domain.copy() if extra is None else self.in_domain | extra
        for g in kept:
            m = self.masks.get(g)
            if m is not None:
                ok &= ~(m & ~extra) if (extra is not None and g is lifted) else ~m
        return ok

    def feasible(self, kept) -> bool:
        return bool(self.allowed(kept).any())

    def usable(self, extra: np.ndarray | None = None, total_gpus: int | None = None,
               lifted: ConstraintGroup | None = None) -> np.ndarray:
        """Rows a request may use ignoring its SLOs: in the domain (plus `extra`), memory and format
        available, within `total_gpus` (default the budget)."""
        ok = self.allowed([g for g in ENGINE_GROUPS], extra, lifted)
        return ok & (self.table.gpus <= (total_gpus or self.total_gpus))

    # ---- bounds -----------------------------------------------------------------------------------
    def slo_bound(self, kind: SloKind) -> Bound | None:
        """Least value of `kind`'s column over the rows passing every other group (tight: at that
        limit the request is feasible, below it not). None when the others conflict already."""
        col = getattr(self.table, kind.field)
        ok = self.allowed([g for g in self.groups if g is not kind.group]) & np.isfinite(col)  # NaN meets no limit
        if not ok.any():
            return None
        return Bound(kind.group, float(col[ok].min()), self.slo.limit(kind), self._witness(ok, col))

    def gpu_bound(self) -> Bound | None:
        """Fewest GPUs a deployment meeting every other group needs (one replica of the smallest row)."""
        ok = self.allowed([g for g in self.groups if g is not _G.GPU_BUDGET])
        if not ok.any():
            return None
        return Bound(_G.GPU_BUDGET, float(self.table.gpus[ok].min()), float(self.total_gpus),
                     self._witness(ok, self.table.gpus))

    def _witness(self, ok: np.ndarray, col: np.ndarray) -> int:
        """The row reaching the least value; ties: fewest GPUs, then most tokens/s, then first row."""
        rows = np.flatnonzero(ok)
        key = np.lexsort((np.arange(len(rows)), -self.table.tokens_per_s[rows], self.table.gpus[rows], col[rows]))
        return int(rows[key[0]])

    def bounds(self) -> tuple[Bound, ...]:
        out = [self.slo_bound(k) for k in SloKind if self.slo.limit(k) is not None]
        out.append(self.gpu_bound())
        return tuple(b for b in out if b is not None)

    # ---- relaxations ------------------------------------------------------------------------------
    def relaxations(self, backend: str = "highs") -> tuple[Relaxation, ...]:
        """The smallest single changes that make the request feasible, each with its best plan: a
        looser limit for each SLO (to its bound), more GPUs (to the GPU bound), and each alternative."""
        out = []
        for b in self.bounds():
            if b.group is _G.GPU_BUDGET:
                if b.value > self.total_gpus:
                    out.append(self._relaxed("gpu_budget", b.value, self.usable(total_gpus=int(b.value)),
                                             int(b.value), self.slo, backend))
            elif b.value > b.limit:
                kind = next(k for k in SloKind if k.group is b.group)
                slo = Slo(**{**{k.field: self.slo.limit(k) for k in SloKind}, kind.field: b.value})
                out.append(self._relaxed(kind.group.value, b.value, self.usable(), self.total_gpus, slo, backend))
        for name, (kind, rows) in self.alternatives.items():
            usable = self.usable(extra=np.asarray(rows, bool), lifted=LIFTS.get(kind))
            if (usable & self.slo.allowed(self.table)).any():
                out.append(self._relaxed(kind, name, usable, self.total_gpus, self.slo, backend))
        return tuple(r for r in out if r is not None)

    def _relaxed(self, kind: str, value, usable: np.ndarray, total_gpus: int, slo: Slo,
                 backend: str) -> Relaxation | None:
        sub = self.table.take(np.flatnonzero(usable))
        plan = best_plan(sub, total_gpus, slo, backend=backend)
        return None if plan is None else Relaxation(kind, value, plan, sub)

    # ---- evidence ---------------------------------------------------------------------------------
    def conflicts(self) -> tuple[frozenset, ...]:
        return all_minimal_conflicts(self.groups, self.feasible)

    def closest(self, n: int = CLOSEST) -> np.ndarray:
        """The usable rows nearest to meeting every SLO: least worst ratio of value to limit."""
        rows = np.flatnonzero(self.usable())
        ratio = np.zeros(len(rows))
        for kind in SloKind:
            limit = self.slo.limit(kind)
            if limit is not None:
                ratio = np.maximum(ratio, getattr(self.table, kind.field)[rows] / limit)
        return rows[np.lexsort((-self.table.tokens_per_s[rows], ratio))[:n]]

    def formulation(self, compact: bool = True) -> Formulation:
        """The certificate as a MILP over the domain: integer replicas n (at least one replica, at most
        the budget when it is kept), and one singleton block per group, ``n_i = 0`` for each row the
        group excludes. `compact` keeps one row per pattern of exclusions (the same feasibility for
        every subset of groups: rows with one pattern pass the same groups)."""
        rows = np.flatnonzero(self.in_domain)
        if compact:
            code = np.zeros(len(rows), np.int64)
            for bit, g in enumerate(self.groups):
                code |= self.masks[g][rows].astype(np.int64) << bit
            first = {}  # not np.unique: it imports numpy.ma (~10 ms)
            for i, c in enumerate(code.tolist()):
                first.setdefault(c, i)
            rows = rows[sorted(first.values())]
        gpus = self.table.gpus[rows].astype(float)
        n = Variable("n", np.zeros(len(rows)), np.maximum(1, np.floor(self.total_gpus / gpus)), integer=True)
        cons = [Constraint.weighted_sum(_G.GPU_BUDGET.value, "n", gpus, -np.inf, float(self.total_gpus),
                                        _G.GPU_BUDGET),
                Constraint.weighted_sum(_G.MIN_REPLICAS.value, "n", np.ones(len(rows)), 1.0, np.inf, _G.MIN_REPLICAS)]
        for g in self.groups:
            if g is not _G.GPU_BUDGET:
                local = np.flatnonzero(self.masks[g][rows])
                c = Constraint.singletons(g.value, "n", local, 0.0, 0.0, g)
                cons.append(Constraint(c.name, c.terms, c.lb, c.ub, g, rows[local]))
        return Formulation((n,), tuple(cons), {"n": np.zeros(len(rows))}, Sense.MINIMIZE)
