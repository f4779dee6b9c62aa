"""The sizing problem: the cheapest integer mix of replica options that serves a target load under the SLOs.

Variables ``n[i] >= 0`` integer: replicas of kept option ``rows[i]``. Each option has a capacity
``cap_i`` in the target's unit (requests/s one replica completes at its concurrency, for a rate
target; the requests it holds in flight, for a concurrency target) and a cost ``cost_i`` (its GPUs,
or its GPUs of each class times their price per GPU-hour). Constraint groups (`ConstraintGroup`):

* ``load_target`` — ``sum cap_i n_i + s >= L``: replicas serve whole requests; ``s`` is what the one
  disaggregated pool pair serves, bounded by its prefill and its decode pool in the `rate_balance`
  rows (problems/sizing_pairs.py, absent without a disaggregated instance).
* ``gpu_budget`` — ``sum g_i n_i (+ the pair's GPUs) <= N``: the request's GPU cap (+inf without
  one); the GPU tie-break lowers it.
* ``cost_budget`` — ``sum cost_i n_i (+ the pair's cost) <= C``: inactive until the cost tie-break.
* ``slo_ttft`` / ``slo_tpot`` / ``slo_request_latency`` — ``n_i <= 0`` for every option breaking that
  SLO (named rows an explainer can relax); `feasible_only` drops those columns instead.
* ``user_speed_floor`` — ``n_i <= U_i`` (and ``z_j <= U_j`` for the pairs): the user-speed
  tie-break closes slower options.

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

from ..backends.base import EXACT, SolveOptions, SolverBackend, has_plan, solve_within_limits
from ..deployment import Deployment
from ..formulation import Constraint, Formulation, Sense, Terms, Variable
from ..groups import ConstraintGroup
from ..reduction import _undominated_in_class
from ..slo import Slo
from .sizing_pairs import S, WD, WP, Z, pair_columns

VAR = "n"
_G = ConstraintGroup


@dataclass(frozen=True)
class Sizing:
    """One answer to a sizing problem: replica counts over table rows, at most one disaggregated pool
    pair, and the exact figures the lexicographic order compares (cost, GPUs, spare capacity, user speed)."""

    replicas: tuple[tuple[int, int], ...]  # (table row, count), rows ascending, counts > 0
    cost: float  # the objective: per hour at the given prices, or GPUs without prices (exact sum)
    gpus: int
    capacity: float  # the load it can serve, in the target's unit (exact sum)
    tokens_per_s_per_user: float  # the slowest used option's
    pair: tuple[int, int, int, int] | None = None  # (prefill row, decode row, prefill workers, decode workers)

    @property
    def key(self) -> tuple[float, int, float, float]:
        """Smaller is better: cost, then GPUs, then the most spare capacity, then the fastest users."""
        return self.cost, self.gpus, -self.capacity, -self.tokens_per_s_per_user

    def deployment(self, table: OptionTable) -> Deployment:
        """The same counts as a Deployment (tokens/s/GPU over the GPUs it uses: sizing buys no idle GPU)."""
        return Deployment.from_counts(table, dict(self.replicas), self.gpus)


def sizing_of(table: OptionTable | None, counts: dict[int, int], capacity: np.ndarray | None,
              cost: np.ndarray | None, pair: tuple[int, int, int, int] | None = None, pairs=None) -> Sizing:
    """The one definition of a sizing answer's figures (the MIP path and brute force both use it):
    sums rounded once, exactly, so equal mixes compare equal whatever order their terms come in. A
    `pair` with no worker on one side serves nothing and is dropped (`pairs`: its SizingPairs)."""
    items = sorted((int(r), int(c)) for r, c in counts.items() if int(c) > 0)
    cap_x = cost_x = Fraction(0)
    gpus, speed = 0, np.inf
    for r, c in items:
        cap_x += Fraction(float(capacity[r])) * c
        cost_x += Fraction(float(cost[r])) * c
        gpus += int(table.gpus[r]) * c
        speed = min(speed, float(table.tokens_per_s_per_user[r]))
    if pair is not None and min(pair[2], pair[3]) > 0:
        pc, pcost, pg, ps = pairs.figures(*pair)
        cap_x, cost_x, gpus, speed = cap_x + pc, cost_x + pcost, gpus + pg, min(speed, ps)
    else:
        pair = None
    return Sizing(replicas=tuple(items), cost=float(cost_x), gpus=gpus, capacity=float(cap_x),
                  tokens_per_s_per_user=float(speed), pair=pair)


def serves(capacity: float, load: float) -> bool:
    """capacity >= load, compared exactly (both are floats; no tolerance)."""
    return Fraction(capacity) >= Fraction(load)


@dataclass(frozen=True, eq=False)
class SizingProblem:
    """A Formulation plus the map from its columns back to table rows and disaggregated pairs."""

    table: OptionTable | None
    rows: np.ndarray  # table row of column i
    capacity: np.ndarray | None  # per table row, in the target's unit
    cost: np.ndarray | None  # per table row
    load: float
    formulation: Formulation
    pairs: object | None = None  # SizingPairs: the disaggregated columns, or None

    def _sub(self, per_row) -> np.ndarray:
        return np.asarray(per_row, dtype=float)[self.rows] if len(self.rows) else np.zeros(0)

    @property
    def user_speed(self) -> np.ndarray:
        """Per row of the user_speed_floor block: the replica columns', then the pairs'."""
        agg = self.table.tokens_per_s_per_user[self.rows] if len(self.rows) else np.zeros(0)
        return agg if self.pairs is None else np.concatenate([agg, self.pairs.speed])

    def cost_objective(self) -> dict[str, np.ndarray]:
        out = {VAR: self._sub(self.cost)}
        if self.pairs is not None:
            out |= {WP: self.pairs.prefill_cost, WD: self.pairs.decode_cost}
        return out

    def gpu_objective(self) -> dict[str, np.ndarray]:
        out = {VAR: self._sub(self.table.gpus) if self.table is not None else np.zeros(0)}
        if self.pairs is not None:
            out |= {WP: self.pairs.prefill_gpus, WD: self.pairs.decode_gpus}
        return out

    def capacity_objective(self) -> dict[str, np.ndarray]:
        out = {VAR: self._sub(self.capacity)}
        return out if self.pairs is None else out | {S: np.ones(1)}

    def sizing(self, backend: SolverBackend, result) -> Sizing:
        counts = np.rint(backend.values(VAR, result)).astype(np.int64)
        used = np.flatnonzero(counts > 0)
        pair = None
        if self.pairs is not None:
            wp = np.rint(backend.values(WP, result)).astype(np.int64)
            wd = np.rint(backend.values(WD, result)).astype(np.int64)
            active = np.flatnonzero((wp > 0) & (wd > 0))
            if len(active):
                j = int(active[0])
                pair = (int(self.pairs.prefill_row[j]), int(self.pairs.decode_row[j]), int(wp[j]), int(wd[j]))
        return sizing_of(self.table, {int(self.rows[i]): int(counts[i]) for i in used}, self.capacity, self.cost,
                         pair, self.pairs)

    def solve(self, backend: SolverBackend, options: SolveOptions = EXACT) -> Sizing | None:
        """The optimum of `backend` (a built model of this formulation) when optimal, None when proved
        infeasible, SolverError otherwise (a limit is never presented as optimal)."""
        result = backend.solve(options)
        if not result.proved_optimal():
            return None
        return self.sizing(backend, result)

    def solve_within(self, backend: SolverBackend, options: SolveOptions):
        """(Sizing or None, the backend result): under a limit, the incumbent (None without one)."""
        result = solve_within_limits(backend, options)
        return (self.sizing(backend, result) if has_plan(result) else None), result


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


def build_sizing_problem(table: OptionTable | None, load: float, capacity: np.ndarray | None,
                         cost: np.ndarray | None, slo: Slo, max_gpus: int | None = None, feasible_only: bool = True,
                         pairs=None) -> SizingProblem:
    """Formulate the problem of the module docstring. `capacity` and `cost` are per table row (> 0);
    `max_gpus` is the GPU cap (None: uncapped). `feasible_only` keeps only SLO-meeting columns.
    `table` None: no replica columns; `pairs` (problems/sizing_pairs.py): the disaggregated columns."""
    if not (load > 0 and np.isfinite(load)):
        raise ValueError(f"the load target must be a finite number > 0, got {load!r}")
    if table is not None and not (np.all(cost > 0) and np.all(np.isfinite(cost))):
        raise ValueError("every option's cost must be a finite number > 0")
    if table is None:
        rows, sub = np.zeros(0, np.int64), None
    else:
        among = slo.allowed(table) if feasible_only else np.ones(len(table), dtype=bool)
        if max_gpus is not None:
            among &= table.gpus <= max_gpus
        rows = sizing_rows(table, np.asarray(capacity, dtype=float), among)
        sub = table.take(rows)
    k = len(rows)
    cap = np.asarray(capacity, dtype=float)[rows] if k else np.zeros(0)
    gpus = sub.gpus.astype(float) if k else np.zeros(0)
    costs = np.asarray(cost, float)[rows] if k else np.zeros(0)
    variables = [Variable(VAR, np.zeros(k), column_caps(load, cap, gpus, max_gpus), integer=True)]
    budget = np.inf if max_gpus is None else float(max_gpus)
    extra = pair_columns(pairs, load, max_gpus, variables) if pairs is not None and len(pairs) else None
    constraints = [
        _sum_row(_G.LOAD_TARGET, [(VAR, cap)] + ([(S, np.ones(1))] if extra else []), float(load), np.inf),
        _sum_row(_G.GPU_BUDGET, [(VAR, gpus)] + ((extra.gpus) if extra else []), -np.inf, budget),
        _sum_row(_G.COST_BUDGET, [(VAR, costs)] + ((extra.cost) if extra else []), -np.inf, np.inf),
    ]
    if sub is not None:
        for kind, local in slo.violators(sub).items():
            c = Constraint.singletons(kind.group.value, VAR, local, 0.0, 0.0, kind.group)
            constraints.append(Constraint(c.name, c.terms, c.lb, c.ub, c.group, rows[local]))
    constraints.append(_speed_floor(k, extra))
    if extra:
        constraints += extra.rows
    objective = {VAR: costs} | ({WP: pairs.prefill_cost, WD: pairs.decode_cost} if extra else {})
    formulation = Formulation(tuple(variables), tuple(constraints), objective, Sense.MINIMIZE)
    return SizingProblem(table, rows, None if capacity is None else np.asarray(capacity, dtype=float),
                         None if cost is None else np.asarray(cost, dtype=float), float(load), formulation,
                         pairs if extra else None)


def _sum_row(group: ConstraintGroup, parts: list[tuple[str, np.ndarray]], lb: float, ub: float) -> Constraint:
    """One row ``lb <= sum over parts of coef . var <= ub`` named after its group."""
    terms = tuple(Terms(var, np.zeros(len(coef), np.int64), np.arange(len(coef)), coef) for var, coef in parts)
    return Constraint(group.value, terms, np.array([lb]), np.array([ub]), group)


def _speed_floor(k: int, extra) -> Constraint:
    """``n_i <= U_i`` for the replica columns, then ``z_j <= U_j`` for the pairs: one block, so the
    user-speed tie-break moves both with one call."""
    m = 0 if extra is None else extra.count
    terms = [Terms(VAR, np.arange(k), np.arange(k), np.ones(k))]
    if m:
        terms.append(Terms(Z, k + np.arange(m), np.arange(m), np.ones(m)))
    return Constraint(_G.USER_SPEED_FLOOR.value, tuple(terms), np.zeros(k + m), np.full(k + m, np.inf),
                      _G.USER_SPEED_FLOOR)
