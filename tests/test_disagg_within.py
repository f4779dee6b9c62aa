"""The disaggregated best plan and front on a named backend, under a deadline (solver/disagg_within.py):
the same answer as brute force and as the pair enumeration, on every installed backend; a limit's
incumbent marked with its gap; CP-SAT refusing a non-integral model."""
import math

import numpy as np
import pytest

from solver_helpers import NothingHighs, StoppedHighs
from sloplan.solver import disagg_within
from sloplan.solver.backends import BackendRefused, SolveStatus, installed_backends
from sloplan.solver.brute_disagg import brute_disagg_best, brute_disagg_front
from sloplan.solver.disagg import disagg_plans
from sloplan.solver.disagg_within import disagg_best_within, disagg_front_within, disagg_plans_within
from sloplan.solver.limits import Deadline
from sloplan.solver.problems.disagg import build_disagg_problem, pair_rate_bound
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_disagg

INSTALLED = installed_backends()


def _front(front):
    return [(d.tokens_per_s_per_user, d.tokens_exact) for d in front]


def _front_gpus(front):
    return [(d.tokens_per_s_per_user, d.tokens_exact, d.gpus_used) for d in front]


def _instances():
    """Several seeds: one system, two systems with per-pool and per-class limits, mixed pools, ties."""
    out = []
    for seed in range(4):
        out.append(random_disagg(seed, prefill_rows=3, decode_rows=4, total_gpus=10, slo=Slo(ttft_s=0.4)))
        out.append(random_disagg(seed, prefill_rows=3, decode_rows=3, total_gpus=10, systems=("h200", "b200"),
                                 slo=Slo(ttft_s=0.5), max_prefill_gpus=5, max_decode_gpus=7,
                                 gpus_by_class={"b200": 6}, mixed_pools=seed % 2 == 1))
        out.append(random_disagg(seed, prefill_rows=3, decode_rows=3, total_gpus=9, quantized=True,
                                 systems=("a", "b")))
    return out


INSTANCES = _instances()


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("i", range(len(INSTANCES)))
def test_every_backend_equals_brute_force(backend, i):
    inst = INSTANCES[i]
    try:
        best, outcome = disagg_best_within(inst, backend=backend)
        front, front_outcome = disagg_front_within(inst, backend=backend)
    except BackendRefused as exc:  # the stated rule: CP-SAT takes integral models only, never rounds
        assert backend == "ortools:cp-sat" and "integer" in str(exc)
        return
    bb = brute_disagg_best(inst)
    assert (None if best is None else best.key) == (None if bb is None else bb.key)
    assert _front(front) == _front(brute_disagg_front(inst))
    assert outcome.proved and front_outcome.proved
    assert outcome.status is (SolveStatus.OPTIMAL if bb else SolveStatus.INFEASIBLE)


@pytest.mark.parametrize("seed", range(6))
def test_plans_equal_the_pair_enumeration(seed):
    """The MILP route and the default route give the same plans' keys and front."""
    inst = random_disagg(seed, prefill_rows=4, decode_rows=6, total_gpus=12, systems=("a", "b"),
                         slo=Slo(ttft_s=0.6, tpot_s=0.05), max_decode_gpus=9)
    best, front = disagg_plans(inst)
    mbest, mfront, o1, o2 = disagg_plans_within(inst, backend="highs")
    assert o1.proved and o2.proved
    assert (best is None) == (mbest is None)
    if best is not None:
        assert mbest.deployment.key == best.deployment.key
    assert _front_gpus([p.deployment for p in mfront]) == _front_gpus([p.deployment for p in front])


