"""`sloplan prove`: a request's certificate — feasible with its witness plan, or why not and what fixes it.

The certificate is over the request's modes together (solver/cert_union.py): the static/agg option
table and the disaggregated prefill × decode pairs (sloplan/prove_disagg.py prices that side wide
too), so a conflict is one every mode has, a bound the best any mode reaches. The replica side is
priced *wide* (solver/cert_replica.py explains the groups): every engine up to `WIDE_GPUS` GPUs (or
the budget, if larger), in every format the checkpoint, GPU and framework can serve, in every mode.
Engines whose KV budget cannot hold one request (what `fitting_engines` rejects for memory) are
priced at concurrency 1 with room for that one request: the least memory any of their options needs,
so the memory group holds exactly the options a larger memory would admit first, and their latencies
are the best those engines reach. Formats that cannot be served at all (not derivable from the
checkpoint, no tensor cores for them on the GPU) are not options of any relaxation; the
certificate lists them with the reason.

Rendering milliseconds, labels and plans happens here; sloplan/prove_report.py prints them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sloplan.core.enums import ConstraintGroup, GemmQuant, PlanBasis, ServingMode, SloKind
from sloplan.model.memory import memory_plan
from sloplan.model.option_table import COLUMNS, MODES, OptionTable
from sloplan.model.options import EngineSlot, fitting_engines, option_table
from sloplan.model.quant import Quant
from sloplan.solver.cert_replica import Bound, CertInstance, Relaxation
from sloplan.solver.cert_union import UnionCert, covering_ms
from sloplan.solver.infeasibility import best_ms_text
from sloplan.solver.slack import tightening, tightening_note

from .context import Context, supported
from .request import Request
from .result import PlanPoint, plan_point

WIDE_GPUS = 64
_G = ConstraintGroup
LABEL = {_G.GPU_BUDGET: "GPU budget", _G.POOL_GPUS: "per-pool GPU limits", _G.MEMORY: "memory",
         _G.QUANTIZATION: "quantization", _G.SLO_TTFT: "TTFT", _G.SLO_TPOT: "TPOT",
         _G.SLO_REQUEST_LATENCY: "request latency"}


@dataclass(frozen=True)
class OptionView:
    """One option row as the certificate shows it; `excluded_by` names the groups that rule it out."""

    engine: str
    mode: str
    concurrency: int
    gpus: int
    ttft_ms: float
    tpot_ms: float
    request_latency_ms: float
    tokens_per_s_per_gpu: float
    excluded_by: tuple[str, ...]


@dataclass(frozen=True)
class BoundView:
    """The best value of one limit while every other group holds: `value` in ms (GPUs for gpu_budget), in
    the request's terms; `planned` is the same bound as solved (seconds or GPUs, against the tightened
    SLOs), the number --verify re-derives exactly."""

    group: str
    value: float
    limit: float | None
    option: OptionView
    planned: float = 0.0


@dataclass(frozen=True)
class RelaxationView:
    """One single change that makes the request feasible (`change` in words) and the best plan then.
    `plan_basis` says where that plan was solved: at the change itself, or (a disaggregated TTFT /
    request-latency bound, reached only at zero load) at `plan_change` / `plan_limit_ms`, the bound plus
    half its pair's prefill batch latency (solver/cert_union.py `usable_limit`)."""

    kind: str
    change: str
    value: float | str
    plan: PlanPoint
    plan_basis: str = PlanBasis.AT_CHANGE.value
    plan_change: str | None = None
    plan_limit_ms: float | None = None


@dataclass(frozen=True)
class Certificate:
    """Everything needed to check a claim of (in)feasibility; `to_dict` is the --json `certificate`."""

    feasible: bool
    summary: str
    groups: dict  # group -> options it excludes (of the request's modes)
    conflicts: tuple[tuple[str, ...], ...]
    bounds: tuple[BoundView, ...]
    relaxations: tuple[RelaxationView, ...]
    closest: tuple[OptionView, ...]
    unservable: tuple[str, ...]
    solver: dict
    options: int
    data_version: str = ""
    plan: PlanPoint | None = None
    tightening: float = 1.0  # the SLO limits were divided by this for headroom / min_slack

    def to_dict(self) -> dict:
        return asdict(self)


