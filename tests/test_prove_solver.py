"""Certificates on synthetic instances equal brute force (solver/brute.py), and the generic search over a
Formulation's groups agrees with the replica problem's row checks."""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from sloplan.core.enums import ConstraintGroup, SloKind
from sloplan.solver.brute import brute_best
from sloplan.solver.cert_replica import CertInstance
from sloplan.solver.cert_verify import verify
from sloplan.solver.certificate import FormulationOracle, all_minimal_conflicts, deletion_filter, smallest_feasible
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_table

G = ConstraintGroup


def synthetic(seed: int, rows: int = 6):
    """A random instance: table, budget, SLOs at random quantiles, random memory / format exclusions,
    a domain (the request's modes) and one alternative (rows a relaxation readmits)."""
    rng = np.random.default_rng(seed)
    table = random_table(rows, seed, gpu_sizes=(1, 2, 4))
    budget = int(rng.integers(1, 6))
    limits = {}
    for kind in SloKind:
        col = getattr(table, kind.field)
        if rng.random() < 0.7:
            limits[kind.field] = float(np.quantile(col, rng.uniform(0.0, 0.8))) * rng.choice([0.999, 1.0])
    memory = rng.random(rows) < 0.25
    quant = rng.random(rows) < 0.25
    domain = rng.random(rows) < 0.8
    alt = quant & (rng.random(rows) < 0.6) | (~domain & (rng.random(rows) < 0.5))
    mode_alt = ~domain & (rng.random(rows) < 0.7)
    inst = CertInstance(table, budget, Slo(**limits), {G.MEMORY: memory, G.QUANTIZATION: quant}, domain,
                        {"alt": ("quantization", alt), "other mode": ("mode", mode_alt)})
    return inst, memory, quant, domain, alt


def brute_rows(inst: CertInstance, kept, memory, quant, domain, extra=None, slo=None, budget=None, lift=True):
    """Rows the kept groups allow, from the columns directly (not via CertInstance), and the budget."""
    t, slo = inst.table, slo or inst.slo
    ok = domain.copy() if extra is None else domain | extra
    if G.MEMORY in kept:
        ok &= ~memory
    if G.QUANTIZATION in kept:
        ok &= ~(quant & ~(extra if extra is not None and lift else np.zeros(len(t), bool)))
    for kind in SloKind:
        if kind.group in kept and slo.limit(kind) is not None:
            ok &= getattr(t, kind.field) <= slo.limit(kind)
    cap = inst.total_gpus if budget is None else budget
    return np.flatnonzero(ok), (cap if G.GPU_BUDGET in kept else int(t.gpus.max()))


def brute_feasible(inst, kept, memory, quant, domain, **kw) -> bool:
    rows, cap = brute_rows(inst, kept, memory, quant, domain, **kw)
    return len(rows) > 0 and brute_best(inst.table.take(rows), cap, Slo()) is not None


ALL = frozenset({G.GPU_BUDGET, G.MEMORY, G.QUANTIZATION, G.SLO_TTFT, G.SLO_TPOT, G.SLO_REQUEST_LATENCY})


@pytest.mark.parametrize("seed", range(40))
def test_conflicts_feasibility_and_bounds_equal_brute_force(seed):
    inst, memory, quant, domain, alt = synthetic(seed)
    groups = inst.groups
    feasible = brute_feasible(inst, ALL, memory, quant, domain)
    assert inst.feasible(groups) == feasible
    infeasible = {s for k in range(len(groups) + 1) for s in map(frozenset, combinations(groups, k))
                  if not brute_feasible(inst, s, memory, quant, domain)}
    minimal = {s for s in infeasible if all(s - {g} not in infeasible for g in s)}
    assert set(inst.conflicts()) == minimal
    for conflict in minimal:  # removing any one group of a set makes the rest feasible
        assert all(brute_feasible(inst, conflict - {g}, memory, quant, domain) for g in conflict)
    one = deletion_filter(groups, inst.feasible)
    assert (one is None) == feasible and (one is None or one in minimal)
    for b in inst.bounds():
        if b.group is G.GPU_BUDGET:
            assert brute_feasible(inst, ALL, memory, quant, domain, budget=int(b.value))
            assert b.value == 1 or not brute_feasible(inst, ALL, memory, quant, domain, budget=int(b.value) - 1)
            continue
        kind = next(k for k in SloKind if k.group is b.group)
        at = Slo(**{**{k.field: inst.slo.limit(k) for k in SloKind}, kind.field: b.value})
        hair = Slo(**{**{k.field: inst.slo.limit(k) for k in SloKind}, kind.field: b.value * (1 + 1e-9)})
        below = Slo(**{**{k.field: inst.slo.limit(k) for k in SloKind},
                       kind.field: math.nextafter(b.value, 0)})
        assert brute_feasible(inst, ALL, memory, quant, domain, slo=at)
        assert brute_feasible(inst, ALL, memory, quant, domain, slo=hair)
        assert not brute_feasible(inst, ALL, memory, quant, domain, slo=below)


