"""Typed results of `solve` and `estimate`; `to_dict` is the --json document (milliseconds at the edge)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ReplicaGroup:
    """`count` replicas of one engine in one mode at one concurrency each; `role` is what the group does
    in the plan (agg or static today, from its mode; prefill/decode pools later) and `launch` the command
    that starts one of its replicas (the best plan only)."""

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

    def to_dict(self) -> dict:
        return asdict(self)
