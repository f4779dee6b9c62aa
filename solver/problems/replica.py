"""The replica problem: integer replica counts for one option table, GPU budget and SLO.

Variables ``n[i] >= 0`` integer: replicas of kept option ``rows[i]`` (after the exact reduction of
`reduction.py`), at most ``floor(N / gpus)``. Constraint groups (`ConstraintGroup`, the units an
explainer relaxes; each is one block named after its group):

* ``gpu_budget``      — ``sum gpus_i n_i <= N``; the lexicographic GPU tie-break lowers this bound.
* ``min_replicas``    — ``sum n_i >= 1``: a deployment has at least one replica.
* ``slo_ttft`` / ``slo_tpot`` / ``slo_request_latency`` — ``n_i <= 0`` for every option breaking that
  SLO, one named row each (labelled by table row) instead of silently dropped columns, so relaxing
  the group readmits exactly those options. `feasible_only` drops those columns instead (the fast
  path; the same optima, tests/test_solver_backends.py).
* ``user_speed_floor`` — ``n_i <= U_i`` per option; the Pareto tracer sets ``U_i = 0`` for options
  below the current floor epsilon and ``+inf`` otherwise, changing only row bounds.
* ``throughput_floor`` — ``sum tokens_per_s_i n_i >= T``; inactive (-inf) until a tie-break fixes T.

Objective: maximize ``sum tokens_per_s_i n_i`` (tokens/s/GPU is that over the fixed budget N).
The problem also inverts a solution: `solve(backend)` returns the `Deployment` of the optimum, and
`replica_plan` (or `ReplicaProblem.plan`) turns a Deployment of its table into a typed `Plan`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import Tier
from sloplan.model.option_table import OptionTable

from ..backends.base import EXACT, BackendResult, SolveOptions, SolverBackend, has_plan, solve_within_limits
from ..deployment import Deployment, exact_rate
from ..formulation import Constraint, Formulation, Sense, Variable
from ..groups import ConstraintGroup
from ..plan import Plan, PlanGroup, PlanMetrics
from ..reduction import undominated_rows
from ..slo import Slo

VAR = "n"
_G = ConstraintGroup


@dataclass(frozen=True, eq=False)
class ReplicaProblem:
    """A Formulation plus the map from its columns back to table rows."""

    table: OptionTable
    total_gpus: int
    rows: np.ndarray  # table row of column i
    formulation: Formulation

    @property
    def user_speed(self) -> np.ndarray:
        """tokens/s/user of each column's option (the exact values the floor compares against)."""
        return self.table.tokens_per_s_per_user[self.rows]

    @property
    def tokens_per_s(self) -> np.ndarray:
        return self.table.tokens_per_s[self.rows].astype(float)

    @property
    def gpus(self) -> np.ndarray:
        return self.table.gpus[self.rows].astype(float)

    def throughput_objective(self) -> dict[str, np.ndarray]:
        return {VAR: self.tokens_per_s}

    def gpu_objective(self) -> dict[str, np.ndarray]:
        return {VAR: self.gpus}

    def deployment(self, counts: np.ndarray) -> Deployment:
        """The Deployment of column counts (as returned by a backend for block `n`)."""
        counts = np.rint(counts).astype(np.int64)
        used = np.flatnonzero(counts > 0)
        return Deployment.from_counts(
            self.table, {int(self.rows[i]): int(counts[i]) for i in used}, self.total_gpus)

    def plan(self, deployment: Deployment) -> Plan:
        """The typed Plan of a Deployment over this problem's table."""
        return replica_plan(self.table, deployment)

    def solve(self, backend: SolverBackend, options: SolveOptions = EXACT) -> Deployment | None:
        """Solve `backend` (a built model of this formulation): the Deployment when optimal, None
        when proved infeasible, SolverError otherwise (never a silently non-optimal plan)."""
        result = backend.solve(options)
        if not result.proved_optimal():
            return None
        return self.deployment(backend.values(VAR, result))

    def solve_within(self, backend: SolverBackend, options: SolveOptions) -> tuple[Deployment | None, BackendResult]:
        """Like `solve`, but a limit is an answer too: the incumbent's Deployment (or None) and the
        result saying which limit stopped it and with what gap. SolverError only on a solver error."""
        result = solve_within_limits(backend, options)
        return (self.deployment(backend.values(VAR, result)) if has_plan(result) else None), result


