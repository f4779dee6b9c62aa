"""The disaggregated problem's certificate: which groups exclude which (prefill row, decode row) pairs.

Why a pair check is exact for feasibility. A disaggregated plan serves something when its rate
``min(sum rho*_p mu_p n_p, sum mu_d n_d)`` is positive (solver/disagg_deployment.py): some used
prefill row p has ``rho[p, d] > 0`` for every used decode row d. Then one worker of p and one of any
used d is itself a plan: it passes every row-level group the bigger plan passes (its rows are among
the plan's), uses no more GPUs in total or per pool, and its TTFT stays within the budget at any
positive load (the utilisation cap rho is what the TTFT and request-latency budgets leave, at most
`max_utilisation`). So "feasible keeping groups K" is "some pair passes all of K", with or without
mixed pools, and each group excludes a set of pairs:

* ``gpu_budget``  — ``gpus_p + gpus_d > N`` (one worker each: the fewest GPUs a pair can run on);
* ``pool_gpus``   — ``gpus_p > max_prefill_gpus`` or ``gpus_d > max_decode_gpus``;
* ``slo_tpot``    — the decode row's TPOT breaks the limit;
* ``slo_ttft``    — no wait is left: ``L - latency_p - kv[p, d] - first_step_d <= 0`` (rho = 0);
* ``slo_request_latency`` — the same with ``L_req - (osl - 1) tpot_d`` as the budget;
* ``memory``      — the decode row's concurrency exceeds what its KV memory holds;
* ``quantization``— either row is in a format the request does not plan.

The float expressions are `DisaggInstance.rho`'s, in its order, so "passes" here is exactly "rho > 0"
there. Rows are first reduced without loss: a prefill row matters only through (GPUs, pool, the row
groups that exclude it) and its latency — the least latency of each such class excludes a subset of
what any other row of the class excludes; decode rows the same with (TPOT, first step) kept Pareto-
minimal. Every bound is the least float limit at which the request becomes feasible (asking for it is
feasible, the next float below is not): TPOT and GPUs are columns; TTFT and request latency are each
pair's unloaded value, nudged to the float at which its rho turns positive.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from sloplan.core.enums import Role, SloKind

from .disagg_tables import DisaggInstance, take_rows
from .groups import ConstraintGroup
from .slo import Slo

_G = ConstraintGroup
ORDER = (_G.GPU_BUDGET, _G.POOL_GPUS, _G.MEMORY, _G.QUANTIZATION, _G.SLO_TTFT, _G.SLO_TPOT, _G.SLO_REQUEST_LATENCY)
_SLO_GROUPS = tuple(k.group for k in SloKind)
Rows = tuple[np.ndarray, np.ndarray]  # (prefill rows, decode rows) boolean masks


@dataclass(frozen=True)
class PairBound:
    """The least value of one limit while every other group holds, and the pair (p, d) reaching it."""

    group: ConstraintGroup
    value: float
    pair: tuple[int, int]


def _pareto_2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices of the points no other point is at most as large as on both a and b (first of equals)."""
    order = np.lexsort((b, a))
    best = np.minimum.accumulate(b[order])
    keep = np.ones(len(order), bool)
    keep[1:] = b[order][1:] < best[:-1]
    return order[keep]


def _classes(*columns: np.ndarray) -> dict[tuple, np.ndarray]:
    """Row indices by the tuple of their values in `columns`."""
    out: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(*(c.tolist() for c in columns))):
        out.setdefault(key, []).append(i)
    return {k: np.array(v) for k, v in out.items()}


