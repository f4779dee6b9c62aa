"""`size(request, rate=…)` / `size(request, concurrency=…)`: the fewest GPUs (or, with `gpu_price_per_hour`,
the lowest cost per hour) that serve a target load under the request's SLOs, with the plan to run.

The GPU budget. For sizing, `total_gpus` is a cap, not a budget to fill: the answer uses as few GPUs
as it can and never more than the cap, and replicas are engines of at most that many GPUs. Without
`total_gpus` the fleet is uncapped and engines go up to `MAX_ENGINE_GPUS` (the size the peer's sizing
also stops at). When the cap is too small for the load, the result is infeasible (exit 3) and says how
many GPUs the load needs without the cap.

Robustness. `headroom h` plans for load `(1 + h)` higher (the target is multiplied by it, which is
the same as dividing every replica's rate by it) and for latencies `(1 + h)` slower (SLO limits
divided by it; for disaggregated pools also the prefill utilisation cap computed at service times
(1 + h) longer: solver/disagg_slack.py); `min_slack` tightens the SLOs the same way (solver/slack.py)
without raising the load. The reported slack is measured against the request's own SLOs (a pool
pair's at the utilisation of its full capacity: a lower bound of its slack at the target load).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sloplan.core.enums import LoadKind

from .errors import InputError, shown
from .request import Request, parse_request
from .result import PlanPoint
from .robust_fields import PRICE_ACCEPTS, price_map

MAX_ENGINE_GPUS = 64


@dataclass(frozen=True)
class SizeResult:
    """What `sloplan size` prints; `to_dict` is its --json document. `plan` is None when infeasible."""

    request: dict  # total_gpus is the cap, None when the fleet is uncapped
    data_version: str
    target_kind: str  # rate (requests/s) or concurrency (requests in flight)
    target: float  # as asked
    planned_load: float  # the target times (1 + headroom)
    objective: str  # gpus or cost_per_hour
    plan: PlanPoint | None
    gpus: int | None = None
    cost_per_hour: float | None = None  # at the request's prices, when it has them
    capacity: float | None = None  # the load the plan can serve, in the target's unit
    one_type_gpus: int | None = None  # the cheapest ceil(load / capacity) copies of one option, same table
    options: int = 0
    engines: int = 0
    infeasible_reason: str | None = None
    timings_s: dict = field(default_factory=dict)
    # one entry per group of the plan: role, mode, system, engine, count, gpus (per worker), concurrency
    groups: tuple[dict, ...] = ()
    launch_bundle: str | None = None  # what starts the plan's disaggregated pool pair, when it has one
    solver: dict = field(default_factory=dict)  # backend name, time limit, status, gap, detail

    @property
    def proved(self) -> bool:
        return self.solver.get("status", "optimal") in ("optimal", "infeasible")

    def to_dict(self) -> dict:
        return asdict(self)


def size(request: Request | dict | str | Path, *, rate: float | None = None,
         concurrency: float | None = None) -> SizeResult:
    """Exact sizing (solver/size.py) of `request` for `rate` requests/s or `concurrency` users, over its
    modes: static/agg replicas and a disaggregated pool pair, alone or together (solver/problems/
    sizing_pairs.py says why a mixed fleet is allowed and what the router assumes)."""
    from sloplan.solver.limits import Deadline
    from sloplan.solver.size import LoadTarget, copies_of_one, size_plan

    t0 = time.perf_counter()
    target = _target(rate, concurrency)
    req, cap = _request(request)
    from .api import resolve

    ctx, slots, _ = resolve(req)
    t1 = time.perf_counter()
    table, setup = _tables(req, ctx, slots)
    t2 = time.perf_counter()
    prices = _prices(req, _systems(table, setup))
    planned = LoadTarget(target.kind, target.value * (1.0 + (req.headroom or 0.0)))
    slo, inst = req.planning_slo, None if setup is None else setup.instance
    found, outcome = size_plan(table, planned, slo, max_gpus=cap, price_per_gpu_hour=prices, backend=req.solver,
                               disagg=inst, deadline=Deadline.after(req.time_limit_s))
    one = copies_of_one(table, planned, slo, max_gpus=cap, price_per_gpu_hour=prices) if table is not None else None
    reason = None if found is not None or not outcome.proved else _why_not(table, inst, planned, slo, cap, prices,
                                                                            req)
    t3 = time.perf_counter()
    point, bundle = (None, None) if found is None else _rendered(ctx, found, req, setup)
    return SizeResult(
        request={**req.model_dump(mode="json"), "total_gpus": cap},
        data_version=f"{req.backend.value} {ctx.db.version}",
        target_kind=target.kind.value, target=target.value, planned_load=planned.value,
        objective="gpus" if prices is None else "cost_per_hour", plan=point,
        gpus=None if found is None else found.sizing.gpus,
        cost_per_hour=None if found is None or prices is None else found.sizing.cost,
        capacity=None if found is None else found.sizing.capacity, one_type_gpus=None if one is None else one[0],
        options=(len(table) if table is not None else 0) + (setup.options if setup else 0),
        engines=len(slots) + (setup.other_engines if setup else 0), infeasible_reason=reason,
        timings_s={"resolve": round(t1 - t0, 4), "estimate": round(t2 - t1, 4), "optimize": round(t3 - t2, 4)},
        groups=() if point is None else tuple(_group(g) for g in point.replicas), launch_bundle=bundle,
        solver={"name": req.solver, "time_limit_s": req.time_limit_s, **outcome.to_dict()})


def _tables(req: Request, ctx, slots):
    """The static/agg option table and the disaggregated setup of the request's modes (None where absent)."""
    from sloplan.core.enums import ServingMode
    from sloplan.model.options import option_table

    modes = _replica_modes(req)
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, modes, req.max_batch_size,
                         ctx.calibration) if modes else None
    if ServingMode.DISAGG not in req.modes:
        return table, None
    if req.mixed_pools:
        raise InputError("mixed_pools", "size plans one engine type per pool (got true); accepted: false")
    from .disagg_request import disagg_setup

    return table, disagg_setup(req, ctx)


