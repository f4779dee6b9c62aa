"""Certificates over static/agg and disaggregated modes together equal brute force on small instances
(heterogeneous pools, per-pool limits, mixed pools among them): feasibility, every minimal conflicting
set over the union, tight bounds, and each single relaxation with the plan it unlocks."""
from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest

from cert_helpers import ALL, G, assert_bounds_tight, best_tokens, feasible, synthetic_union
from sloplan.core.enums import SloKind
from sloplan.solver.cert_union import covering_ms, with_limit
from sloplan.solver.cert_verify_union import verify_union

MODES = [("replica", "disagg"), ("disagg",), ("replica",)]
CASES = [(seed, modes, seed % 5 == 4) for seed in range(30) for modes in MODES]


def _case(seed, modes, mixed):
    return synthetic_union(seed, modes=modes, mixed=mixed)


@pytest.mark.parametrize("seed,modes,mixed", CASES)
def test_conflicts_and_bounds_equal_brute_force(seed, modes, mixed):
    u, raw = _case(seed, modes, mixed)
    groups = u.groups
    assert u.feasible(groups) == feasible(u, raw)
    infeasible = {s for k in range(len(groups) + 1) for s in map(frozenset, combinations(groups, k))
                  if not feasible(u, raw, kept=s | (ALL - set(groups)))}  # the others exclude nothing
    minimal = {s for s in infeasible if all(s - {g} not in infeasible for g in s)}
    assert set(u.conflicts()) == minimal
    assert_bounds_tight(u, raw)
    claimed = {b.group for b in u.bounds()}
    for kind in SloKind:  # a bound is claimed exactly when the others hold together
        if u.slo.limit(kind) is not None:
            assert (kind.group in claimed) == feasible(u, raw, kept=ALL - {kind.group})
    assert (G.GPU_BUDGET in claimed) == feasible(u, raw, kept=ALL - {G.GPU_BUDGET})


def _least_limit(u, raw, values, at) -> int | None:
    for v in values:
        if feasible(u, raw, **at(v)):
            return v
    return None


@pytest.mark.parametrize("seed,modes,mixed", CASES)
def test_relaxations_equal_brute_force(seed, modes, mixed):
    u, raw = _case(seed, modes, mixed)
    if u.feasible(u.groups):
        return
    found = {(r.kind, str(r.value)): r for r in u.relaxations()}
    kinds = {k for k, _ in found}
    for kind in SloKind:
        if u.slo.limit(kind) is None:
            continue
        bound = next((b for b in u.bounds() if b.group is kind.group), None)
        expect = bound is not None and bound.value > u.slo.limit(kind)
        assert (kind.group.value in kinds) == expect
        if expect:
            r = next(r for (k, _), r in found.items() if k == kind.group.value)
            assert r.value == bound.value  # the relaxation states the tight bound
            zero_load = isinstance(bound.row, tuple) and kind is not SloKind.TPOT  # a disagg pair's unloaded value
            assert (r.plan_limit is not None) == zero_load
            if zero_load:  # its plan: half the pair's prefill batch latency above it (cert_union.usable_limit)
                half = 0.5 * float(u.disagg.instance.prefill.latency_s[bound.row[0]])
                assert r.plan_limit == pytest.approx(bound.value + half, rel=1e-12)
            relaxed = with_limit(u.slo, kind, covering_ms(r.plan_limit or bound.value) / 1000.0)
            assert math.isclose(r.plan.metrics.tokens_per_s, best_tokens(u, raw, slo=relaxed), rel_tol=1e-9)
            dep = r.plan.deployment  # a plan on its utilisation cap meets its limit up to float rounding
            assert all(relaxed.limit(k) is None or getattr(dep, k.field) <= relaxed.limit(k) * (1 + 1e-12)
                       for k in SloKind)
    need = _least_limit(u, raw, range(u.total_gpus + 1, 40), at=lambda v: {"budget": v})
    assert ("gpu_budget" in kinds) == (need is not None and feasible(u, raw, kept=ALL - {G.GPU_BUDGET}))
    if "gpu_budget" in kinds:
        r = next(r for (k, _), r in found.items() if k == "gpu_budget")
        assert int(r.value) == need
        assert math.isclose(r.plan.metrics.tokens_per_s, best_tokens(u, raw, budget=need), rel_tol=1e-9)
    lifted = feasible(u, raw, lift=True)
    assert ("quantization" in kinds) == lifted
    if lifted:
        r = found[("quantization", "q8")]
        assert math.isclose(r.plan.metrics.tokens_per_s, best_tokens(u, raw, lift=True), rel_tol=1e-9)
    for i, name in enumerate(("max_prefill_gpus", "max_decode_gpus")):
        limit = raw["limits"][i]
        if limit is None or "disagg" not in modes:
            assert name not in kinds
            continue
        def at(v, i=i):
            return {"limits": tuple(v if j == i else raw["limits"][j] for j in range(2))}
        need = _least_limit(u, raw, range(limit + 1, 40), at=at)
        assert (name in kinds) == (need is not None)
        if need is not None:
            r = next(r for (k, _), r in found.items() if k == name)
            assert int(r.value) == need
            assert math.isclose(r.plan.metrics.tokens_per_s, best_tokens(u, raw, **at(need)), rel_tol=1e-9)
    if "disagg" not in modes:  # another mode: "with disagg"
        from cert_helpers import _disagg_best

        dep = _disagg_best(u, raw, ALL, u.slo, u.total_gpus, raw["limits"], anyway=True)
        assert (("mode", "disagg") in found) == (dep is not None)
        if dep is not None:
            assert math.isclose(found[("mode", "disagg")].plan.metrics.tokens_per_s, dep.tokens_per_s,
                                rel_tol=1e-9)


