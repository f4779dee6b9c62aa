"""The sizing problem: the cheapest integer mix of replica options that serves a target load under the SLOs.

Variables ``n[i] >= 0`` integer: replicas of kept option ``rows[i]``. Each option has a capacity
``cap_i`` in the target's unit (requests/s one replica completes at its concurrency, for a rate
target; the requests it holds in flight, for a concurrency target) and a cost ``cost_i`` (its GPUs,
or its GPUs of each class times their price per GPU-hour). Constraint groups (`ConstraintGroup`):

* ``load_target`` — ``sum cap_i n_i >= L``, one row per *stage* of a request. Today a replica serves
  whole requests, so there is one stage and one row. A disaggregated pool pair joins as a second
  stage: prefill columns put their rate in the prefill row, decode columns in the decode row, and an
  aggregated column (which does both) in both rows; the objective and every other group stay as
  they are. `stage_matrix` is that (stages x columns) block.
* ``gpu_budget`` — ``sum g_i n_i <= N``: the request's GPU cap (+inf without one); the GPU tie-break
  lowers it.
* ``cost_budget`` — ``sum cost_i n_i <= C``: inactive until the cost tie-break fixes C.
* ``slo_ttft`` / ``slo_tpot`` / ``slo_request_latency`` — ``n_i <= 0`` for every option breaking that
  SLO (named rows an explainer can relax); `feasible_only` drops those columns instead.
* ``user_speed_floor`` — ``n_i <= U_i``: the user-speed tie-break closes slower options.

Serving less than its capacity never breaks a replica's SLOs: fewer requests/s (or in flight) than
the row's operating point mean a smaller batch, whose TTFT and TPOT are no worse. So "meets the
SLOs at capacity" is the condition, and the load row only needs capacity >= load.

Column bounds ``n_i <= ceil(L / cap_i)`` (and ``<= floor(N / g_i)`` under a cap) lose nothing: with
every cost > 0, a plan with more replicas of one option than that still serves L after dropping one
of them, at a strictly lower cost, so no optimum of the first level (and hence of any tie-break
level, all of which keep the optimal cost) uses more.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sloplan.model.option_table import OptionTable

from ..backends.base import EXACT, SolveOptions, SolverBackend
from ..deployment import Deployment, exact_rate
from ..formulation import Constraint, Formulation, Sense, Terms, Variable
from ..groups import ConstraintGroup
from ..reduction import _undominated_in_class
from ..slo import Slo

VAR = "n"
_G = ConstraintGroup


@dataclass(frozen=True)
class Sizing:
    """One answer to a sizing problem: replica counts over table rows and the exact figures the
    lexicographic order compares (cost, GPUs, spare capacity, user speed)."""

    replicas: tuple[tuple[int, int], ...]  # (table row, count), rows ascending, counts > 0
    cost: float  # the objective: per hour at the given prices, or GPUs without prices (exact sum)
    gpus: int
    capacity: float  # the load it can serve, in the target's unit (exact sum)
    tokens_per_s_per_user: float  # the slowest used option's

    @property
    def key(self) -> tuple[float, int, float, float]:
        """Smaller is better: cost, then GPUs, then the most spare capacity, then the fastest users."""
        return self.cost, self.gpus, -self.capacity, -self.tokens_per_s_per_user

    def deployment(self, table: OptionTable) -> Deployment:
        """The same counts as a Deployment (tokens/s/GPU over the GPUs it uses: sizing buys no idle GPU)."""
        return Deployment.from_counts(table, dict(self.replicas), self.gpus)


def sizing_of(table: OptionTable, counts: dict[int, int], capacity: np.ndarray, cost: np.ndarray) -> Sizing:
    """The one definition of a sizing answer's figures (the MIP path and brute force both use it):
    sums rounded once, exactly, so equal mixes compare equal whatever order their terms come in."""
    items = sorted((int(r), int(c)) for r, c in counts.items() if int(c) > 0)
    rows, cnt = np.array([r for r, _ in items]), np.array([c for _, c in items])
    return Sizing(replicas=tuple(items), cost=exact_rate(cost, rows, cnt),
                  gpus=int(np.dot(table.gpus[rows].astype(np.int64), cnt)),
                  capacity=exact_rate(capacity, rows, cnt),
                  tokens_per_s_per_user=float(np.min(table.tokens_per_s_per_user[rows])))


def serves(capacity: float, load: float) -> bool:
    """capacity >= load, compared exactly (both are floats; no tolerance)."""
    return Fraction(capacity) >= Fraction(load)


@dataclass(frozen=True, eq=False)
class SizingProblem:
    """A Formulation plus the map from its columns back to table rows."""

    table: OptionTable
    rows: np.ndarray  # table row of column i
    capacity: np.ndarray  # per table row, in the target's unit
    cost: np.ndarray  # per table row
    load: float
    formulation: Formulation

    @property
    def user_speed(self) -> np.ndarray:
        return self.table.tokens_per_s_per_user[self.rows]

    def column_objective(self, per_row: np.ndarray) -> dict[str, np.ndarray]:
        return {VAR: np.asarray(per_row, dtype=float)[self.rows]}

    def sizing(self, counts: np.ndarray) -> Sizing:
        counts = np.rint(counts).astype(np.int64)
        used = np.flatnonzero(counts > 0)
        return sizing_of(self.table, {int(self.rows[i]): int(counts[i]) for i in used}, self.capacity, self.cost)

    def solve(self, backend: SolverBackend, options: SolveOptions = EXACT) -> Sizing | None:
        """The optimum of `backend` (a built model of this formulation) when optimal, None when proved
        infeasible, SolverError otherwise (a limit is never presented as optimal)."""
        result = backend.solve(options)
        if not result.proved_optimal():
            return None
        return self.sizing(backend.values(VAR, result))


def sizing_rows(table: OptionTable, capacity: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Rows of `among` that no other row of the same cost class (same GPUs of every class, hence the
    same cost and GPU count) weakly beats on capacity, user speed, TTFT and request latency. Swapping a
    beaten row for its better one keeps cost and GPUs, does not lower capacity or the slowest user's
    speed and breaks no SLO it met (for any SLO values), so no level of the lexicographic order needs
    it. Identical rows: one is kept."""
    fits = np.flatnonzero(among & (capacity > 0))
    if len(fits) == 0:
        return fits
    keys = np.column_stack([capacity[fits], table.tokens_per_s_per_user[fits], -table.ttft_s[fits],
                            -table.request_latency_s[fits]]).astype(float)
    classes = table.gpus_by_class[fits]
    keep = []
    for cls in {tuple(c) for c in classes.tolist()}:
        members = np.flatnonzero((classes == np.array(cls)).all(axis=1))
        order = members[np.lexsort((fits[members], *(-keys[members, j] for j in (3, 2, 1, 0))))]
        keep.append(fits[order[_undominated_in_class(keys[order])]])
    return np.sort(np.concatenate(keep))