@pytest.mark.parametrize("seed", range(6))
def test_the_pair_bound_cuts_no_plan(seed):
    """Every brute-force front point and best plan serves at most its decode row's pair bound."""
    inst = random_disagg(seed, prefill_rows=3, decode_rows=4, total_gpus=10, systems=("a", "b"),
                         max_prefill_gpus=6, gpus_by_class={"b": 5})
    bound = pair_rate_bound(inst)
    plans = brute_disagg_front(inst) + [d for d in [brute_disagg_best(inst)] if d is not None]
    assert plans
    for d in plans:
        (row, _), = d.decode
        assert float(d.rate_exact) <= bound[row] * (1 + 1e-12)
    assert any(math.isclose(float(d.rate_exact), bound[d.decode[0][0]], rel_tol=1e-12) for d in plans)
    names = {c.name for c in build_disagg_problem(inst, pair_bound=True).formulation.constraints}
    assert "pair_bound" in names
    assert "pair_bound" not in {c.name for c in build_disagg_problem(inst).formulation.constraints}


def test_per_pool_limit_below_every_worker_is_proved_infeasible():
    inst = random_disagg(0, total_gpus=10, max_decode_gpus=0)
    best, outcome = disagg_best_within(inst, backend="highs")
    front, front_outcome = disagg_front_within(inst, backend="highs")
    assert best is None and front == [] and outcome.status is SolveStatus.INFEASIBLE
    assert front_outcome.status is SolveStatus.INFEASIBLE


def test_a_limited_solve_keeps_its_incumbent_marked_with_its_gap(monkeypatch):
    inst = random_disagg(3, prefill_rows=3, decode_rows=4, total_gpus=10)
    truth = brute_disagg_best(inst)
    monkeypatch.setattr(disagg_within, "backend_for", lambda name: StoppedHighs)
    best, outcome = disagg_best_within(inst, backend="highs", deadline=Deadline.after(5.0))
    assert outcome.status is SolveStatus.TIME_LIMIT and not outcome.proved and outcome.gap == 0.1
    assert "not proved optimal" in outcome.detail
    assert best.tokens_exact == truth.tokens_exact  # the incumbent (here HiGHS's optimum), exactly evaluated
    front, front_outcome = disagg_front_within(inst, backend="highs", deadline=Deadline.after(5.0))
    assert front == [] and front_outcome.status is SolveStatus.TIME_LIMIT and front_outcome.gap == math.inf


def test_no_incumbent_is_not_infeasible(monkeypatch):
    monkeypatch.setattr(disagg_within, "backend_for", lambda name: NothingHighs)
    best, outcome = disagg_best_within(random_disagg(1), backend="highs", deadline=Deadline.after(5.0))
    assert best is None and outcome.status is SolveStatus.TIME_LIMIT and not outcome.proved
    assert outcome.detail == "stopped before a plan was found" and outcome.to_dict()["gap"] is None


def test_an_expired_deadline_cuts_the_front_and_says_so():
    inst = random_disagg(2, prefill_rows=4, decode_rows=8, total_gpus=16)
    full, proved = disagg_front_within(inst, backend="highs")
    assert proved.proved and len(full) > 1
    cut, outcome = disagg_front_within(inst, backend="highs", deadline=Deadline(end=0.0))
    assert not outcome.proved and "traced up to" in outcome.detail
    exact = set(_front(full))
    assert len(cut) < len(full) and all(p in exact for p in _front(cut)[:-1])


def test_a_real_time_limit_on_a_hard_instance_is_honest():
    """A real HiGHS stop (no stub): a large random instance at the smallest slice either proves its answer
    or says time_limit — and any incumbent is a valid plan, exactly re-evaluated."""
    inst = random_disagg(7, prefill_rows=12, decode_rows=400, total_gpus=64, systems=("a", "b"),
                         mixed_pools=True, slo=Slo(ttft_s=0.5))
    best, outcome = disagg_best_within(inst, backend="highs", deadline=Deadline.after(0.01))
    if outcome.proved:
        return
    assert outcome.status is SolveStatus.TIME_LIMIT
    if best is not None:
        assert best.gpus_used <= 64 and best.rate_exact > 0 and np.isfinite(best.ttft_s)