def build_replica_problem(table: OptionTable, total_gpus: int, slo: Slo, reduce: bool = True,
                          feasible_only: bool = False) -> ReplicaProblem:
    """Formulate the problem of the module docstring; `reduce=False` keeps every fitting option.
    `feasible_only` keeps only SLO-meeting columns (the SLO groups are then empty): the same optima
    at a cost linear in the feasible rows, for callers that never relax an SLO (reduction.py)."""
    if int(total_gpus) != total_gpus or total_gpus < 1:
        raise ValueError(f"total_gpus must be a positive integer, got {total_gpus!r}")
    among = slo.allowed(table) if feasible_only else None
    rows = (undominated_rows(table, total_gpus, among) if reduce
            else np.flatnonzero((table.gpus <= total_gpus) & (True if among is None else among)))
    sub = table.take(rows)
    k = len(rows)
    gpus = sub.gpus.astype(float)
    cap = np.floor(total_gpus / np.maximum(gpus, 1))
    n = Variable(VAR, np.zeros(k), cap, integer=True)
    constraints = [
        Constraint.weighted_sum(_G.GPU_BUDGET.value, VAR, gpus, -np.inf, float(total_gpus), _G.GPU_BUDGET),
        Constraint.weighted_sum(_G.MIN_REPLICAS.value, VAR, np.ones(k), 1.0, np.inf, _G.MIN_REPLICAS),
    ]
    for kind, local in slo.violators(sub).items():
        c = Constraint.singletons(kind.group.value, VAR, local, 0.0, 0.0, kind.group)
        constraints.append(Constraint(c.name, c.terms, c.lb, c.ub, c.group, rows[local]))
    floor = Constraint.singletons(_G.USER_SPEED_FLOOR.value, VAR, np.arange(k), 0.0, np.inf, _G.USER_SPEED_FLOOR)
    constraints.append(Constraint(floor.name, floor.terms, floor.lb, floor.ub, floor.group, rows))
    constraints.append(Constraint.weighted_sum(_G.THROUGHPUT_FLOOR.value, VAR, sub.tokens_per_s, -np.inf,
                                               np.inf, _G.THROUGHPUT_FLOOR))
    formulation = Formulation((n,), tuple(constraints), {VAR: sub.tokens_per_s.astype(float)},
                              Sense.MAXIMIZE)
    return ReplicaProblem(table, int(total_gpus), rows, formulation)


def _group(table: OptionTable, row: int, count: int) -> PlanGroup:
    from sloplan.model.ops import Op

    return PlanGroup(
        row=row, slot=table.slot(row) if table.slots else None, mode=table.mode_of(row), role=table.role_of(row),
        pool=table.pool_of(row), count=count, concurrency=int(table.concurrency[row]),
        gpus_per_replica=int(table.gpus[row]), gpus_by_class=tuple(int(g) for g in table.gpus_by_class[row]),
        tokens_per_s=float(table.tokens_per_s[row]), requests_per_s=float(table.requests_per_s[row]),
        tier=Tier(int(table.tier[row])), tier_source=Op(int(table.source[row])))


def replica_plan(table: OptionTable, deployment: Deployment) -> Plan:
    """Invert a solution of the replica problem (a Deployment over `table`) into a Plan: one group per
    used row, largest first (ties keep row order); the plan's tier is its least-trusted row's (the
    first such row names the op to distrust)."""
    groups = sorted((_group(table, r, c) for r, c in deployment.replicas), key=lambda g: -g.gpus)
    rows = [r for r, _ in deployment.replicas]
    worst = rows[int(np.argmax(table.tier[rows]))]
    weakest = next(g for g in groups if g.row == worst)
    by_class = np.sum([table.gpus_by_class[r] * c for r, c in deployment.replicas], axis=0)
    d = deployment
    metrics = PlanMetrics(
        tokens_per_s=d.tokens_per_s, tokens_per_s_per_gpu=d.tokens_per_s_per_gpu,
        tokens_per_s_per_user=d.tokens_per_s_per_user,
        requests_per_s=exact_rate(table.requests_per_s, np.array(rows), np.array([c for _, c in d.replicas])),
        ttft_s=d.ttft_s, tpot_s=d.tpot_s, request_latency_s=d.request_latency_s, gpus_used=d.gpus_used,
        total_gpus=d.total_gpus)
    return Plan(groups=tuple(groups), metrics=metrics, tier=weakest.tier,
                tier_source=weakest.tier_source if weakest.tier >= Tier.EXTRAPOLATED else None,
                gpus_by_class=tuple((c, int(g)) for c, g in zip(table.gpu_classes, by_class)), deployment=d)
