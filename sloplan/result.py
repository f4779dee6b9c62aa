"""Typed results of `solve` and `estimate`; `to_dict` is the --json document (milliseconds at the edge)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sloplan.solver import Plan, PlanGroup


@dataclass(frozen=True)
class ReplicaGroup:
    """`count` replicas (workers) of one engine in one mode at one concurrency each; `role` is what the
    group does in the plan (agg, static, or a disaggregated plan's prefill / decode workers) and `launch`
    the command that starts one of its replicas (the best plan only; None for disaggregated workers so
    far); `pool` names where its replicas run, `system` that pool's GPU type, `gpus` the GPUs of one
    replica (= gpus_per_replica), and `requests_per_s` is what one of them completes per second.
    `concurrency` is per replica: a prefill worker's batch, a decode worker's requests in flight."""

    engine: str
    mode: str
    tp: int
    pp: int
    quant: str
    kv_cache_dtype: str
    gpus_per_replica: int
    concurrency: int
    count: int
    role: str = ""
    launch: str | None = None
    pool: str = ""
    requests_per_s: float = 0.0
    system: str = ""
    gpus: int = 0
    launch_nodes: tuple | None = None  # an engine over several nodes: [{node, address, commands}], node 0 first


@dataclass(frozen=True)
class Check:
    """The plan re-evaluated by the full estimator, and how far the surrogate (option table) was off."""

    ttft_ms: float
    tpot_ms: float
    tokens_per_s_per_gpu: float
    surrogate_error_pct: float


@dataclass(frozen=True)
class PlanPoint:
    """One deployment: what to run and what it achieves. `engine`/`mode` describe its main replica group."""

    mode: str
    engine: str
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    tokens_per_s: float
    ttft_ms: float
    tpot_ms: float
    request_latency_ms: float
    concurrency: int
    gpus_used: int
    total_gpus: int
    tier: str
    replicas: tuple[ReplicaGroup, ...]
    check: Check | None = None
    memory_gib: dict | None = None
    launch: str | None = None  # the main (first) replica group's command; every group has its own in `replicas`
    tier_source: str | None = None  # the op whose lookup made `tier` extrapolated/roofline, else None
    frontend_load: float = 0.0  # the busiest replica's tokens/s over its server's frontend limit (Estimate)
    requests_per_s: float = 0.0  # requests the whole plan completes per second
    slack: float | None = None  # how far its latencies may be underestimated before an SLO breaks (solver/slack.py)
    # a disaggregated plan's TTFT in parts (ms): prefill, queueing, kv_transfer, first_decode_step; else None
    ttft_breakdown_ms: dict | None = None
    # the launch as one entry per node where it spans nodes ({node, address, commands}; a disaggregated
    # bundle's also name the node's system), else None
    launch_nodes: tuple | None = None


def replica_group(group: "PlanGroup", launch: str | None = None, launch_nodes: tuple | None = None) -> ReplicaGroup:
    """The rendered form of one of a Plan's replica groups."""
    e = group.engine
    return ReplicaGroup(engine=e.label, mode=group.mode.value, tp=e.tp, pp=e.pp, quant=e.quant.gemm.value,
                        kv_cache_dtype=e.quant.kv.value, gpus_per_replica=group.gpus_per_replica,
                        concurrency=group.concurrency, count=group.count, role=group.role.value, launch=launch,
                        pool=group.pool.name, requests_per_s=group.requests_per_s, system=group.pool.system,
                        gpus=group.gpus_per_replica, launch_nodes=launch_nodes)


def plan_point(plan: "Plan", frontend_load: float, launches: tuple[str, ...] | None = None,
               check: Check | None = None, memory_gib: dict | None = None,
               slack: float | None = None, node_launches: tuple | None = None) -> PlanPoint:
    """The rendered form of a Plan (milliseconds, labels); `launches` has one command per group, in
    the plan's group order (`node_launches`: each group's per-node commands where it spans nodes, else
    None), and `check`/`memory_gib` come from verifying it (the best plan only)."""
    groups = tuple(replica_group(g, launches[i] if launches else None, node_launches[i] if node_launches else None)
                   for i, g in enumerate(plan.groups))
    main, m = groups[0], plan.metrics
    parts = getattr(plan.deployment, "ttft_parts_s", None)
    if parts is not None:  # disaggregated: the engine is both pools', the concurrency the decode workers'
        main = next(g for g in groups if g.role == "decode")
        engine = " + ".join(f"{g.count}{g.role[0].upper()}×{g.engine}" for g in groups)
    else:
        engine = main.engine
    return PlanPoint(
        mode=main.mode, engine=engine, tokens_per_s_per_user=m.tokens_per_s_per_user,
        tokens_per_s_per_gpu=m.tokens_per_s_per_gpu, tokens_per_s=m.tokens_per_s, ttft_ms=m.ttft_s * 1e3,
        tpot_ms=m.tpot_s * 1e3, request_latency_ms=m.request_latency_s * 1e3, concurrency=main.concurrency,
        gpus_used=m.gpus_used, total_gpus=m.total_gpus, tier=plan.tier.label, replicas=groups, check=check,
        memory_gib=memory_gib, launch=main.launch, launch_nodes=main.launch_nodes,
        tier_source=None if plan.tier_source is None else plan.tier_source.label,
        frontend_load=frontend_load, requests_per_s=m.requests_per_s, slack=slack,
        ttft_breakdown_ms=None if parts is None else dict(zip(TTFT_PARTS, (round(x * 1e3, 3) for x in parts))))


TTFT_PARTS = ("prefill", "queueing", "kv_transfer", "first_decode_step")


@dataclass(frozen=True)
class SolveResult:
    request: dict
    data_version: str
    best: PlanPoint | None
    front: tuple[PlanPoint, ...]
    options: int
    engines: int
    infeasible_reason: str | None = None
    rejected_engines: tuple[str, ...] = field(default_factory=tuple)
    timings_s: dict = field(default_factory=dict)
    # backend name, time limit, per part ("best", "front") {status, gap, detail} (solver/limits.py), and
    # "disagg": which method solved that mode, when planned (sloplan/solve_disagg.py)
    solver: dict = field(default_factory=dict)

    certificate: object | None = None  # sloplan.prove.Certificate when infeasible: why, and what fixes it

    @property
    def proved(self) -> bool:
        """Both parts proved (optimal or infeasible): no limit stopped the solver."""
        return all(self.solver.get(k, {}).get("status", "optimal") in ("optimal", "infeasible")
                   for k in ("best", "front"))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    """One configuration's metrics (`sloplan estimate`)."""

    model: str
    system: str
    backend: str
    data_version: str
    mode: str
    engine: str
    concurrency: int
    running: int
    ttft_ms: float
    tpot_ms: float
    request_latency_ms: float
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    tier: str
    tier_source: str | None  # the op whose lookup made `tier` extrapolated/roofline, else None
    memory_gib: dict
    # the server's output tokens/s over its frontend streaming limit (calibration): near 1 the
    # frontend, not the GPUs, bounds throughput and clients wait for their first token
    frontend_load: float = 0.0
    notes: tuple[str, ...] = ()  # costs held inside a measured kernel's time, not priced apart (attention sinks)

    def to_dict(self) -> dict:
        return asdict(self)
