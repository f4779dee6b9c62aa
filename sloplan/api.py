"""Python API: `solve(request)` and `estimate(...)`. The CLI is a thin shell over these."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sloplan.model.ops import source_label
from sloplan.model.option_table import OptionTable
from sloplan.model.options import evaluate, fitting_engines, option_table
from sloplan.perfdb import Tier
from sloplan.solver import Deployment, best_deployment, infeasibility_reason, pareto_front

from .context import Context, build_context
from .errors import InputError, shown
from .request import Request, load_request, parse_request
from .result import Check, PlanPoint, ReplicaGroup, SolveResult


def _as_request(request: Request | dict | str | Path) -> Request:
    """Every way in goes through the one schema, so every bad input is an InputError (never a bare
    ValueError/TypeError from deeper down)."""
    if isinstance(request, Request):
        return request
    if isinstance(request, dict):
        return parse_request(request)
    if isinstance(request, (str, Path)):
        return load_request(request)
    raise InputError("request", f"expected a sloplan.Request, a mapping of fields or a YAML file path "
                                f"(got {shown(request)})")


def solve(request: Request | dict | str | Path) -> SolveResult:
    """Best deployment under the SLOs within the GPU budget, and the exact front of the option table."""
    t0 = time.perf_counter()
    req = _as_request(request)
    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    slots, rejected = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), req.total_gpus,
                                      req.max_batch_size)
    if not slots:
        raise _no_engine(ctx, req)
    t1 = time.perf_counter()
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(req.modes), req.max_batch_size,
                         ctx.calibration)
    t2 = time.perf_counter()
    slo = req.slo
    best = best_deployment(table, req.total_gpus, slo)
    front = pareto_front(table, req.total_gpus, slo)
    t3 = time.perf_counter()
    return SolveResult(
        request=req.model_dump(mode="json"), data_version=f"{req.backend.value} {ctx.db.version}",
        best=_point(ctx, table, best, verify=True, req=req) if best else None,
        front=tuple(_point(ctx, table, d, verify=False) for d in front),
        options=len(table), engines=len(slots),
        infeasible_reason=None if best else infeasibility_reason(table, slo),
        rejected_engines=tuple(f"{e.label}: {why}" for e, why in rejected),
        timings_s={"resolve": round(t1 - t0, 4), "estimate": round(t2 - t1, 4), "optimize": round(t3 - t2, 4)})


def _no_engine(ctx: Context, req: Request) -> InputError:
    """No engine fits the budget: say how many GPUs the smallest fitting engine needs, if any does."""
    bigger, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 64, req.max_batch_size)
    if bigger:
        need = min(s.engine.gpus for s in bigger)
        return InputError("total_gpus", f"{req.total_gpus} GPUs is smaller than the smallest engine that fits "
                                        f"{ctx.arch.name} on {ctx.system.name} ({need} GPUs); accepted: ≥ {need}")
    return InputError("model", f"{ctx.arch.name} does not fit on {ctx.system.name} in any engine up to 64 GPUs "
                               f"with isl+osl={req.isl + req.osl}")


def _groups(table: OptionTable, dep: Deployment) -> tuple[tuple[ReplicaGroup, int], ...]:
    """The plan's replica groups, largest first, each with the table row it runs."""
    out = []
    for row, count in dep.replicas:
        e = table.slot(row).engine
        out.append((ReplicaGroup(engine=e.label, mode=table.mode_of(row).value, tp=e.tp, pp=e.pp,
                                 quant=e.quant.gemm.value, kv_cache_dtype=e.quant.kv.value, gpus_per_replica=e.gpus,
                                 concurrency=int(table.concurrency[row]), count=count,
                                 role=table.role_of(row).value), row))
    return tuple(sorted(out, key=lambda g: -g[0].gpus_per_replica * g[0].count))


def _point(ctx: Context, table: OptionTable, dep: Deployment, verify: bool, req: Request | None = None) -> PlanPoint:
    """One plan as the user sees it; `verify` (the best plan) re-checks it with the full estimator and
    gives each replica group its launch command (`req`)."""
    groups = _groups(table, dep)
    if verify:
        groups = tuple((replace(g, launch=_launch(ctx, table, row, req)), row) for g, row in groups)
    main, main_row = groups[0]
    rows = [r for r, _ in dep.replicas]
    worst = rows[int(np.argmax(table.tier[rows]))]  # the row whose tier the plan reports
    return PlanPoint(
        mode=main.mode, engine=main.engine, tokens_per_s_per_user=dep.tokens_per_s_per_user,
        tokens_per_s_per_gpu=dep.tokens_per_s_per_gpu, tokens_per_s=dep.tokens_per_s, ttft_ms=dep.ttft_s * 1e3,
        tpot_ms=dep.tpot_s * 1e3, request_latency_ms=dep.request_latency_s * 1e3, concurrency=main.concurrency,
        gpus_used=dep.gpus_used, total_gpus=dep.total_gpus, tier=Tier(int(table.tier[worst])).label,
        tier_source=source_label(table.tier[worst], table.source[worst]), replicas=tuple(g for g, _ in groups),
        frontend_load=ctx.calibration.frontend_load(float(table.tokens_per_s[rows].max())),
        check=_check(ctx, table, dep) if verify else None,
        memory_gib=table.slot(main_row).memory.as_gib if verify else None, launch=main.launch)


def _check(ctx: Context, table: OptionTable, dep: Deployment) -> Check:
    """Re-run the full estimator at each replica group's exact concurrency (no interpolation)."""
    ttft, tpot, tokens = [], [], 0.0
    for row, count in dep.replicas:
        m = evaluate(ctx.arch, table.slot(row), ctx.db, ctx.fw, ctx.workload, table.mode_of(row),
                     np.array([table.concurrency[row]]), ctx.calibration)
        ttft.append(float(m.ttft_s[0]))
        tpot.append(float(m.tpot_s[0]))
        tokens += float(m.tokens_per_s[0]) * count
    full = np.array([max(ttft), max(tpot), tokens])
    surrogate = np.array([dep.ttft_s, dep.tpot_s, dep.tokens_per_s])
    err = float(np.max(np.abs(surrogate - full) / np.maximum(np.abs(full), 1e-12)) * 100)
    return Check(ttft_ms=full[0] * 1e3, tpot_ms=full[1] * 1e3, tokens_per_s_per_gpu=tokens / dep.total_gpus,
                 surrogate_error_pct=round(err, 3))


def _launch(ctx: Context, table: OptionTable, row: int, req: Request) -> str:
    """The command that starts one replica of the row's engine, admitting its concurrency (at most the
    running cap)."""
    from sloplan.generators import launch_command

    slot = table.slot(row)
    max_seqs = min(int(table.concurrency[row]), slot.max_running)
    return launch_command(req.backend, ctx.arch, slot.engine, slot.memory, ctx.fw, ctx.workload, max_seqs)