def servable(ctx: Context) -> tuple[list[GemmQuant], tuple[str, ...]]:
    """Formats an engine of this model can run on this GPU, and why each other one cannot."""
    arch, own, ok, why = ctx.arch, ctx.arch.checkpoint_quant, [], {}
    for q in GemmQuant:
        if arch.served_as_shipped and q is not own:
            why.setdefault(f"{own.value} weights are served as shipped", []).append(q.value)
        elif not q.derivable_from(own):
            why.setdefault(f"cannot be made from the {own.value} checkpoint", []).append(q.value)
        elif not supported(q, ctx.system):
            why.setdefault(f"{ctx.system.name} has no {q.compute_dtype} tensor cores", []).append(q.value)
        else:
            ok.append(q)
    return ok, tuple(f"{', '.join(qs)}: {reason}" for reason, qs in why.items())


def _wide_table(req: Request, ctx: Context, quants: list[Quant]) -> tuple[OptionTable, int]:
    """Fitting engines at every concurrency plus memory-short ones at concurrency 1, one table
    (rows of the memory-short engines last); and how many slots fit."""
    wide = max(req.total_gpus, WIDE_GPUS)
    slots, rejected = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, quants, wide, req.max_batch_size)
    short = [EngineSlot(e, memory_plan(ctx.arch, e, ctx.system, ctx.fw), 1) for e, _ in rejected]
    parts = []
    for group, batch in ((slots, req.max_batch_size), (short, 1)):
        if group:
            parts.append(option_table(ctx.arch, group, ctx.db, ctx.fw, ctx.workload, list(MODES), batch,
                                      ctx.calibration))
    every = tuple(slots) + tuple(short)
    offset = np.cumsum([0] + [len(p.slots) for p in parts])
    cols = {name: np.concatenate([getattr(p, name) + (offset[i] if name == "engine_index" else 0)
                                  for i, p in enumerate(parts)]) for name in COLUMNS}
    return OptionTable(**cols, pools=parts[0].pools, slots=every), len(slots)


def instance(req: Request, ctx: Context) -> tuple[CertInstance, tuple[str, ...]]:
    """The request's static/agg side as a certificate instance (its domain: the request's replica modes,
    possibly none), and the formats no relaxation can add (with why)."""
    ok, unservable = servable(ctx)
    planned = [q.gemm for q in ctx.quants]
    quants = list(ctx.quants) + [Quant.default_for(q) for q in ok if q not in planned]
    table, fitting = _wide_table(req, ctx, quants)
    gemm = np.array([s.engine.quant.gemm.value for s in table.slots])[table.engine_index]
    mode = np.array([m.value for m in MODES])[table.mode]
    asked = np.isin(mode, [m.value for m in req.modes])
    excluded = {_G.MEMORY: table.engine_index >= fitting,
                _G.QUANTIZATION: ~np.isin(gemm, [q.value for q in planned])}
    alternatives = {q.value: ("quantization", (gemm == q.value) & asked) for q in ok if q not in planned}
    alternatives |= {m.value: ("mode", mode == m.value) for m in MODES if m not in req.modes}  # static/agg
    return CertInstance(table, req.total_gpus, req.planning_slo, excluded, asked, alternatives), unservable


def union_instance(req: Request, ctx: Context) -> tuple[UnionCert, tuple[str, ...]]:
    """Both sides of the request as one certificate instance (module docstring). The disaggregated side is
    priced when the request asks for it, or when no mode it asks for is feasible (disagg is then a
    relaxation to offer)."""
    from sloplan.solver.limits import Deadline

    replica, unservable = instance(req, ctx)
    asked = ServingMode.DISAGG in req.modes
    union = UnionCert(replica, None, backend=req.solver, deadline=Deadline.after(req.time_limit_s))
    if asked or not union.feasible(union.groups):
        union = UnionCert(replica, _disagg_side(req, ctx, asked), backend=union.backend, deadline=union.deadline)
    return union, unservable


def _disagg_side(req: Request, ctx: Context, asked: bool):
    """The disaggregated side; a request that does not ask for disagg is not refused over its pools
    (they only feed the "mode disagg" relaxation, left out when they cannot be priced)."""
    from .errors import InputError
    from .prove_disagg import disagg_cert

    try:
        return disagg_cert(req, ctx, servable, asked)
    except InputError:
        if asked:
            raise
        return None


