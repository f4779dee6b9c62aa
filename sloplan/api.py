"""Python API: `solve(request)` and `estimate(...)`. The CLI is a thin shell over these."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sloplan.core.enums import Role, ServingMode
from sloplan.model.options import evaluate, fitting_engines, option_table
from sloplan.solver import Plan, PlanGroup, infeasibility_reason
from sloplan.solver.best import best_plan_within
from sloplan.solver.mode_union import union_best, union_front
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
    """Best deployment under the SLOs within the GPU budget, and the exact front over every requested mode:
    build (context, engines, option table, disaggregated instance) → solve (typed Plans per mode, merged:
    solver/mode_union.py) → verify (the best plan) → render. `export`: also write the best plan's model
    there (.lp/.mps, sloplan/model_export.py): the disaggregated MILP when the best plan is disaggregated,
    else the replica MIP, the compact one fitted at `export_tolerance` when that is given."""
    t0 = time.perf_counter()
    req = _as_request(request)
    ctx, slots, rejected = resolve(req)
    t1 = time.perf_counter()
    replica_modes = [m for m in req.modes if m is not ServingMode.DISAGG]
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, replica_modes, req.max_batch_size,
                         ctx.calibration) if replica_modes else None
    setup = _disagg_setup(req, ctx)
    t2 = time.perf_counter()
    slo = req.planning_slo  # the request's SLOs, tightened by headroom / min_slack (solver/slack.py)
    best, front, solver = _optimize(table, setup, req, slo)
    t3 = time.perf_counter()
    if export is not None:  # after the solve: a backend refusing the model (exit 2) leaves no file
        _export(table, setup, best, req, slo, Path(export), export_tolerance)
    infeasible = solver["best"]["status"] == "infeasible"  # a time limit without a plan proves nothing
    return SolveResult(
        request=req.model_dump(mode="json"), data_version=f"{req.backend.value} {ctx.db.version}",
        best=verified(ctx, best, req, setup) if best else None,
        front=tuple(plan_point(p, ctx.frontend_load(p), slack=_slack(req, p, setup)) for p in front),
        options=(len(table) if table is not None else 0) + (setup.options if setup else 0),
        engines=len(slots) + (setup.other_engines if setup else 0),
        infeasible_reason=(_infeasible(table, setup, slo) + tightening_note(req.headroom, req.min_slack)
                           if infeasible else None),
        rejected_engines=tuple(f"{e.label}: {why}" for e, why in rejected),
        timings_s={"resolve": round(t1 - t0, 4), "estimate": round(t2 - t1, 4), "optimize": round(t3 - t2, 4)},
        solver=solver, certificate=_certificate(req, ctx) if infeasible else None)


def _optimize(table, setup, req: Request, slo) -> tuple[Plan | None, list[Plan], dict]:
    """Best plan and front of every requested mode, merged, with how far each answer is proved on the
    request's solver backend under its time limit (one deadline for all modes; solver/limits.py). The
    disaggregated part is the exact pair enumeration unless the request names a solver or a time limit
    (sloplan/solve_disagg.py says which, and `solver.disagg` in the result)."""
    from sloplan.solver.backends import BackendRefused
    from sloplan.solver.limits import Deadline

    from .solve_disagg import disagg_answer, merged_best, merged_front

    deadline = Deadline.after(req.time_limit_s)
    parts, fronts, method = [], [], {}
    try:
        if table is not None:
            best, best_outcome = best_plan_within(table, req.total_gpus, slo, backend=req.solver, deadline=deadline)
            front, front_outcome = pareto_plans_within(table, req.total_gpus, slo, backend=req.solver,
                                                       deadline=deadline)
            parts.append(("static/agg", best, best_outcome, front_outcome))
            fronts.append(front)
        if setup is not None:
            best, front, best_outcome, front_outcome, method["disagg"] = disagg_answer(setup, req, deadline)
            parts.append(("disagg", best, best_outcome, front_outcome))
            fronts.append(front)
    except BackendRefused as exc:
        raise InputError("solver", f"{exc}; accepted: a backend that takes this model") from None
    best = union_best(p[1] for p in parts)
    outcomes = {"best": merged_best([p[:3] for p in parts], best),
                "front": merged_front([(p[0], p[3]) for p in parts])}
    return best, union_front(fronts), {"name": req.solver, "time_limit_s": req.time_limit_s, **method,
                                       **{k: o.to_dict() for k, o in outcomes.items()}}


def _export(table, setup, best: Plan | None, req: Request, slo, path: Path, tolerance: float | None) -> None:
    """The best plan's model: the disaggregated MILP when that plan (or the only mode) is disaggregated,
    else the replica MIP (compact with a tolerance, which only the replica modes have)."""
    disagg = setup is not None and (table is None or (best is not None and best.groups[0].mode is ServingMode.DISAGG))
    if disagg and tolerance is not None:
        what = "the request plans only disagg" if table is None else "the best plan is disaggregated"
        raise InputError("export_tolerance", f"the compact model covers the replica (static/agg) modes and {what}; "
                                             "accepted: --export without --export-tolerance, or modes without disagg")
    if disagg:
        from .model_export import write_disagg_export

        write_disagg_export(setup.instance, path)
        return
    from .model_export import write_export

    write_export(table, req.total_gpus, slo, path, tolerance)


def _certificate(req: Request, ctx: Context):
    """Why nothing meets the SLOs, as `sloplan prove` shows it (sloplan/prove.py: over every requested mode)."""
    from .prove import certificate

    return certificate(req, ctx)


def resolve(req: Request) -> tuple[Context, list, list]:
    """The request's context and the engines that fit its budget (and why the others do not); no engine
    at all is bad input that says how many GPUs the smallest one needs (solve and size both start here)."""
    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    slots, rejected = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), req.total_gpus,
                                      req.max_batch_size)
    if not slots:
        raise _no_engine(ctx, req)
    return ctx, slots, rejected


def _no_engine(ctx: Context, req: Request) -> InputError:
    """No engine fits the budget: say how many GPUs the smallest fitting engine needs, if any does."""
    bigger, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 64, req.max_batch_size)
    if bigger:
        need = min(s.engine.gpus for s in bigger)
        return InputError("total_gpus", f"{req.total_gpus} GPUs is smaller than the smallest engine that fits "
                                        f"{ctx.arch.name} on {ctx.system.name} ({need} GPUs); accepted: ≥ {need}")
    return InputError("model", f"{ctx.arch.name} does not fit on {ctx.system.name} in any engine up to 64 GPUs "
                               f"with isl+osl={req.isl + req.osl}")


def _disagg_setup(req: Request, ctx: Context):
    """The disaggregated instance when the request plans that mode (sloplan/disagg_request.py)."""
    if ServingMode.DISAGG not in req.modes:
        return None
    from .disagg_request import disagg_setup

    return disagg_setup(req, ctx)


def _infeasible(table, setup, slo) -> str:
    """Why nothing meets the SLOs: the option table's reason where it has one, else disagg's."""
    if table is not None:
        return infeasibility_reason(table, slo)
    from sloplan.solver.disagg_infeasibility import disagg_infeasibility_reason

    return disagg_infeasibility_reason(setup.instance)


def verified(ctx: Context, plan: Plan, req: Request, setup=None) -> PlanPoint:
    """The best plan re-checked by the full estimator, with a launch command per replica group (for a
    disaggregated plan: the bundle of its prefill workers, decode workers and router)."""
    if plan.main.role is Role.PREFILL:
        from .disagg_request import check_disagg, launch_bundle

        decode = next(g for g in plan.groups if g.role is Role.DECODE)
        point = plan_point(plan, ctx.frontend_load(plan), check=check_disagg(setup, plan),
                           memory_gib=decode.slot.memory.as_gib, slack=_slack(req, plan, setup))
        bundle = launch_bundle(setup, plan, req.backend)
        nodes = bundle.to_dict()["nodes"]
        return replace(point, launch=bundle.text(), launch_nodes=None if nodes is None else tuple(nodes))
    launches = tuple(_launch(ctx, g, req) for g in plan.groups)
    return plan_point(plan, ctx.frontend_load(plan), launches=tuple(x.text for x in launches),
                      node_launches=tuple(x.nodes.to_list() if x.nodes else None for x in launches),
                      check=_check(ctx, plan), memory_gib=plan.main.slot.memory.as_gib,
                      slack=plan_slack(req.slo, plan.metrics))


def _slack(req: Request, plan: Plan, setup) -> float | None:
    """The plan's slack against the request's own SLOs (a disaggregated plan's over its instance:
    solver/disagg_slack.py, the prefill queueing recomputed at the scaled utilisation)."""
    from sloplan.solver.disagg_slack import any_plan_slack

    return any_plan_slack(req.slo, plan, None if setup is None else setup.instance)


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


def _launch(ctx: Context, group: PlanGroup, req: Request):
    """What starts one replica of the group's engine, admitting its concurrency (at most the running cap):
    one command, or one per node for an engine larger than a node of the system (generators/replica.py)."""
    from sloplan.generators import replica_launch

    slot = group.slot
    max_seqs = min(group.concurrency, slot.max_running)
    env = ()
    if ctx.arch.mlp.moe is not None:  # the expert kernels priced may need a switch (model/moe_ops.py)
        from sloplan.model.moe_ops import kernel_env

        env = kernel_env(ctx.arch, slot.engine, ctx.db.system, req.backend)
    return replica_launch(req.backend, ctx.arch, slot.engine, slot.memory, ctx.fw, ctx.workload, max_seqs,
                          gpus_per_node=ctx.db.system.gpus_per_node, env=env)