@pytest.mark.parametrize("seed,modes,mixed", CASES[::3])
def test_verify_agrees_and_catches_a_wrong_bound(seed, modes, mixed):
    u, _ = _case(seed, modes, mixed)
    bounds = {b.group: b.value for b in u.bounds()}
    feasible_ = u.feasible(u.groups)
    how, problems = verify_union(u, feasible_, set(u.conflicts()), bounds)
    assert problems == [], problems
    assert ("brute force" in how) or not u.replica.in_domain.any()
    if modes == ("disagg",):
        assert "(disagg)" in how
    if bounds:
        group = next(iter(bounds))
        wrong = dict(bounds)
        wrong[group] = wrong[group] + 1 if group is G.GPU_BUDGET else wrong[group] * 1.01
        assert verify_union(u, feasible_, set(u.conflicts()), wrong)[1]
    assert verify_union(u, not feasible_, set(u.conflicts()), bounds)[1]


def test_a_disagg_only_conflict_through_a_per_pool_limit():
    """Per-pool limits are a group of their own: with only small prefill workers allowed, a TTFT no small
    worker reaches conflicts with the limit, and raising the limit is the relaxation."""
    for seed in range(200):
        u, raw = synthetic_union(seed, modes=("disagg",), pool_limits=(1, None))
        if any(G.POOL_GPUS in c for c in u.conflicts()):
            break
    else:
        pytest.fail("no instance with a per-pool conflict among 200 seeds")
    assert not feasible(u, raw) and feasible(u, raw, kept=ALL - {G.POOL_GPUS})
    assert any(r.kind == "max_prefill_gpus" for r in u.relaxations())


def test_pairs_are_reduced_without_changing_any_answer():
    """The representative rows (solver/cert_disagg.py) give the same masks' answers as every pair."""
    for seed in range(20):
        u, _ = synthetic_union(seed, modes=("disagg",))
        d = u.disagg
        p, q = d.reps
        assert len(p) <= len(d.instance.prefill) and len(q) <= len(d.instance.decode)
        everything = replace(d)
        object.__setattr__(everything, "reps", (np.arange(len(d.instance.prefill)), np.arange(len(d.instance.decode))))
        for k in range(len(d.groups) + 1):
            for kept in combinations(d.groups, k):
                assert d.feasible(kept) == everything.feasible(kept)
        for kind in SloKind:
            if d.instance.slo.limit(kind) is not None:
                a, b = d.slo_bound(kind, d.groups), everything.slo_bound(kind, d.groups)
                assert (a is None) == (b is None) and (a is None or a.value == b.value)
