"""Exact sizing (solver/size.py) against exhaustive search over the same option tables.

The oracle shares nothing with the MIP path except `sizing_of` (the one definition of a sizing's
figures): it enumerates every count vector whose cost is at most that of the cheapest single-option
plan (no optimum costs more), keeps those that serve the load exactly, and takes the lexicographic
minimum of (cost, GPUs, -capacity, -user speed). On the full real tables, where enumeration is out of
reach, a dynamic program over GPU counts gives the fewest GPUs and the most capacity at that count.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from sloplan.core.enums import Backend, LoadKind
from sloplan.model.option_table import Pool, class_columns
from sloplan.solver.problems.sizing import build_sizing_problem, serves, sizing_of
from sloplan.solver.size import LoadTarget, row_costs, size_deployment, size_plan
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_table, tie_heavy_table

MAX_VECTORS = 400_000


def brute_size(table, target: LoadTarget, slo: Slo, max_gpus=None, prices=None):
    """The lexicographically best sizing by enumeration (module docstring), or None."""
    cap, cost = target.capacity(table), row_costs(table, prices)
    ok = slo.allowed(table) & (cap > 0)
    if max_gpus is not None:
        ok &= table.gpus <= max_gpus
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return None
    ceiling = min(np.ceil(target.value / cap[r]) * cost[r] for r in rows) * (1 + 1e-12)
    ranges = [range(int(ceiling // cost[r]) + 1) for r in rows]
    assert np.prod([len(r) for r in ranges], dtype=float) <= MAX_VECTORS, "instance too large to enumerate"
    vecs = np.array(list(itertools.product(*ranges)), dtype=np.int64)
    served = vecs @ cap[rows]
    keep = served >= target.value * (1 - 1e-9)
    if max_gpus is not None:
        keep &= vecs @ table.gpus[rows] <= max_gpus
    best = None
    for v in vecs[keep]:
        if not v.any():
            continue
        s = sizing_of(table, {int(r): int(c) for r, c in zip(rows, v) if c}, cap, cost)
        if serves(s.capacity, target.value) and (best is None or s.key < best.key):
            best = s
    return best


def two_class_table(seed: int, rows: int = 5, quantized: bool = False):
    """A random table whose rows sit on two GPU systems (each row on one), for per-system prices."""
    t = random_table(rows, seed, gpu_sizes=(1, 2, 4), quantized=quantized)
    pools = (Pool.shared("sysA"), Pool.shared("sysB"))
    pool = np.random.default_rng(seed + 99).integers(0, 2, size=rows)
    return dataclasses.replace(t, pool=pool, pools=pools, gpus_by_class=class_columns(t.gpus, pool, pools))


def _key(s):
    return None if s is None else s.key


def _load(table, kind: LoadKind, per_gpu_multiple: float, rng) -> LoadTarget:
    """A target a handful of replicas serve: a multiple of the mean replica's capacity."""
    cap = LoadTarget(kind, 1.0).capacity(table)
    value = float(np.median(cap)) * per_gpu_multiple * rng.uniform(0.8, 1.2)
    return LoadTarget(kind, float(np.ceil(value)) if kind is LoadKind.CONCURRENCY else value)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_fewest_gpus_equals_exhaustive_search(seed, kind):
    rng = np.random.default_rng(seed)
    table = random_table(5, seed, gpu_sizes=(1, 2, 4), quantized=seed % 2 == 1)
    target = _load(table, kind, 3.0, rng)
    slo = Slo(tpot_s=float(np.quantile(table.tpot_s, 0.8)))
    got, truth = size_deployment(table, target, slo), brute_size(table, target, slo)
    assert truth is not None
    assert _key(got) == _key(truth)
    assert serves(got.capacity, target.value)
    assert all(slo.allowed(table)[r] for r, _ in got.replicas)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_lowest_cost_with_prices_per_system_equals_exhaustive_search(seed, kind):
    rng = np.random.default_rng(100 + seed)
    table = two_class_table(seed, quantized=seed % 3 == 0)
    prices = {"sysA": float(rng.choice([1.0, 2.5, 3.0])), "sysB": float(rng.choice([1.5, 2.5, 4.0]))}
    target = _load(table, kind, 3.0, rng)
    got, truth = size_deployment(table, target, price_per_gpu_hour=prices), brute_size(table, target, Slo(),
                                                                                       prices=prices)
    assert _key(got) == _key(truth)


@pytest.mark.parametrize("seed", range(8))
def test_a_gpu_cap_is_respected_and_exact(seed):
    rng = np.random.default_rng(200 + seed)
    table = random_table(4, seed, gpu_sizes=(1, 2, 4))
    target = _load(table, LoadKind.RATE, 3.0, rng)
    free = brute_size(table, target, Slo())
    for cap in (free.gpus, free.gpus - 1, max(free.gpus - 3, 1)):
        got, truth = size_deployment(table, target, max_gpus=cap), brute_size(table, target, Slo(), max_gpus=cap)
        assert _key(got) == _key(truth)
        assert got is None or got.gpus <= cap
    assert size_deployment(table, target, max_gpus=free.gpus - 1) is None  # the uncapped optimum is the minimum