def certificate(req: Request, ctx: Context) -> Certificate:
    """The certificate of `req` (see the module docstring): conflicts, bounds, relaxations, evidence.

    The groups hold the SLOs solve plans against (`req.planning_slo`: tightened by headroom / min_slack),
    so the certificate answers the question solve asked. Bounds and SLO relaxations are shown in the
    request's own terms (the planned value times the tightening factor): setting a request SLO to the
    value shown, at the same headroom, makes that SLO reachable."""
    factor = tightening(req.headroom, req.min_slack)
    union, unservable = union_instance(req, ctx)
    feasible = union.feasible(union.groups)
    solver = _solver_evidence(union, req)
    plan = None
    if feasible:
        best = union.best()
        plan = _point(ctx, best) if best is not None else None
    conflicts = () if feasible else union.conflicts()
    bounds = union.bounds()
    relaxations = () if feasible else union.relaxations()
    solver["plans"] = _plan_outcomes(union)
    rep = union.replica
    return Certificate(
        feasible=feasible,
        summary=summary(union, conflicts, bounds, factor) + tightening_note(req.headroom, req.min_slack),
        groups=_group_counts(union), conflicts=tuple(tuple(g.value for g in union.groups if g in c) for c in conflicts),
        bounds=tuple(_bound_view(union, b, factor) for b in bounds),
        relaxations=tuple(_relaxation_view(ctx, r, factor) for r in relaxations), tightening=factor,
        closest=() if feasible else tuple(_pair_option(union, r) if isinstance(r, tuple) else _option(rep, r)
                                          for r in union.closest()),
        unservable=unservable, solver=solver, options=len(rep.table) + _disagg_rows(union), plan=plan,
        data_version=f"{req.backend.value} {ctx.db.version}")


def _disagg_rows(union: UnionCert) -> int:
    d = union.disagg
    return 0 if d is None else len(d.instance.prefill) + len(d.instance.decode)


def _group_counts(union: UnionCert) -> dict:
    """Group -> options it excludes in the request's modes: replica rows plus disaggregated
    (representative) prefill × decode pairs."""
    rep, dis, out = union.replica, union.disagg, {}
    for g in union.groups:
        n = int((rep.masks[g] & rep.in_domain).sum()) if g in rep.masks else 0
        if dis is not None and dis.in_domain and g in dis.request_masks:
            n += int(dis.request_masks[g].sum())
        out[g.value] = n
    return out


def _solver_evidence(union: UnionCert, req: Request) -> dict:
    """Which oracle answered each mode family and what independently confirmed it (solver/cert_union.py)."""
    from .errors import InputError
    from sloplan.solver.backends import BackendRefused

    try:
        oracles = union.evidence()
    except BackendRefused as exc:
        raise InputError("solver", f"{exc}; accepted: a backend that takes this model") from None
    statuses = [o["status"] for o in oracles.values()]
    status = "optimal" if "optimal" in statuses else ("infeasible" if statuses and all(
        s == "infeasible" for s in statuses) else (statuses[0] if statuses else "infeasible"))
    return {"backend": req.solver, "time_limit_s": req.time_limit_s, "status": status,
            "gap": 0.0 if status in ("optimal", "infeasible") else None,
            "groups": [g.value for g in union.groups], "oracles": oracles}


def _plan_outcomes(union: UnionCert) -> dict:
    """How the replica MIPs behind the plans shown ended: all proved, or the first that was not."""
    unproved = [o for o in union.outcomes if not o.proved]
    return {"replica_solves": len(union.outcomes), "proved": not unproved,
            **({"first_unproved": unproved[0].to_dict()} if unproved else {})}


def _point(ctx: Context, plan) -> PlanPoint:
    """A plan rendered as `solve` renders its front points (frontend load of the busiest streaming replica)."""
    return plan_point(plan, ctx.frontend_load(plan))


def _option(inst: CertInstance, row: int) -> OptionView:
    t = inst.table
    by = tuple(g.value for g, m in inst.masks.items() if m[row])
    return OptionView(engine=t.slot(row).engine.label, mode=t.mode_of(row).value, concurrency=int(t.concurrency[row]),
                      gpus=int(t.gpus[row]), ttft_ms=float(t.ttft_s[row]) * 1e3, tpot_ms=float(t.tpot_s[row]) * 1e3,
                      request_latency_ms=float(t.request_latency_s[row]) * 1e3,
                      tokens_per_s_per_gpu=float(t.tokens_per_s[row] / t.gpus[row]), excluded_by=by)


