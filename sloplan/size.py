"""`size(request, rate=…)` / `size(request, concurrency=…)`: the fewest GPUs (or, with `gpu_price_per_hour`,
the lowest cost per hour) that serve a target load under the request's SLOs, with the plan to run.

The GPU budget. For sizing, `total_gpus` is a cap, not a budget to fill: the answer uses as few GPUs
as it can and never more than the cap, and replicas are engines of at most that many GPUs. Without
`total_gpus` the fleet is uncapped and engines go up to `MAX_ENGINE_GPUS` (the size the peer's sizing
also stops at). When the cap is too small for the load, the result is infeasible (exit 3) and says how
many GPUs the load needs without the cap.

Robustness. `headroom h` plans for load `(1 + h)` higher (the target is multiplied by it, which is
the same as dividing every replica's rate by it) and for latencies `(1 + h)` slower (SLO limits
divided by it); `min_slack` tightens the SLOs the same way (solver/slack.py). The reported slack is
measured against the request's own SLOs.
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

    def to_dict(self) -> dict:
        return asdict(self)


def size(request: Request | dict | str | Path, *, rate: float | None = None,
         concurrency: float | None = None) -> SizeResult:
    """Exact sizing (solver/size.py) of `request` for `rate` requests/s or `concurrency` users."""
    from sloplan.model.options import option_table
    from sloplan.solver import infeasibility_reason
    from sloplan.solver.size import LoadTarget, copies_of_one, size_plan
    from sloplan.solver.slack import tightening_note

    t0 = time.perf_counter()
    target = _target(rate, concurrency)
    req, cap = _request(request)
    from .api import resolve

    ctx, slots, _ = resolve(req)
    t1 = time.perf_counter()
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, _replica_modes(req), req.max_batch_size,
                         ctx.calibration)
    t2 = time.perf_counter()
    prices = _prices(req, table.gpu_classes)
    planned = LoadTarget(target.kind, target.value * (1.0 + (req.headroom or 0.0)))
    slo = req.planning_slo
    found = size_plan(table, planned, slo, max_gpus=cap, price_per_gpu_hour=prices)
    one = copies_of_one(table, planned, slo, max_gpus=cap, price_per_gpu_hour=prices)
    reason = None
    if found is None:
        uncapped = size_plan(table, planned, slo, price_per_gpu_hour=prices) if cap is not None else None
        reason = (_cap_reason(planned, uncapped.sizing.gpus, cap) if uncapped is not None
                  else infeasibility_reason(table, slo) + tightening_note(req.headroom, req.min_slack))
    t3 = time.perf_counter()
    return SizeResult(
        request={**req.model_dump(mode="json"), "total_gpus": cap},
        data_version=f"{req.backend.value} {ctx.db.version}",
        target_kind=target.kind.value, target=target.value, planned_load=planned.value,
        objective="gpus" if prices is None else "cost_per_hour",
        plan=None if found is None else _rendered(ctx, found.plan, req),
        gpus=None if found is None else found.sizing.gpus,
        cost_per_hour=None if found is None or prices is None else found.sizing.cost,
        capacity=None if found is None else found.sizing.capacity, one_type_gpus=None if one is None else one[0],
        options=len(table), engines=len(slots),
        infeasible_reason=reason,
        timings_s={"resolve": round(t1 - t0, 4), "estimate": round(t2 - t1, 4), "optimize": round(t3 - t2, 4)})


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


def _rendered(ctx, plan, req: Request) -> PlanPoint:
    """The plan re-checked by the full estimator, with launch commands and its slack (as `solve`'s best)."""
    from .api import verified

    return verified(ctx, plan, req)


def _replica_modes(req) -> list:
    """Sizing mixes static/agg replicas (disaggregated pools in sizing are not built yet, README Known limits)."""
    from sloplan.model.option_table import MODES

    from .errors import InputError

    modes = [m for m in req.modes if m in MODES]
    if not modes:
        raise InputError("modes", "size plans static and agg replicas; accepted: modes that include static or agg")
    return modes
