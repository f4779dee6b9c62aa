"""Python API: `solve(request)` and `estimate(...)`. The CLI is a thin shell over these."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sloplan.model.options import evaluate, fitting_engines, option_table
from sloplan.solver import Plan, PlanGroup, infeasibility_reason
from sloplan.solver.best import best_plan_within
from sloplan.solver.pareto import pareto_plans_within
from sloplan.solver.slack import plan_slack, tightening_note

from .context import Context, build_context
from .errors import InputError, shown
from .request import Request, load_request, parse_request
from .result import Check, PlanPoint, SolveResult, plan_point


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


def solve(request: Request | dict | str | Path, *, export: Path | None = None,
          export_tolerance: float | None = None) -> SolveResult:
    """Best deployment under the SLOs within the GPU budget, and the exact front of the option table:
    build (context, engines, option table) → solve (typed Plans) → verify (the best plan) → render.
    `export`: also write the best-plan model there (.lp/.mps, sloplan/model_export.py), the compact one
    fitted at `export_tolerance` when that is given."""
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
    slo = req.planning_slo  # the request's SLOs, tightened by headroom / min_slack (solver/slack.py)
    best, front, solver = _optimize(table, req, slo)
    t3 = time.perf_counter()
    if export is not None:  # after the solve: a backend refusing the model (exit 2) leaves no file
        from .model_export import write_export

        write_export(table, req.total_gpus, slo, Path(export), export_tolerance)
    infeasible = solver["best"]["status"] == "infeasible"  # a time limit without a plan proves nothing
    cert = _certificate(req, ctx) if infeasible else None
    return SolveResult(
        request=req.model_dump(mode="json"), data_version=f"{req.backend.value} {ctx.db.version}",
        best=_verified(ctx, best, req) if best else None,
        front=tuple(plan_point(p, _frontend_load(ctx, p), slack=plan_slack(req.slo, p.metrics)) for p in front),
        options=len(table), engines=len(slots),
        infeasible_reason=(infeasibility_reason(table, slo) + tightening_note(req.headroom, req.min_slack)
                           if infeasible else None),
        rejected_engines=tuple(f"{e.label}: {why}" for e, why in rejected),
        timings_s={"resolve": round(t1 - t0, 4), "estimate": round(t2 - t1, 4), "optimize": round(t3 - t2, 4)},
        solver=solver, certificate=cert)


def _optimize(table, req: Request, slo) -> tuple[Plan | None, list[Plan], dict]:
    """Best plan and front on the request's solver backend under its time limit (one deadline for both),
    with how far each is proved (solver/limits.py); a backend that cannot take the model is bad input."""
    from sloplan.solver.backends import BackendRefused
    from sloplan.solver.limits import Deadline

    deadline = Deadline.after(req.time_limit_s)
    try:
        best, best_outcome = best_plan_within(table, req.total_gpus, slo, backend=req.solver, deadline=deadline)
        front, front_outcome = pareto_plans_within(table, req.total_gpus, slo, backend=req.solver,
                                                   deadline=deadline)
    except BackendRefused as exc:
        raise InputError("solver", f"{exc}; accepted: a backend that takes this model") from None
    return best, front, {"name": req.solver, "time_limit_s": req.time_limit_s, "best": best_outcome.to_dict(),
                         "front": front_outcome.to_dict()}


def _certificate(req: Request, ctx: Context):
    """Why nothing meets the SLOs, as `sloplan prove` shows it (sloplan/prove.py)."""
    from .prove import certificate

    return certificate(req, ctx)


def _no_engine(ctx: Context, req: Request) -> InputError:
    """No engine fits the budget: say how many GPUs the smallest fitting engine needs, if any does."""
    bigger, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 64, req.max_batch_size)
    if bigger:
        need = min(s.engine.gpus for s in bigger)
        return InputError("total_gpus", f"{req.total_gpus} GPUs is smaller than the smallest engine that fits "
                                        f"{ctx.arch.name} on {ctx.system.name} ({need} GPUs); accepted: ≥ {need}")
    return InputError("model", f"{ctx.arch.name} does not fit on {ctx.system.name} in any engine up to 64 GPUs "
                               f"with isl+osl={req.isl + req.osl}")


def _frontend_load(ctx: Context, plan: Plan) -> float:
    """The busiest replica's streaming rate over its server's frontend limit (model/calibration.py)."""
    return ctx.calibration.frontend_load(max(g.tokens_per_s for g in plan.groups))


def _verified(ctx: Context, plan: Plan, req: Request) -> PlanPoint:
    """The best plan re-checked by the full estimator, with a launch command per replica group."""
    return plan_point(plan, _frontend_load(ctx, plan), launches=tuple(_launch(ctx, g, req) for g in plan.groups),
                      check=_check(ctx, plan), memory_gib=plan.main.slot.memory.as_gib,
                      slack=plan_slack(req.slo, plan.metrics))


def _check(ctx: Context, plan: Plan) -> Check:
    """Re-run the full estimator at each replica group's exact concurrency (no interpolation)."""
    ttft, tpot, tokens = [], [], 0.0
    for g in sorted(plan.groups, key=lambda g: g.row):  # row order: the same float sum as always
        m = evaluate(ctx.arch, g.slot, ctx.db, ctx.fw, ctx.workload, g.mode, np.array([g.concurrency]),
                     ctx.calibration)
        ttft.append(float(m.ttft_s[0]))
        tpot.append(float(m.tpot_s[0]))
        tokens += float(m.tokens_per_s[0]) * g.count
    full = np.array([max(ttft), max(tpot), tokens])
    s = plan.metrics
    surrogate = np.array([s.ttft_s, s.tpot_s, s.tokens_per_s])
    err = float(np.max(np.abs(surrogate - full) / np.maximum(np.abs(full), 1e-12)) * 100)
    return Check(ttft_ms=full[0] * 1e3, tpot_ms=full[1] * 1e3, tokens_per_s_per_gpu=tokens / s.total_gpus,
                 surrogate_error_pct=round(err, 3))


def _launch(ctx: Context, group: PlanGroup, req: Request) -> str:
    """The command that starts one replica of the group's engine, admitting its concurrency (at most the
    running cap)."""
    from sloplan.generators import launch_command

    slot = group.slot
    max_seqs = min(group.concurrency, slot.max_running)
    return launch_command(req.backend, ctx.arch, slot.engine, slot.memory, ctx.fw, ctx.workload, max_seqs)
