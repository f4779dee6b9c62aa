"""The exact dominance reduction and the Deployment metrics it must preserve."""
from fractions import Fraction

import numpy as np
import pytest

from sloplan.solver import Deployment, Slo
from sloplan.solver.brute import brute_best, brute_front
from sloplan.solver.reduction import undominated_rows
from sloplan.solver.synthetic import random_table, table_from_columns, tie_heavy_table


def dominates(table, b, a):
    """b weakly dominates a on every number the solver uses, with the same GPU count."""
    return (table.gpus[b] == table.gpus[a] and table.tokens_per_s[b] >= table.tokens_per_s[a]
            and table.tokens_per_s_per_user[b] >= table.tokens_per_s_per_user[a]
            and table.ttft_s[b] <= table.ttft_s[a]
            and table.request_latency_s[b] <= table.request_latency_s[a])


@pytest.mark.parametrize("seed", range(10))
def test_kept_rows_are_mutually_undominated_and_dropped_rows_are_dominated(seed):
    table = random_table(300, seed, quantized=bool(seed % 2))
    kept = undominated_rows(table, 8)
    kept_set = set(kept.tolist())
    for a in kept:
        assert not any(dominates(table, b, a) for b in kept if b != a)
    for a in set(range(len(table))) - kept_set:
        assert table.gpus[a] > 8 or any(dominates(table, b, a) for b in kept)


def test_identical_rows_keep_exactly_one_and_oversized_rows_go():
    table = table_from_columns([1, 1, 1, 16], [10.0, 10.0, 5.0, 99.0], [0.1, 0.1, 0.05, 0.01])
    assert undominated_rows(table, 8).tolist() == [0, 2]


@pytest.mark.parametrize("seed", range(20))
def test_reduction_preserves_front_and_best_for_any_slo(seed):
    table, total_gpus = tie_heavy_table(seed) if seed % 2 else (random_table(7, seed), 12)
    kept = undominated_rows(table, total_gpus)
    sub = table.take(kept)
    for slo in (Slo(), Slo(ttft_s=float(np.median(table.ttft_s))),
                Slo(tpot_s=float(np.median(table.tpot_s)))):
        full_front = [(d.tokens_per_s_per_user, d.tokens_per_s) for d in brute_front(table, total_gpus, slo)]
        red_front = [(d.tokens_per_s_per_user, d.tokens_per_s) for d in brute_front(sub, total_gpus, slo)]
        assert red_front == full_front
        full, red = brute_best(table, total_gpus, slo), brute_best(sub, total_gpus, slo)
        assert (full is None) == (red is None)
        if full is not None:
            assert (red.tokens_per_s, red.gpus_used, red.tokens_per_s_per_user) == (
                full.tokens_per_s, full.gpus_used, full.tokens_per_s_per_user)


def test_deployment_metrics_from_counts():
    table = table_from_columns([1, 2, 4], [100.0, 0.1, 0.2], [0.01, 0.02, 0.005], ttft_s=[0.5, 0.1, 0.9])
    d = Deployment.from_counts(table, [0, 3, 1], total_gpus=16)
    assert d.replicas == ((1, 3), (2, 1))
    assert d.gpus_used == 10 and d.total_gpus == 16
    assert d.tokens_per_s == 0.5
    assert d.tokens_per_s_per_gpu == 0.5 / 16
    assert d.tokens_per_s_per_user == pytest.approx(50.0)
    assert (d.ttft_s, d.tpot_s) == (0.9, 0.02)
    assert d == Deployment.from_counts(table, {2: 1, 1: 3, 0: 0}, total_gpus=16)
    assert d.counts(3).tolist() == [0, 3, 1]
    assert d.meets(Slo(ttft_s=0.9)) and not d.meets(Slo(tpot_s=0.01))


def test_rate_is_the_correctly_rounded_exact_sum_whatever_the_row_order():
    forward = table_from_columns([1, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.1, 0.1])
    backward = forward.take(np.array([2, 1, 0]))
    assert (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1  # naive float sums depend on the order
    a = Deployment.from_counts(forward, [1, 1, 1], total_gpus=3)
    b = Deployment.from_counts(backward, [1, 1, 1], total_gpus=3)
    assert a.tokens_per_s == b.tokens_per_s == float(Fraction(0.1) + Fraction(0.2) + Fraction(0.3))


def test_deployment_rejects_empty_and_slo_rejects_nonpositive():
    table = table_from_columns([1], [1.0], [0.1])
    with pytest.raises(ValueError):
        Deployment.from_counts(table, [0], total_gpus=1)
    with pytest.raises(ValueError):
        Slo(ttft_s=0.0)


@pytest.mark.parametrize("seed", range(12))
def test_reducing_feasible_rows_only_keeps_the_same_feasible_survivors_and_front(seed):
    """The Pareto tracer's fast path (reduce only SLO-meeting rows) equals reduce-then-filter."""
    from sloplan.solver import pareto_front

    table, total_gpus = tie_heavy_table(seed) if seed % 2 else (random_table(400, seed), 8)
    for slo in (Slo(), Slo(ttft_s=float(np.median(table.ttft_s))),
                Slo(tpot_s=float(np.quantile(table.tpot_s, 0.3)), ttft_s=float(np.quantile(table.ttft_s, 0.7)))):
        ok = slo.allowed(table)
        full = undominated_rows(table, total_gpus)
        assert undominated_rows(table, total_gpus, ok).tolist() == full[ok[full]].tolist()
        fast = [(d.tokens_per_s_per_user, d.tokens_per_s, d.replicas) for d in pareto_front(table, total_gpus, slo)]
        brute = [(d.tokens_per_s_per_user, d.tokens_per_s) for d in brute_front(table, total_gpus, slo)] if len(
            table) <= 12 else None
        if brute is not None:
            assert [f[:2] for f in fast] == brute
        assert all(ok[r] for f in fast for r, _ in f[2])


def test_infeasibility_reason_names_each_unreachable_slo_with_its_bound():
    from sloplan.solver import infeasibility_reason

    table = table_from_columns([1, 2], [10.0, 20.0], [0.02, 0.01], ttft_s=[0.3, 0.5])
    assert infeasibility_reason(table, Slo(tpot_s=0.005)) == "TPOT ≤ 5 ms is unreachable (best option: 10.0 ms)"
    both = infeasibility_reason(table, Slo(tpot_s=0.005, ttft_s=0.1))
    assert both.startswith("TTFT ≤ 100 ms is unreachable (best option: 300.0 ms); TPOT ≤ 5 ms")
    # TTFT is reachable (row 0) and TPOT too (row 1), but no row meets both
    assert "each is reachable alone" in infeasibility_reason(table, Slo(ttft_s=0.31, tpot_s=0.015))
