"""Property: on random tables, SLOs, budgets and mode sets, the certificate says feasible exactly when brute
force finds a plan, and every bound it reports is tight (feasible at it and a hair above, not a hair below)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloplan.core.enums import ConstraintGroup, ServingMode, SloKind
from sloplan.model.option_table import MODES
from sloplan.solver.brute import brute_best
from sloplan.solver.cert_replica import CertInstance
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_table

G = ConstraintGroup


@st.composite
def instances(draw):
    rows = draw(st.integers(1, 6))
    table = random_table(rows, draw(st.integers(0, 10_000)), gpu_sizes=(1, 2, 4))
    table = replace(table, mode=np.array(draw(st.lists(st.integers(0, len(MODES) - 1), min_size=rows,
                                                       max_size=rows))))
    limits = {}
    for kind in SloKind:
        q = draw(st.one_of(st.none(), st.floats(0.0, 1.0)))
        if q is not None:
            limits[kind.field] = float(np.quantile(getattr(table, kind.field), q)) * draw(st.sampled_from([0.99, 1.0]))
    modes = draw(st.sets(st.sampled_from(list(ServingMode)), min_size=1))
    mode = np.array([m.value for m in MODES])[table.mode]
    memory = np.array(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)))
    alternatives = {m.value: ("mode", mode == m.value) for m in ServingMode if m not in modes}
    return CertInstance(table, draw(st.integers(1, 6)), Slo(**limits), {G.MEMORY: memory},
                        np.isin(mode, [m.value for m in modes]), alternatives)


def brute(inst: CertInstance, slo: Slo | None = None, budget: int | None = None, extra=None) -> bool:
    """Brute force over the rows of the request's modes (plus `extra`) whose memory fits."""
    ok = (inst.in_domain if extra is None else inst.in_domain | extra) & ~inst.excluded[G.MEMORY]
    rows = np.flatnonzero(ok)
    return len(rows) > 0 and brute_best(inst.table.take(rows), budget or inst.total_gpus, slo or inst.slo) is not None


def with_limit(slo: Slo, kind: SloKind, value: float) -> Slo:
    return Slo(**{**{k.field: slo.limit(k) for k in SloKind}, kind.field: value})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_feasible_exactly_when_brute_force_finds_a_plan_and_bounds_are_tight(inst):
    assert inst.feasible(inst.groups) == brute(inst)
    assert (inst.conflicts() == ()) == brute(inst)
    for b in inst.bounds():
        if b.group is G.GPU_BUDGET:
            assert brute(inst, budget=int(b.value))
            assert b.value == 1 or not brute(inst, budget=int(b.value) - 1)
            continue
        kind = next(k for k in SloKind if k.group is b.group)
        assert brute(inst, with_limit(inst.slo, kind, b.value))
        assert brute(inst, with_limit(inst.slo, kind, b.value * (1 + 1e-9)))
        assert not brute(inst, with_limit(inst.slo, kind, math.nextafter(b.value, 0)))
    for r in inst.relaxations():
        if r.kind == "mode":
            assert brute(inst, extra=inst.alternatives[r.value][1])
            assert r.plan.metrics.gpus_used <= inst.total_gpus


@st.composite
def union_instances(draw):
    """Random static/agg tables and disaggregated pools together, with the request's modes drawn (disagg
    among them): solver/cert_union.py over both, brute force reading the raw columns (tests/cert_helpers.py)."""
    from cert_helpers import synthetic_union

    modes = draw(st.sampled_from([("replica", "disagg"), ("disagg",), ("replica",)]))
    limits = tuple(draw(st.one_of(st.none(), st.sampled_from([1, 2, 4]))) for _ in range(2))
    return synthetic_union(draw(st.integers(0, 100_000)), replica_rows=draw(st.integers(1, 5)), modes=modes,
                           mixed=draw(st.booleans()), budget=draw(st.integers(1, 8)), pool_limits=limits)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(union_instances())
def test_over_modes_with_disagg_feasible_exactly_when_brute_force_finds_a_plan_and_bounds_are_tight(case):
    from cert_helpers import assert_bounds_tight, feasible

    u, raw = case
    assert u.feasible(u.groups) == feasible(u, raw)
    assert (u.conflicts() == ()) == feasible(u, raw)
    assert_bounds_tight(u, raw)
    if not u.feasible(u.groups):
        for r in u.relaxations():
            assert r.plan is not None and r.plan.metrics.tokens_per_s > 0
