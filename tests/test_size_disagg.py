"""Sizing with disaggregated pool pairs (alone or beside static/agg replicas) against exhaustive search.

The oracle enumerates every replica count vector and every (prefill row, decode row, prefill workers,
decode workers) of the *unreduced* instance whose cost is at most that of the cheapest single-type
plan, in floats to shortlist, then re-evaluates the shortlist with `sizing_of` (the one definition of a
sizing's figures, shared with the MIP path) and takes the lexicographic minimum of (cost, GPUs,
-capacity, -user speed). It shares nothing else with the MIP path: no pair reduction, no worker caps.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloplan.core.enums import LoadKind
from sloplan.model.option_table import Pool, class_columns
from sloplan.solver.problems.sizing import serves, sizing_of
from sloplan.solver.problems.sizing_pairs import pair_capacity, sizing_pairs, worker_costs
from sloplan.solver.size import LoadTarget, row_costs, size_deployment, size_plan
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_disagg, random_table

_TOL = 1e-9


def _pair_options(inst, kind, prices, ceiling, max_gpus):
    """Every (p, d, k, m) with both counts >= 1, cost <= ceiling, within the pool limits and GPU cap,
    with float (cost, gpus, capacity, speed)."""
    P, D = inst.prefill, inst.decode
    cost_p, cost_d = worker_costs(inst, prices)
    out = []
    for p, d in itertools.product(range(len(P)), np.flatnonzero(inst.decode_allowed)):
        c = inst.rho[p, d] * P.requests_per_s[p]
        if c <= 0:
            continue
        for k in range(1, int(ceiling // cost_p[p]) + 1):
            for m in range(1, int((ceiling - k * cost_p[p]) // cost_d[d]) + 1):
                gp, gd = int(P.gpus[p]) * k, int(D.gpus[d]) * m
                if inst.max_prefill_gpus is not None and gp > inst.max_prefill_gpus:
                    continue
                if inst.max_decode_gpus is not None and gd > inst.max_decode_gpus:
                    continue
                if max_gpus is not None and gp + gd > max_gpus:
                    continue
                cap = (min(c * k, D.requests_per_s[d] * m) if kind is LoadKind.RATE
                       else D.concurrency[d] * min(m, np.floor(c * k / D.requests_per_s[d] * (1 + _TOL))))
                out.append(((p, d, k, m), k * cost_p[p] + m * cost_d[d], gp + gd, cap,
                            D.tokens_per_s_per_user[d]))
    return out


def brute(table, inst, target: LoadTarget, slo: Slo, prices=None, max_gpus=None):
    """The lexicographically best sizing by enumeration (module docstring), or None."""
    load = target.value
    rows = np.zeros(0, int)
    if table is not None:
        cap, cost = target.capacity(table), row_costs(table, prices)
        ok = slo.allowed(table) & (cap > 0)
        if max_gpus is not None:
            ok &= table.gpus <= max_gpus
        rows = np.flatnonzero(ok)
    pairs = []
    singles = [np.ceil(load / cap[r]) * cost[r] for r in rows if max_gpus is None
               or np.ceil(load / cap[r]) * table.gpus[r] <= max_gpus]
    ceiling = min(singles) if singles else np.inf
    if max_gpus is not None:  # no plan within the cap costs more than the cap at the dearest price
        ceiling = min(ceiling, max_gpus * max((prices or {"": 1.0}).values()) * (1 + _TOL))
    if inst is not None:
        reach = min(ceiling, _pair_ceiling(inst, target, prices) if max_gpus is None else np.inf)
        free = _pair_options(inst, target.kind, prices, reach, max_gpus) if np.isfinite(reach) else []
        ceiling = min([ceiling] + [o[1] for o in free if o[3] >= load * (1 - _TOL)])
        pairs = [o for o in free if o[1] <= ceiling * (1 + _TOL)]
    if not np.isfinite(ceiling):
        return None  # uncapped, replicas alone serve any load: no replica and no lone pair means no plan
    ranges = [range(int(ceiling * (1 + _TOL) // cost[r]) + 1) for r in rows]
    vecs = np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(
        int(np.prod([len(r) for r in ranges])), len(rows))
    a_cost = vecs @ cost[rows] if len(rows) else np.zeros(len(vecs))
    a_gpus = vecs @ table.gpus[rows] if len(rows) else np.zeros(len(vecs))
    a_cap = vecs @ cap[rows] if len(rows) else np.zeros(len(vecs))
    options = [(None, 0.0, 0, 0.0)] + [(o[0], o[1], o[2], o[3]) for o in pairs]
    shortlist = []
    for pair, pc, pg, pcap in options:
        ok = (a_cap + pcap >= load * (1 - _TOL)) & (a_cost + pc <= ceiling * (1 + _TOL))
        ok &= vecs.any(axis=1) | (pair is not None)
        if max_gpus is not None:
            ok &= a_gpus + pg <= max_gpus
        for v in vecs[ok]:
            shortlist.append((pair, v))
    best = None
    for pair, v in shortlist:
        counts = {int(r): int(c) for r, c in zip(rows, v) if c}
        s = sizing_of(table, counts, None if table is None else cap, None if table is None else cost, pair,
                      None if inst is None else sizing_pairs(inst, target.kind, prices))
        if serves(s.capacity, load) and (best is None or s.key < best.key):
            best = s
    return best


def _pair_ceiling(inst, target, prices):
    """The cost of the cheapest one-pair plan that serves the load alone within the pool limits (inf if
    none): k and m as the load needs them (rounded up with a margin), over every pair."""
    P, D = inst.prefill, inst.decode
    cost_p, cost_d = worker_costs(inst, prices)
    best = np.inf
    for p, d in itertools.product(range(len(P)), np.flatnonzero(inst.decode_allowed)):
        c = inst.rho[p, d] * P.requests_per_s[p]
        if c <= 0:
            continue
        per = D.requests_per_s[d] if target.kind is LoadKind.RATE else D.concurrency[d]
        m = np.ceil(target.value / per * (1 - _TOL))  # the fewest that serve it (`serves`' tolerance)
        k = (np.ceil(target.value * (1 - _TOL) / c) if target.kind is LoadKind.RATE
             else np.ceil(m * D.requests_per_s[d] / (c * (1 + _TOL))))  # _pair_options' floor, with its margin
        if inst.max_prefill_gpus is not None and k * P.gpus[p] > inst.max_prefill_gpus:
            continue
        if inst.max_decode_gpus is not None and m * D.gpus[d] > inst.max_decode_gpus:
            continue
        best = min(best, k * cost_p[p] + m * cost_d[d])
    return best * (1 + _TOL)


def _key(s):
    return None if s is None else s.key


def _small_table(seed, rows=2):
    t = random_table(rows, seed, gpu_sizes=(1, 2, 4))
    pools = (Pool.shared("sysA"),)
    pool = np.zeros(rows, np.int64)
    return dataclasses.replace(t, pool=pool, pools=pools, gpus_by_class=class_columns(t.gpus, pool, pools))


def _target(kind, table, inst, rng, multiple=3.0):
    caps = list(LoadTarget(kind, 1.0).capacity(table)) if table is not None else []
    per = inst.decode.requests_per_s if kind is LoadKind.RATE else inst.decode.concurrency
    caps += list(per)
    value = float(np.median(caps)) * multiple * rng.uniform(0.8, 1.2)
    return LoadTarget(kind, float(np.ceil(value)) if kind is LoadKind.CONCURRENCY else value)


def _check(table, inst, target, slo=Slo(), prices=None, max_gpus=None):
    got = size_deployment(table, target, slo, max_gpus=max_gpus, price_per_gpu_hour=prices, disagg=inst)
    truth = brute(table, inst, target, slo, prices, max_gpus)
    assert _key(got) == _key(truth), (got, truth)
    if got is not None:
        assert serves(got.capacity, target.value)
        if got.pair is not None:
            p, d, k, m = got.pair
            assert inst.decode_allowed[d] and inst.rho[p, d] > 0
            if target.kind is LoadKind.CONCURRENCY:  # every decode worker fed at the TTFT cap
                assert pair_capacity(inst, target.kind, p, d, k, m) == int(inst.decode.concurrency[d]) * m
    return got, truth


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_agg_beside_disagg_equals_exhaustive_search(seed, kind):
    rng = np.random.default_rng(seed)
    slo = Slo(ttft_s=0.6) if seed % 2 else Slo(tpot_s=0.03)
    inst = random_disagg(seed, prefill_rows=2, decode_rows=3, total_gpus=64, slo=slo)
    table = _small_table(seed)
    _check(table, inst, _target(kind, table, inst, rng), slo)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_disagg_only_equals_exhaustive_search(seed, kind):
    rng = np.random.default_rng(50 + seed)
    inst = random_disagg(seed, prefill_rows=3, decode_rows=4, total_gpus=64, slo=Slo(ttft_s=0.8),
                         quantized=seed % 3 == 0)
    _check(None, inst, _target(kind, None, inst, rng, 4.0), Slo(ttft_s=0.8))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_heterogeneous_pools_prices_and_pool_limits_equal_exhaustive_search(seed, kind):
    """Prefill and decode rows on two systems at different prices, per-pool GPU limits and a GPU cap."""
    rng = np.random.default_rng(100 + seed)
    limits = dict(max_prefill_gpus=int(rng.integers(2, 9)), max_decode_gpus=int(rng.integers(2, 13)))
    inst = random_disagg(seed, prefill_rows=3, decode_rows=3, total_gpus=64, systems=("sysA", "sysB"), **limits)
    table = _small_table(seed)
    prices = {"sysA": float(rng.choice([1.0, 2.5])), "sysB": float(rng.choice([1.5, 4.0]))}
    target = _target(kind, table, inst, rng)
    free, _ = _check(table, inst, target, prices=prices)
    if free is not None:
        _check(table, inst, target, prices=prices, max_gpus=max(free.gpus - 1, 1))


def test_a_pair_tops_up_replicas_when_that_is_cheaper():
    """Rate 11: agg replicas of 4 GPUs serve 4.5 req/s each (3 of them: 12 GPUs); 1-GPU prefill and
    decode workers serve 2 req/s per pair of workers (6 + 6: 12 GPUs); 2 replicas + 1 + 1 = 10 GPUs."""
    from sloplan.solver.synthetic import table_from_columns

    table = table_from_columns([4], [4.5 * 128], [0.01])
    inst = random_disagg(0, prefill_rows=1, decode_rows=1, total_gpus=64)
    inst = dataclasses.replace(inst, prefill=dataclasses.replace(inst.prefill, gpus=np.array([1]),
                                                                  requests_per_s=np.array([2.0 / 0.9])),
                               decode=dataclasses.replace(inst.decode, gpus=np.array([1]),
                                                          requests_per_s=np.array([2.0]),
                                                          kv_capacity=np.array([10**6])))
    target = LoadTarget(LoadKind.RATE, 11.0)
    got = size_deployment(table, target, disagg=inst)
    assert got.gpus == 10 and got.replicas == ((0, 2),) and got.pair == (0, 0, 1, 1)
    assert size_deployment(table, target).gpus == 12 and size_deployment(None, target, disagg=inst).gpus == 12


def test_size_plan_has_the_pair_and_the_replicas():
    rng = np.random.default_rng(7)
    inst = random_disagg(3, prefill_rows=2, decode_rows=3, total_gpus=64)
    table = _small_table(3)
    found, outcome = size_plan(table, _target(LoadKind.RATE, table, inst, rng, 6.0), disagg=inst)
    assert outcome.proved
    plan = found.plan
    assert plan.metrics.gpus_used == found.sizing.gpus == sum(g.gpus for g in plan.groups)
    if found.sizing.pair is not None:
        p, d, k, m = found.sizing.pair
        roles = {g.role.value: g.count for g in found.disagg.groups}
        assert roles == {"prefill": k, "decode": m}


def test_the_reduction_keeps_few_pairs_on_a_random_instance():
    inst = random_disagg(1, prefill_rows=6, decode_rows=40, total_gpus=64)
    pairs = sizing_pairs(inst, LoadKind.RATE)
    assert 0 < len(pairs) <= len(inst.prefill) * int(inst.decode_allowed.sum())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(list(LoadKind)), with_table=st.booleans(),
       ttft=st.sampled_from([None, 0.3, 0.6, 1.5]), tpot=st.sampled_from([None, 0.02, 0.05]),
       limit_p=st.sampled_from([None, 2, 6]), limit_d=st.sampled_from([None, 3, 8]),
       two_systems=st.booleans(), priced=st.booleans(), multiple=st.floats(0.5, 4.0))
def test_property_sizing_equals_exhaustive_search(seed, kind, with_table, ttft, tpot, limit_p, limit_d,
                                                  two_systems, priced, multiple):
    rng = np.random.default_rng(seed)
    slo = Slo(ttft_s=ttft, tpot_s=tpot)
    systems = ("sysA", "sysB") if two_systems else ("sysA",)
    inst = random_disagg(seed, prefill_rows=2, decode_rows=3, total_gpus=64, systems=systems, slo=slo,
                         max_prefill_gpus=limit_p, max_decode_gpus=limit_d, quantized=seed % 4 == 0)
    table = _small_table(seed) if with_table else None
    prices = {"sysA": 2.0, "sysB": 3.0} if priced else None
    _check(table, inst, _target(kind, table, inst, rng, multiple), slo, prices)


def test_every_installed_backend_sizes_alike():
    from sloplan.solver.backends import installed_backends

    rng = np.random.default_rng(11)
    inst = random_disagg(5, prefill_rows=2, decode_rows=3, total_gpus=64, systems=("sysA", "sysB"))
    table = _small_table(5)
    target = _target(LoadKind.RATE, table, inst, rng)
    want = _key(size_deployment(table, target, disagg=inst))
    names = [b for b in installed_backends() if b != "highs" and "cp-sat" not in b][:3]
    for name in names:
        assert _key(size_deployment(table, target, disagg=inst, backend=name)) == want, name


def test_a_deadline_not_reached_proves_the_answer():
    from sloplan.solver.limits import Deadline
    from sloplan.solver.size import size_deployment_within

    inst = random_disagg(2, prefill_rows=2, decode_rows=3, total_gpus=64)
    table = _small_table(2)
    target = _target(LoadKind.RATE, table, inst, np.random.default_rng(2))
    best, outcome = size_deployment_within(table, target, disagg=inst, deadline=Deadline.after(60.0))
    assert outcome.proved and best is not None
    assert outcome.to_dict()["status"] == "optimal" and outcome.to_dict()["gap"] == 0.0


@pytest.fixture(scope="module")
def qwen_disagg():
    from sloplan.api import resolve
    from sloplan.disagg_request import disagg_setup
    from sloplan.request import parse_request

    req = parse_request(dict(model="Qwen/Qwen3-32B-FP8", system="h200_sxm", isl=4000, osl=500, ttft_ms=2000,
                             tpot_ms=30, total_gpus=64, modes=["disagg"]))
    ctx, _, _ = resolve(req)
    return disagg_setup(req, ctx).instance


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", [LoadKind.RATE, LoadKind.CONCURRENCY])
def test_real_rows_subsets_equal_exhaustive_search(qwen_disagg, seed, kind):
    """Random prefill / decode rows of the real Qwen3-32B instance (TTFT 2 s, TPOT 30 ms), with and
    without replicas beside them."""
    from sloplan.model.disagg_tables import take_rows

    rng = np.random.default_rng(seed)
    inst = qwen_disagg
    p = rng.choice(len(inst.prefill), size=2, replace=False)
    d = rng.choice(np.flatnonzero(inst.decode_allowed), size=3, replace=False)
    sub = dataclasses.replace(inst, prefill=take_rows(inst.prefill, p), decode=take_rows(inst.decode, d),
                              max_decode_gpus=16)
    target = LoadTarget(kind, 6.0 if kind is LoadKind.RATE else 120.0)
    alone, _ = _check(None, sub, target, inst.slo)
    assert alone is not None and alone.pair is not None  # every prefill row feeds these decode rows in 2 s
    _check(_small_table(seed), sub, target, inst.slo)