def _systems(table, setup) -> tuple[str, ...]:
    systems = list(table.gpu_classes) if table is not None else []
    if setup is not None:
        systems += list(setup.instance.gpu_classes)
    return tuple(dict.fromkeys(systems))


def _why_not(table, inst, planned, slo, cap, prices, req) -> str:
    """Why no plan serves the target: the GPU cap (with what the load needs without it), or the SLOs."""
    from sloplan.solver import infeasibility_reason
    from sloplan.solver.size import size_deployment
    from sloplan.solver.slack import tightening_note

    if cap is not None:
        uncapped = size_deployment(table, planned, slo, price_per_gpu_hour=prices, backend=req.solver, disagg=inst)
        if uncapped is not None:
            return _cap_reason(planned, uncapped.gpus, cap)
    if table is not None:
        return infeasibility_reason(table, slo) + tightening_note(req.headroom, req.min_slack)
    from sloplan.solver.disagg_infeasibility import disagg_infeasibility_reason

    return disagg_infeasibility_reason(inst) + tightening_note(req.headroom, req.min_slack)


def _group(g) -> dict:
    return {"role": g.role, "mode": g.mode, "system": g.system, "engine": g.engine, "count": g.count,
            "gpus": g.gpus_per_replica, "concurrency": g.concurrency, "requests_per_s": g.requests_per_s}