@pytest.mark.parametrize("seed", range(20))
def test_tie_heavy_tables_pick_the_same_tie_break_as_brute_force(seed):
    table, n = tie_heavy_table(seed)
    for kind in LoadKind:
        target = LoadTarget(kind, float(np.ceil(LoadTarget(kind, 1.0).capacity(table).max() * 2.5)))
        assert _key(size_deployment(table, target)) == _key(brute_size(table, target, Slo()))


def test_mixing_replica_types_beats_copies_of_one():
    """4.8 req/s from options of 4 GPUs / 4 req/s and 1 GPU / 0.9 req/s: one of each (5 GPUs); copies of
    the best single candidate take 6 (ceil(4.8 / 0.9) = 6 of the small one; 2 x 4 of the large one)."""
    from sloplan.solver.synthetic import table_from_columns

    table = table_from_columns([4, 1], [4.0 * 128, 0.9 * 128], [0.01, 0.01])  # osl 128: 4 and 0.9 req/s
    got = size_deployment(table, LoadTarget(LoadKind.RATE, 4.8))
    assert got.gpus == 5 and got.replicas == ((0, 1), (1, 1))
    one_type = min(np.ceil(4.8 / table.requests_per_s[r]) * table.gpus[r] for r in range(2))
    assert one_type == 6


def test_no_slo_meeting_option_is_infeasible_and_the_formulation_names_its_groups():
    table = random_table(6, 3)
    target = LoadTarget(LoadKind.RATE, 5.0)
    assert size_deployment(table, target, Slo(tpot_s=1e-6)) is None
    cap, cost = target.capacity(table), row_costs(table, None)
    problem = build_sizing_problem(table, 5.0, cap, cost, Slo(tpot_s=float(np.median(table.tpot_s))),
                                   feasible_only=False)
    groups = {g.value for g in problem.formulation.groups()}
    assert {"load_target", "gpu_budget", "cost_budget", "slo_tpot", "user_speed_floor"} <= groups


def test_size_plan_is_a_typed_plan_of_the_same_counts():
    table = random_table(6, 5)
    found, outcome = size_plan(table, LoadTarget(LoadKind.CONCURRENCY, 300.0))
    assert outcome.proved
    assert sum(g.count * g.concurrency for g in found.plan.groups) >= 300
    assert found.plan.metrics.gpus_used == found.sizing.gpus == found.plan.metrics.total_gpus
    assert sorted((g.row, g.count) for g in found.plan.groups) == list(found.sizing.replicas)


def test_bad_targets_are_refused():
    with pytest.raises(ValueError):
        LoadTarget(LoadKind.RATE, 0.0)
    with pytest.raises(ValueError):
        LoadTarget(LoadKind.RATE, float("inf"))


# ------------------------------------------------------------------------------------------- real tables

def _fewest_gpus_by_dp(table, target: LoadTarget, slo: Slo):
    """(fewest GPUs, most capacity within that many GPUs) by an unbounded-knapsack dynamic program over
    the GPU count: best[g] = the most capacity any mix of at most g GPUs serves."""
    ok = slo.allowed(table)
    cap, gpus = target.capacity(table)[ok], table.gpus[ok]
    best = [0.0]
    while best[-1] < target.value * (1 - 1e-12):
        g = len(best)
        fits = gpus <= g
        reach = np.array(best)[g - gpus[fits]] + cap[fits]
        best.append(max(best[-1], float(reach.max()) if fits.any() else 0.0))
    return len(best) - 1, best[-1]


@pytest.fixture(scope="module")
def qwen_table():
    from sloplan.context import build_context
    from sloplan.model.options import fitting_engines, option_table

    ctx = build_context("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, None, 4000, 500, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 16, 512)
    from sloplan.model.option_table import MODES

    return option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(MODES), 512, ctx.calibration)


@pytest.mark.parametrize("target", [LoadTarget(LoadKind.RATE, 50.0), LoadTarget(LoadKind.RATE, 7.3),
                                    LoadTarget(LoadKind.CONCURRENCY, 1000.0), LoadTarget(LoadKind.CONCURRENCY, 77.0)],
                         ids=lambda t: f"{t.kind.value}-{t.value:g}")
def test_real_table_fewest_gpus_equals_dynamic_program(qwen_table, target):
    slo = Slo(ttft_s=2.0, tpot_s=0.030)
    got = size_deployment(qwen_table, target, slo)
    gpus, capacity = _fewest_gpus_by_dp(qwen_table, target, slo)
    assert got.gpus == gpus
    assert got.capacity == pytest.approx(capacity, rel=1e-12)  # the most spare capacity at that count
    assert serves(got.capacity, target.value)
    assert all(slo.allowed(qwen_table)[r] for r, _ in got.replicas)


@pytest.mark.parametrize("seed", range(4))
def test_real_rows_subsets_equal_exhaustive_search(qwen_table, seed):
    rng = np.random.default_rng(seed)
    slo = Slo(ttft_s=2.0, tpot_s=0.030)
    rows = rng.choice(np.flatnonzero(slo.allowed(qwen_table)), size=4, replace=False)
    table = qwen_table.take(rows)
    for target in (LoadTarget(LoadKind.RATE, 13.0), LoadTarget(LoadKind.CONCURRENCY, 150.0)):
        assert _key(size_deployment(table, target, slo)) == _key(brute_size(table, target, slo))