def _pair_option(union: UnionCert, pair: tuple[int, int]) -> OptionView:
    """One prefill worker and one decode worker, unloaded (the least TTFT the pair reaches), at the rate
    the pair sustains within the request's TTFT budget."""
    dis = union.disagg
    inst, (p, d) = dis.instance, pair
    P, D = inst.prefill, inst.decode
    ttft = float(P.latency_s[p] + inst.kv_pair_s[p, d] + D.first_step_s[d])
    gpus = int(P.gpus[p] + D.gpus[d])
    rate = min(float(inst.rho[p, d] * P.requests_per_s[p]), float(D.requests_per_s[d]))
    label = (f"{P.slots[int(P.engine_index[p])].engine.label} batch {int(P.batch[p])} → "
             f"{D.slots[int(D.engine_index[d])].engine.label}")
    return OptionView(engine=label, mode=ServingMode.DISAGG.value, concurrency=int(D.concurrency[d]), gpus=gpus,
                      ttft_ms=ttft * 1e3, tpot_ms=float(D.tpot_s[d]) * 1e3,
                      request_latency_ms=(ttft + (inst.osl - 1) * float(D.tpot_s[d])) * 1e3,
                      tokens_per_s_per_gpu=rate * inst.osl / gpus, excluded_by=tuple(g.value for g in
                                                                                     dis.excluded_by(pair)))


def _bound_view(union: UnionCert, b: Bound, factor: float) -> BoundView:
    gpus = b.group is _G.GPU_BUDGET
    scale = 1.0 if gpus else 1e3 * factor
    option = _pair_option(union, b.row) if isinstance(b.row, tuple) else _option(union.replica, b.row)
    return BoundView(group=b.group.value, value=b.value * scale, limit=None if b.limit is None else b.limit * scale,
                     option=option, planned=b.value)


def _relaxation_view(ctx: Context, r: Relaxation, factor: float) -> RelaxationView:
    if r.kind == "gpu_budget":
        change, value = f"{int(r.value)} GPUs", int(r.value)
    elif r.kind in ("quantization", "mode"):
        change, value = f"{r.kind} {r.value}", r.value
    elif r.kind in ("max_prefill_gpus", "max_decode_gpus"):
        change, value = f"{r.kind} {int(r.value)}", int(r.value)
    else:
        kind = SloKind(r.kind.removeprefix("slo_"))
        value = covering_ms(r.value * factor)
        change = _limit_text(kind, value)
        if r.plan_limit is not None:
            at = covering_ms(r.plan_limit * factor)
            return RelaxationView(kind=r.kind, change=change, value=value, plan=_point(ctx, r.plan),
                                  plan_basis=PlanBasis.HALF_PREFILL_LATENCY.value,
                                  plan_change=_limit_text(kind, at), plan_limit_ms=at)
    return RelaxationView(kind=r.kind, change=change, value=value, plan=_point(ctx, r.plan))


def _limit_text(kind: SloKind, ms: float) -> str:
    return f"{LABEL[kind.group]} ≤ {f'{ms:.4f}'.rstrip('0').rstrip('.')} ms"  # every decimal it needs


ms_covering = covering_ms  # the name this module exported before the rounding moved to the solver


def summary(union: UnionCert, conflicts, bounds, factor: float = 1.0) -> str:
    """The first line: feasible, or the unreachable limits with their best values, else the conflict."""
    if not conflicts:
        return "feasible: a deployment meets every SLO within the budget"
    parts = []
    for b in bounds:
        if b.limit is None or not b.value > b.limit:
            continue
        if b.group is _G.GPU_BUDGET:
            parts.append(f"the SLOs need at least {int(b.value)} GPUs (budget {int(b.limit)})")
        else:
            parts.append(f"{LABEL[b.group]} ≤ {b.limit * 1e3 * factor:g} ms: best {best_ms_text(b.value * factor)} ms "
                         "while the rest holds")
    if parts:
        return "; ".join(parts)
    return "conflicting groups: " + " | ".join(" + ".join(LABEL[g] for g in union.groups if g in c) for c in conflicts)


def prove(request) -> tuple[Certificate, dict]:
    """The certificate of a request (a Request, a mapping or a YAML path) and the request as JSON."""
    from .api import _as_request
    from .context import build_context
    from .errors import InputError

    req = _as_request(request)
    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    if not engines_exist(req, ctx):
        raise InputError("model", f"{ctx.arch.name} has no engine on {ctx.system.name} up to "
                                  f"{max(req.total_gpus, WIDE_GPUS)} GPUs")
    return certificate(req, ctx), req.model_dump(mode="json")


def engines_exist(req: Request, ctx: Context) -> bool:
    """Whether any engine (fitting or memory-short) exists to price up to the wide budget."""
    from sloplan.model.parallel_rules import engines_for
    from sloplan.model.framework import framework

    ok, _ = servable(ctx)
    quants = [Quant.default_for(q) for q in ok] or list(ctx.quants)
    return bool(engines_for(ctx.arch, quants, ctx.system, framework(ctx.fw.backend).parallel_rules,
                            max(req.total_gpus, WIDE_GPUS)))