@dataclass(frozen=True, eq=False)
class DisaggCert:
    """Wide prefill and decode tables (`instance`: its budget, SLO, per-pool limits are the request's),
    row-level exclusions (group -> (prefill rows, decode rows)), whether the request asks for disagg
    (`in_domain`), and alternatives: name -> (kind, rows it readmits) — a format the request does not plan."""

    instance: DisaggInstance
    excluded: Mapping[ConstraintGroup, Rows] = field(default_factory=dict)
    in_domain: bool = True
    alternatives: Mapping[str, tuple[str, Rows]] = field(default_factory=dict)

    # ---- reduction --------------------------------------------------------------------------------
    def _row_code(self, role: int, extra: list[np.ndarray]) -> np.ndarray:
        rows = len(self.instance.prefill if role == 0 else self.instance.decode)
        code = np.zeros(rows, np.int64)
        for bit, mask in enumerate([m[role] for m in self.excluded.values()] + [x[role] for x in extra]):
            code |= np.asarray(mask, bool).astype(np.int64) << bit
        return code

    @cached_property
    def reps(self) -> tuple[np.ndarray, np.ndarray]:
        """Representative prefill rows and decode rows (module docstring)."""
        alts = [rows for _, rows in self.alternatives.values()]
        P, D = self.instance.prefill, self.instance.decode
        pc = _classes(P.gpus, P.pool, self._row_code(0, alts))
        p = np.array(sorted(int(idx[np.argmin(P.latency_s[idx])]) for idx in pc.values()), np.int64)
        memory = D.concurrency > D.kv_capacity
        dc = _classes(D.gpus, D.pool, memory, self._row_code(1, alts))
        d = np.array(sorted(int(i) for idx in dc.values() for i in idx[_pareto_2d(D.tpot_s[idx],
                                                                                  D.first_step_s[idx])]), np.int64)
        return p, d

    @cached_property
    def _pairs(self) -> dict[str, np.ndarray]:
        """Flat per-pair columns over the representative rows."""
        p, d = self.reps
        pp, dd = (a.ravel() for a in np.meshgrid(p, d, indexing="ij"))
        inst = self.instance
        P, D = inst.prefill, inst.decode
        return {"p": pp, "d": dd, "gp": P.gpus[pp], "gd": D.gpus[dd], "lat": P.latency_s[pp],
                "kv": inst.kv_pair_s[pp, dd], "first": D.first_step_s[dd], "tpot": D.tpot_s[dd]}

    def __len__(self) -> int:
        return len(self._pairs["p"])

    # ---- groups -----------------------------------------------------------------------------------
    def masks(self, slo: Slo | None = None, total_gpus: int | None = None, limits: tuple | None = None,
              lifted: Rows | None = None) -> dict[ConstraintGroup, np.ndarray]:
        """Group -> pairs it excludes, at the request's parameters or the ones given (`limits`: the
        per-pool GPU limits; `lifted`: rows whose quantization exclusion a relaxation lifts)."""
        inst, c = self.instance, self._pairs
        slo = inst.slo if slo is None else slo
        total = inst.total_gpus if total_gpus is None else total_gpus
        max_p, max_d = (inst.max_prefill_gpus, inst.max_decode_gpus) if limits is None else limits
        out = {_G.GPU_BUDGET: c["gp"] + c["gd"] > total}
        pool = np.zeros(len(self), bool)
        if max_p is not None:
            pool |= c["gp"] > max_p
        if max_d is not None:
            pool |= c["gd"] > max_d
        out[_G.POOL_GPUS] = pool
        D = inst.decode
        out[_G.MEMORY] = (D.concurrency > D.kv_capacity)[c["d"]]
        for g, (mp, md) in self.excluded.items():
            ep, ed = np.asarray(mp, bool), np.asarray(md, bool)
            if lifted is not None and g is _G.QUANTIZATION:
                ep, ed = ep & ~lifted[0], ed & ~lifted[1]
            out[g] = ep[c["p"]] | ed[c["d"]]
        for kind in SloKind:
            limit = slo.limit(kind)
            if limit is not None:
                out[kind.group] = self._breaks(kind, limit)
        return {g: out[g] for g in ORDER if g in out}

    def _breaks(self, kind: SloKind, limit: float, sel=slice(None)) -> np.ndarray:
        """Pairs (of `sel`) breaking `kind` at `limit`: as `DisaggInstance.rho` computes the wait."""
        c = self._pairs
        if kind is SloKind.TPOT:
            return c["tpot"][sel] > limit
        budget = limit if kind is SloKind.TTFT else limit - (self.instance.osl - 1) * c["tpot"][sel]
        wait = budget - c["lat"][sel] - c["kv"][sel] - c["first"][sel]
        return ~(wait > 0)

    @cached_property
    def request_masks(self) -> dict[ConstraintGroup, np.ndarray]:
        return self.masks()

    @cached_property
    def groups(self) -> tuple[ConstraintGroup, ...]:
        """Groups that exclude at least one pair (none when the request does not ask for disagg)."""
        return tuple(g for g, m in self.request_masks.items() if m.any()) if self.in_domain else ()

    def allowed(self, kept, masks: Mapping | None = None) -> np.ndarray:
        masks = self.request_masks if masks is None else masks
        ok = np.ones(len(self), bool)
        for g in kept:
            if g in masks:
                ok &= ~masks[g]
        return ok

    def feasible(self, kept) -> bool:
        return self.in_domain and bool(self.allowed(kept).any())

    # ---- bounds -----------------------------------------------------------------------------------
    def slo_bound(self, kind: SloKind, kept) -> PairBound | None:
        """Least limit of `kind` at which some pair passes every group of `kept` other than its own."""
        ok = self.allowed([g for g in kept if g is not kind.group])
        if not self.in_domain or not ok.any():
            return None
        c, rows = self._pairs, np.flatnonzero(ok)
        if kind is SloKind.TPOT:
            i = rows[np.argmin(c["tpot"][rows])]
            return PairBound(kind.group, float(c["tpot"][i]), (int(c["p"][i]), int(c["d"][i])))
        tail = 0.0 if kind is SloKind.TTFT else (self.instance.osl - 1) * c["tpot"][rows]
        unloaded = c["lat"][rows] + c["kv"][rows] + c["first"][rows] + tail
        near = rows[unloaded <= unloaded.min() * (1 + 1e-12)]
        found = [(self._threshold(kind, int(i)), int(i)) for i in near]
        value, i = min(found)
        return PairBound(kind.group, value, (int(c["p"][i]), int(c["d"][i])))

    def _threshold(self, kind: SloKind, i: int) -> float:
        """The least float limit at which pair i no longer breaks `kind` (a few ulps from its unloaded value)."""
        c = self._pairs
        tail = 0.0 if kind is SloKind.TTFT else (self.instance.osl - 1) * float(c["tpot"][i])
        v = float(c["lat"][i] + c["kv"][i] + c["first"][i]) + tail
        sel = slice(i, i + 1)
        while not self._breaks(kind, v, sel)[0]:
            v = math.nextafter(v, -math.inf)
        while self._breaks(kind, v, sel)[0]:
            v = math.nextafter(v, math.inf)
        return v

    def count_bound(self, group: ConstraintGroup, kept, role: Role | None = None) -> PairBound | None:
        """Least GPUs over pairs passing every group of `kept` but `group`: of both workers (`role`
        None: the budget), or of one pool's worker (its per-pool limit; the other pool's still holds)."""
        ok = self.allowed([g for g in kept if g is not group])
        inst, c = self.instance, self._pairs
        if role is not None:  # the other pool's limit alone
            other = (None, inst.max_decode_gpus) if role is Role.PREFILL else (inst.max_prefill_gpus, None)
            ok &= ~self.masks(limits=other)[_G.POOL_GPUS]
        if not self.in_domain or not ok.any():
            return None
        total = c["gp"] + c["gd"]
        col = total if role is None else c["gp" if role is Role.PREFILL else "gd"]
        rows = np.flatnonzero(ok)
        i = rows[np.lexsort((total[rows], col[rows]))[0]]
        return PairBound(group, float(col[i]), (int(c["p"][i]), int(c["d"][i])))

    def closest(self, n: int) -> list[tuple[float, tuple[int, int]]]:
        """The `n` pairs passing every group but the SLOs nearest to meeting every SLO unloaded: (worst
        ratio of value to limit, pair), least first."""
        ok = self.allowed([g for g in ORDER if g not in _SLO_GROUPS]) if self.in_domain else np.zeros(len(self), bool)
        rows, c, slo = np.flatnonzero(ok), self._pairs, self.instance.slo
        ttft = c["lat"][rows] + c["kv"][rows] + c["first"][rows]
        value = {SloKind.TTFT: ttft, SloKind.TPOT: c["tpot"][rows],
                 SloKind.REQUEST_LATENCY: ttft + (self.instance.osl - 1) * c["tpot"][rows]}
        ratio = np.zeros(len(rows))
        for kind in SloKind:
            if slo.limit(kind) is not None:
                ratio = np.maximum(ratio, value[kind] / slo.limit(kind))
        order = np.argsort(ratio, kind="stable")[:n]
        return [(float(ratio[i]), (int(c["p"][rows[i]]), int(c["d"][rows[i]]))) for i in order]

    def excluded_by(self, pair: tuple[int, int]) -> tuple[ConstraintGroup, ...]:
        """The groups (at the request's parameters) that exclude the representative pair `pair`."""
        c = self._pairs
        i = int(np.flatnonzero((c["p"] == pair[0]) & (c["d"] == pair[1]))[0])
        return tuple(g for g, m in self.request_masks.items() if m[i])

    # ---- relaxed instances ------------------------------------------------------------------------
    def sub_instance(self, slo: Slo | None = None, total_gpus: int | None = None, limits: tuple | None = None,
                     lifted: Rows | None = None) -> DisaggInstance | None:
        """The request's disaggregated instance under the given changes, over the rows it may use
        (planned formats, or `lifted` ones; within the budget and limits), or None without rows."""
        inst = self.instance
        total = inst.total_gpus if total_gpus is None else total_gpus
        max_p, max_d = (inst.max_prefill_gpus, inst.max_decode_gpus) if limits is None else limits
        keep = []
        for role, table, cap in ((0, inst.prefill, max_p), (1, inst.decode, max_d)):
            ok = table.gpus <= min(total, cap or total)
            for g, rows in self.excluded.items():
                ex = np.asarray(rows[role], bool)
                ok &= ~(ex & ~lifted[role]) if (lifted is not None and g is _G.QUANTIZATION) else ~ex
            keep.append(np.flatnonzero(ok))
        if not len(keep[0]) or not len(keep[1]):
            return None
        return replace(inst, prefill=take_rows(inst.prefill, keep[0]), decode=take_rows(inst.decode, keep[1]),
                       slo=inst.slo if slo is None else slo, total_gpus=total, max_prefill_gpus=max_p,
                       max_decode_gpus=max_d)