@pytest.mark.parametrize("seed", range(40))
def test_relaxations_equal_brute_force(seed):
    inst, memory, quant, domain, alt = synthetic(seed)
    if inst.feasible(inst.groups):
        return
    found = {r.kind: r for r in inst.relaxations()}
    for kind in SloKind:
        if inst.slo.limit(kind) is None:
            continue
        bound = inst.slo_bound(kind)
        relaxed = None if bound is None else Slo(**{**{k.field: inst.slo.limit(k) for k in SloKind},
                                                    kind.field: bound.value})
        expect = relaxed is not None and bound.value > inst.slo.limit(kind)
        assert (kind.group.value in found) == expect
        if expect:
            rows, cap = brute_rows(inst, {G.MEMORY, G.QUANTIZATION, G.GPU_BUDGET}, memory, quant, domain)
            best = brute_best(inst.table.take(rows), cap, relaxed)
            assert found[kind.group.value].plan.metrics.tokens_per_s == best.tokens_per_s
    gpu = inst.gpu_bound()
    assert ("gpu_budget" in found) == (gpu is not None and gpu.value > inst.total_gpus)
    if "gpu_budget" in found:
        need = int(gpu.value)
        rows, _ = brute_rows(inst, ALL - {G.GPU_BUDGET}, memory, quant, domain)
        assert need == min(int(inst.table.gpus[r]) for r in rows)
        rows, _ = brute_rows(inst, {G.MEMORY, G.QUANTIZATION}, memory, quant, domain)
        rows = rows[inst.table.gpus[rows] <= need]
        assert found["gpu_budget"].plan.metrics.tokens_per_s == brute_best(inst.table.take(rows), need,
                                                                           inst.slo).tokens_per_s
    alt_ok = brute_feasible(inst, ALL, memory, quant, domain, extra=alt)
    assert ("quantization" in found) == alt_ok
    mode_alt = inst.alternatives["other mode"][1]
    assert ("mode" in found) == brute_feasible(inst, ALL, memory, quant, domain, extra=mode_alt, lift=False)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("compact", [True, False])
def test_the_generic_search_on_the_formulation_agrees_with_row_checks(seed, compact):
    inst, *_ = synthetic(seed, rows=8)
    oracle = FormulationOracle(inst.formulation(compact), frozenset(inst.groups))
    assert all_minimal_conflicts(inst.groups, oracle) == inst.conflicts()
    assert all(c.status in ("optimal", "infeasible") for c in oracle.checks)


@pytest.mark.parametrize("seed", range(12))
def test_verify_agrees_with_the_certificate_and_catches_a_wrong_one(seed):
    inst, *_ = synthetic(seed)
    bounds = {b.group: b.value for b in inst.bounds()}
    feasible = inst.feasible(inst.groups)
    how, problems = verify(inst, feasible, set(inst.conflicts()), bounds)
    assert problems == [] and "brute force" in how
    wrong = dict(bounds)
    wrong[G.GPU_BUDGET] = wrong.get(G.GPU_BUDGET, 0) + 1
    assert verify(inst, feasible, set(inst.conflicts()), wrong)[1]
    assert verify(inst, not feasible, set(inst.conflicts()), bounds)[1]


def test_smallest_feasible_is_the_least_feasible_candidate():
    values = [5.0, 1.0, 3.0, 3.0, 9.0]
    assert smallest_feasible(values, lambda v: v >= 3.0) == 3.0
    assert smallest_feasible(values, lambda v: v >= 10.0) is None
    assert smallest_feasible(values, lambda v: True) == 1.0


def test_enumeration_refuses_too_many_groups():
    with pytest.raises(ValueError, match="deletion_filter"):
        all_minimal_conflicts(tuple(G) * 2, lambda kept: True)
