"""Typed Plans: built by the replica problem from its solutions, one group per used row with its engine,
role, pool and load; the rate column is output tokens/s over osl; per-GPU-class costs add up."""
import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.model.framework import Backend
from sloplan.model.option_table import MODES, Pool
from sloplan.model.options import fitting_engines, option_table
from sloplan.solver import Deployment, Slo, best_deployment, best_plan, pareto_front, pareto_plans
from sloplan.solver.problems.replica import replica_plan
from sloplan.solver.synthetic import random_table

OSL = 500


@pytest.fixture(scope="module")
def table():
    ctx = build_context("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, None, 4000, OSL, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 7, 64)
    return option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(MODES), 64, ctx.calibration)


def test_rate_column_is_output_tokens_over_osl_and_obeys_littles_law(table):
    assert np.array_equal(table.requests_per_s, table.tokens_per_s / OSL)
    static = table.mode == MODES.index(MODES[0])
    # a static batch of `concurrency` requests completes them all once per request latency
    assert np.allclose(table.requests_per_s[static] * table.request_latency_s[static], table.concurrency[static])


def test_every_row_is_in_the_one_pool_of_its_system_and_costs_its_gpus_there(table):
    assert table.pools == (Pool.shared("h200_sxm"),) and table.gpu_classes == ("h200_sxm",)
    assert np.array_equal(table.gpus_by_class[:, 0], table.gpus)
    assert np.allclose(table.cost_per_hour({"h200_sxm": 2.5}), 2.5 * table.gpus)
    with pytest.raises(ValueError):
        table.cost_per_hour({})


def test_the_best_plan_inverts_the_best_deployment(table):
    slo = Slo(ttft_s=2.0, tpot_s=0.03)
    assert best_plan(table, 7, slo).deployment == best_deployment(table, 7, slo)


def test_a_mixed_plan_has_one_group_per_row(table):
    tp1 = int(np.flatnonzero(table.gpus == 1)[40])
    tp2 = int(np.flatnonzero(table.gpus == 2)[10])
    dep = Deployment.from_counts(table, {tp1: 1, tp2: 3}, 7)
    plan = replica_plan(table, dep)
    assert plan.deployment == dep and len(plan.groups) == 2 and plan.certificate is None
    assert sorted((g.row, g.count) for g in plan.groups) == list(dep.replicas)
    assert [g.gpus for g in plan.groups] == sorted((g.gpus for g in plan.groups), reverse=True)
    for g in plan.groups:
        assert g.slot is table.slot(g.row) and g.engine.gpus == g.gpus_per_replica
        assert (g.mode, g.role, g.pool) == (table.mode_of(g.row), table.role_of(g.row), table.pool_of(g.row))
        assert g.concurrency == table.concurrency[g.row] and g.requests_per_s == table.requests_per_s[g.row]
    m = plan.metrics
    assert (m.tokens_per_s, m.gpus_used, m.ttft_s) == (dep.tokens_per_s, dep.gpus_used, dep.ttft_s)
    assert m.requests_per_s == pytest.approx(m.tokens_per_s / OSL, rel=1e-12)
    assert dict(plan.gpus_by_class) == {"h200_sxm": dep.gpus_used}
    assert plan.tier == max(g.tier for g in plan.groups)


def test_front_plans_invert_the_front(table):
    front, plans = pareto_front(table, 7, Slo()), pareto_plans(table, 7, Slo())
    assert [p.deployment for p in plans] == front and len(front) > 5


def test_synthetic_plans_have_no_engine_but_rows_and_pools():
    table = random_table(8, 3)
    dep = Deployment.from_counts(table, {0: 1, 3: 2}, 16)
    plan = replica_plan(table, dep)
    assert {g.row for g in plan.groups} == {0, 3} and all(g.slot is None for g in plan.groups)
    assert plan.main.pool.name == "synthetic"