def column_caps(load: float, capacity: np.ndarray, gpus: np.ndarray, max_gpus: int | None) -> np.ndarray:
    """Upper bounds of the replica counts (module docstring: they cut off no optimum)."""
    ub = np.ceil(load / capacity)
    return ub if max_gpus is None else np.minimum(ub, np.floor(max_gpus / gpus))


def build_sizing_problem(table: OptionTable, load: float, capacity: np.ndarray, cost: np.ndarray, slo: Slo,
                         max_gpus: int | None = None, feasible_only: bool = True) -> SizingProblem:
    """Formulate the problem of the module docstring. `capacity` and `cost` are per table row (> 0);
    `max_gpus` is the GPU cap (None: uncapped). `feasible_only` keeps only SLO-meeting columns."""
    if not (load > 0 and np.isfinite(load)):
        raise ValueError(f"the load target must be a finite number > 0, got {load!r}")
    if not (np.all(cost > 0) and np.all(np.isfinite(cost))):
        raise ValueError("every option's cost must be a finite number > 0")
    among = slo.allowed(table) if feasible_only else np.ones(len(table), dtype=bool)
    if max_gpus is not None:
        among &= table.gpus <= max_gpus
    rows = sizing_rows(table, np.asarray(capacity, dtype=float), among)
    sub, k = table.take(rows), len(rows)
    cap, gpus = np.asarray(capacity, dtype=float)[rows], sub.gpus.astype(float)
    n = Variable(VAR, np.zeros(k), column_caps(load, cap, gpus, max_gpus), integer=True)
    budget = np.inf if max_gpus is None else float(max_gpus)
    constraints = [
        _load_rows(stage_matrix(k), cap, load),
        Constraint.weighted_sum(_G.GPU_BUDGET.value, VAR, gpus, -np.inf, budget, _G.GPU_BUDGET),
        Constraint.weighted_sum(_G.COST_BUDGET.value, VAR, np.asarray(cost, float)[rows], -np.inf, np.inf,
                                _G.COST_BUDGET),
    ]
    for kind, local in slo.violators(sub).items():
        c = Constraint.singletons(kind.group.value, VAR, local, 0.0, 0.0, kind.group)
        constraints.append(Constraint(c.name, c.terms, c.lb, c.ub, c.group, rows[local]))
    floor = Constraint.singletons(_G.USER_SPEED_FLOOR.value, VAR, np.arange(k), 0.0, np.inf, _G.USER_SPEED_FLOOR)
    constraints.append(Constraint(floor.name, floor.terms, floor.lb, floor.ub, floor.group, rows))
    formulation = Formulation((n,), tuple(constraints), {VAR: np.asarray(cost, float)[rows]}, Sense.MINIMIZE)
    return SizingProblem(table, rows, np.asarray(capacity, dtype=float), np.asarray(cost, dtype=float),
                         float(load), formulation)


def stage_matrix(columns: int) -> np.ndarray:
    """Which stage each column serves (stages x columns, 0/1). Every option today serves whole requests:
    one stage, every column in it. Disaggregated prefill/decode columns would add a row each."""
    return np.ones((1, columns))


def _load_rows(stages: np.ndarray, capacity: np.ndarray, load: float) -> Constraint:
    """``sum_i stages[s, i] cap_i n_i >= load`` for every stage s: the load_target block."""
    s, i = np.nonzero(stages)
    terms = Terms(VAR, s, i, capacity[i] * stages[s, i])
    m = len(stages)
    return Constraint(_G.LOAD_TARGET.value, (terms,), np.full(m, float(load)), np.full(m, np.inf), _G.LOAD_TARGET)
