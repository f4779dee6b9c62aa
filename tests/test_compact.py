"""The compact formulation (solver/problems/compact.py): exact at the breakpoints, within the measured
fitting error between them, and — with tolerance 0 — the same optimum as the enumerated model and
brute force."""
import dataclasses

import numpy as np
import pytest

from sloplan.solver import Slo, best_deployment
from sloplan.solver.backends import backend_for
from sloplan.solver.brute import brute_best
from sloplan.solver.problems.compact import build_compact_problem
from sloplan.solver.problems.pwl_fit import fit_curve, curves
from sloplan.solver.problems.replica import build_replica_problem
from sloplan.solver.synthetic import random_table, table_from_columns

HIGHS = backend_for("highs")


def curve_table(seed: int, engines: int = 3, max_conc: int = 6):
    """Engines with concave tokens/s and rising TPOT over concurrency 1..C (rows in curve order)."""
    rng = np.random.default_rng(seed)
    gpus, tokens, tpot, ttft, eng, conc = [], [], [], [], [], []
    for e in range(engines):
        g = int(rng.choice([1, 2, 4]))
        peak, bend = rng.uniform(500, 3000) * g, rng.uniform(1, 6)
        for c in range(1, int(rng.integers(2, max_conc + 1)) + 1):
            gpus.append(g)
            tokens.append(peak * c / (c + bend))
            tpot.append(c / (peak * c / (c + bend)))
            ttft.append(0.05 * c * rng.uniform(0.8, 1.2))
            eng.append(e)
            conc.append(c)
    t = table_from_columns(gpus, tokens, tpot, ttft)
    return dataclasses.replace(t, engine_index=np.array(eng), concurrency=np.array(conc, dtype=np.int64))


def _solve(problem):
    backend = HIGHS(problem.formulation)
    result = backend.solve()
    return result, (problem.deployment(result.values) if result.optimal else None)


def _fixed(problem, seg: int, conc: int) -> float:
    """The compact objective with one replica on segment `seg` at concurrency `conc`, nothing else."""
    backend = HIGHS(problem.formulation)
    S = len(problem.segments)
    backend.set_col_bounds("n", 0.0, np.where(np.arange(S) == seg, 1.0, 0.0))
    backend.set_col_bounds("c", float(conc), float(conc), np.array([seg]))
    backend.set_col_bounds("c", 0.0, 0.0, np.flatnonzero(np.arange(S) != seg))
    result = backend.solve()
    assert result.optimal
    return result.objective


@pytest.mark.parametrize("tolerance", [0.0, 0.02, 0.1])
@pytest.mark.parametrize("seed", range(3))
def test_breakpoints_exact_and_between_within_the_stated_error(seed, tolerance):
    table = curve_table(seed, engines=3, max_conc=12)
    problem = build_compact_problem(table, 8, Slo(), tolerance)
    assert problem.fit_error <= tolerance
    worst = 0.0
    for i, seg in enumerate(problem.segments):
        bl, br, _, _ = seg.ends()
        curve = seg.fit.curve
        for c in range(bl, br + 1):
            truth = float(table.tokens_per_s[curve.rows[c - curve.concurrency[0]]])
            got = _fixed(problem, i, c)
            if c in (bl, br):  # a breakpoint: the table's value (to the last bits of a + m b)
                assert got == pytest.approx(truth, rel=1e-12, abs=0)
            worst = max(worst, abs(got - truth) / truth)
            assert abs(got - truth) <= problem.fit_error * truth * (1 + 1e-9) + 1e-9
    assert worst == pytest.approx(problem.fit_error, rel=1e-6, abs=1e-12)  # the bound is attained, not loose


@pytest.mark.parametrize("seed", range(12))
def test_tolerance_zero_equals_brute_force(seed):
    table = curve_table(seed)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    slo = Slo(ttft_s=float(rng.choice([0.15, 0.25]))) if seed % 2 else Slo()
    truth = brute_best(table, n, slo)
    result, got = _solve(build_compact_problem(table, n, slo, 0.0))
    if truth is None:
        assert result.infeasible
        return
    assert got.tokens_per_s == pytest.approx(truth.tokens_per_s, rel=1e-9) and got.meets(slo)
    assert result.objective == pytest.approx(truth.tokens_per_s, rel=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_one_point_curves_equal_brute_force(seed):
    """random_table has one option per engine: every curve is a single point (a degenerate segment)."""
    table = random_table(6, seed, quantized=bool(seed % 2))
    slo = Slo(ttft_s=1.0) if seed % 3 else Slo()
    truth = brute_best(table, 8, slo)
    result, got = _solve(build_compact_problem(table, 8, slo))
    if truth is None:
        assert result.infeasible
    else:
        assert got.tokens_per_s == truth.tokens_per_s


@pytest.mark.parametrize("tolerance", [0.01, 0.05, 0.2])
def test_a_coarse_fit_loses_at_most_its_error(tolerance):
    """The compact plan meets the SLOs (latencies are exact) and its true tokens/s is within the fit's
    error of the exact optimum: ≥ (1 - e) / (1 + e) of it."""
    table = curve_table(7, engines=4, max_conc=40)
    slo = Slo(ttft_s=1.0)
    exact = best_deployment(table, 8, slo)
    problem = build_compact_problem(table, 8, slo, tolerance)
    _, got = _solve(problem)
    e = problem.fit_error
    assert got.meets(slo) and got.tokens_per_s <= exact.tokens_per_s
    assert got.tokens_per_s >= exact.tokens_per_s * (1 - e) / (1 + e) - 1e-9


def test_compact_is_smaller_and_exact_on_a_real_table():
    from test_solver_backends_all import BUNDLED, _bundled_table

    table, n, slo = _bundled_table(BUNDLED[0])
    enumerated = build_replica_problem(table, n, slo, reduce=False, feasible_only=True).formulation
    best = best_deployment(table, n, slo).tokens_per_s
    _, got = _solve(build_compact_problem(table, n, slo, 0.0))
    assert got.tokens_per_s == best
    coarse = build_compact_problem(table, n, slo, 0.01)
    assert coarse.formulation.num_cols < enumerated.num_cols / 1.5
    _, got = _solve(coarse)
    e = coarse.fit_error
    assert got.meets(slo) and best * (1 - e) / (1 + e) <= got.tokens_per_s <= best


def test_fit_cuts_curves_at_holes_and_keeps_ends():
    table = curve_table(3, engines=2, max_conc=10)
    keep = np.flatnonzero(table.concurrency != 3)
    parts = curves(table, keep)
    assert all(np.all(np.diff(c.concurrency) == 1) for c in parts)
    assert sum(len(c.rows) for c in parts) == len(keep)
    for c in parts:
        fit = fit_curve(c, 0.5)
        assert fit.breaks[0] == 0 and fit.breaks[-1] == len(c.rows) - 1
