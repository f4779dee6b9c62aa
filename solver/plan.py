"""Plan: what a solver answer means, typed — replica groups with their engine, role, pool and load, the
plan's metrics and how far to trust them.

A `Deployment` (deployment.py) is the solver's own answer: option rows and integer counts with their
exactly computed metrics, which is what the exactness tests compare with brute force. A `Plan` is the
same answer inverted into what to run, built by the problem that produced it (problems/replica.py:
`replica_plan`), so no caller maps rows back to engines by hand. It carries a `certificate` slot for
the proof that goes with an answer (an infeasibility or optimality certificate, a later issue); today
it is always None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sloplan.core.enums import Role, ServingMode, Tier
from sloplan.model.option_table import Pool

from .deployment import Deployment

if TYPE_CHECKING:
    from sloplan.model.engine import Engine
    from sloplan.model.ops import Op
    from sloplan.model.options import EngineSlot


@dataclass(frozen=True)
class PlanGroup:
    """`count` replicas of one option row: one engine in one mode and role, in one pool, each at
    `concurrency` requests in flight. Rates are per replica (the group serves `count` times them)."""

    row: int  # the option-table row the group runs
    slot: "EngineSlot | None"  # engine, memory plan, running cap (None for synthetic tables without engines)
    mode: ServingMode
    role: Role
    pool: Pool
    count: int
    concurrency: int
    gpus_per_replica: int
    gpus_by_class: tuple[int, ...]  # GPUs per replica of each of the table's gpu_classes
    tokens_per_s: float  # output tokens/s of one replica
    requests_per_s: float  # requests/s one replica completes
    tier: Tier
    tier_source: "Op"  # the op whose lookup set `tier` for this row

    @property
    def engine(self) -> "Engine | None":
        return self.slot.engine if self.slot is not None else None

    @property
    def gpus(self) -> int:
        """GPUs the whole group occupies."""
        return self.gpus_per_replica * self.count


@dataclass(frozen=True)
class PlanMetrics:
    """What the plan achieves on the option table's surrogate (the Deployment's exact figures).
    tokens_per_s_per_gpu divides by the budget: idle GPUs are paid for."""

    tokens_per_s: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float  # the slowest group's decode speed
    requests_per_s: float  # requests the whole plan completes per second
    ttft_s: float  # the worst group's
    tpot_s: float
    request_latency_s: float
    gpus_used: int
    total_gpus: int


@dataclass(frozen=True)
class Plan:
    """Replica groups (largest first: the first is the plan's main group), metrics and trust."""

    groups: tuple[PlanGroup, ...]
    metrics: PlanMetrics
    tier: Tier  # the least-trusted group's tier
    tier_source: "Op | None"  # the op to distrust when `tier` is extrapolated or roofline, else None
    gpus_by_class: tuple[tuple[str, int], ...]  # (GPU class = system, GPUs the plan occupies there)
    deployment: Deployment  # the solver's answer this plan inverts (rows and counts, exact metrics)
    certificate: object | None = None  # a proof that comes with the answer (a later issue); None today

    @property
    def main(self) -> PlanGroup:
        return self.groups[0]