def _target(rate: float | None, concurrency: float | None):
    from sloplan.solver.size import LoadTarget

    if (rate is None) == (concurrency is None):
        raise InputError("rate", "give exactly one load target; accepted: --rate REQUESTS_PER_S or "
                                 "--concurrency USERS")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate > 0):
            raise InputError("rate", f"not a finite number > 0 (got {shown(rate)}); accepted: requests/s > 0")
        return LoadTarget(LoadKind.RATE, float(rate))
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError("concurrency", f"not an integer ≥ 1 (got {shown(concurrency)}); accepted: an integer ≥ 1 "
                                        "(concurrent users)")
    return LoadTarget(LoadKind.CONCURRENCY, float(concurrency))


def _request(request: Request | dict | str | Path) -> tuple[Request, int | None]:
    """The request with `total_gpus` as the engines' limit, and the cap (None: uncapped)."""
    if isinstance(request, Request):
        return request, request.total_gpus
    if isinstance(request, (str, Path)):
        from .safe_yaml import load_yaml

        request = load_yaml(Path(request))
    if not isinstance(request, dict):
        return parse_request(request), None  # refused there, with the one wording
    cap = request.get("total_gpus")
    req = parse_request({**request, "total_gpus": MAX_ENGINE_GPUS} if cap is None else request)
    return req, None if cap is None else req.total_gpus


def _prices(req: Request, systems: tuple[str, ...]) -> dict[str, float] | None:
    prices = price_map(req.gpu_price_per_hour, systems)
    if prices is not None and len(prices) < len(systems):
        missing = ", ".join(s for s in systems if s not in prices)
        raise InputError("gpu_price_per_hour", f"no price for {missing}; accepted: {PRICE_ACCEPTS}")
    return prices


def _cap_reason(target, needed: int, cap: int) -> str:
    unit = "req/s" if target.kind is LoadKind.RATE else "concurrent requests"
    return (f"serving {target.value:g} {unit} under the SLOs needs {needed} GPUs; total_gpus caps it at {cap} "
            "(raise it, or leave it out to size without a cap)")


def _rendered(ctx, found, req: Request, setup) -> tuple[PlanPoint, str | None]:
    """The plan re-checked by the full estimator, with launch commands and its slack (as `solve`'s best);
    a pool pair's part is verified over its own instance and launched by its bundle."""
    from dataclasses import replace

    from .api import verified

    parts = []
    if found.replica is not None:
        parts.append(verified(ctx, found.replica, req))
    bundle = None
    if found.disagg is not None:
        pair = verified(ctx, found.disagg, req, replace(setup, instance=found.instance))
        bundle = pair.launch
        parts.append(pair)
    if len(parts) == 1:
        return parts[0], bundle
    return _fleet_point(found.plan, parts, req), bundle


def _fleet_point(plan, parts: list[PlanPoint], req: Request) -> PlanPoint:
    """One PlanPoint of a fleet of replicas and a pool pair: the fleet's figures, each part's groups
    with their launch commands (the pair's workers are started by its bundle), the checks merged."""
    from dataclasses import replace

    from .result import Check, plan_point

    slacks = [p.slack for p in parts if p.slack is not None]  # the fleet breaks when its weakest part does
    point = plan_point(plan, max(p.frontend_load for p in parts), slack=min(slacks) if slacks else None)
    checks = [p.check for p in parts if p.check is not None]
    check = None if len(checks) < len(parts) else Check(
        ttft_ms=max(c.ttft_ms for c in checks), tpot_ms=max(c.tpot_ms for c in checks),
        tokens_per_s_per_gpu=sum(c.tokens_per_s_per_gpu * p.gpus_used for c, p in zip(checks, parts))
        / plan.metrics.gpus_used, surrogate_error_pct=max(c.surrogate_error_pct for c in checks))
    return replace(point, replicas=tuple(g for p in parts for g in p.replicas), check=check,
                   memory_gib=parts[0].memory_gib, launch=parts[0].launch)


def _replica_modes(req) -> list:
    """The request's static/agg modes (the option table's); empty when it sizes disaggregated pools only."""
    from sloplan.model.option_table import MODES

    return [m for m in req.modes if m in MODES]
