"""The compact formulation (solver/problems/compact.py): exact at the breakpoints, within the measured
fitting error between them, SLOs as its own named rows that admit only what meets them on the table;
with tolerance 0 the same optimum as the enumerated model and brute force."""
import dataclasses

import numpy as np
import pytest

from sloplan.core.enums import SloKind
from sloplan.solver import Slo, best_deployment
from sloplan.solver.backends import backend_for
from sloplan.solver.brute import brute_best
from sloplan.solver.problems.compact import build_compact_problem
from sloplan.solver.problems.pwl_fit import TOKENS, curves, fit_curve, quantities
from sloplan.solver.problems.replica import build_replica_problem
from sloplan.solver.synthetic import random_table, table_from_columns

HIGHS = backend_for("highs")
ALL_SLOS = tuple(SloKind)


def curve_table(seed: int, engines: int = 3, max_conc: int = 6):
    """Engines with concave tokens/s, rising TPOT and a noisy (not monotone) TTFT over concurrency 1..C."""
    rng = np.random.default_rng(seed)
    gpus, tokens, tpot, ttft, eng, conc = [], [], [], [], [], []
    for e in range(engines):
        g = int(rng.choice([1, 2, 4]))
        peak, bend = rng.uniform(500, 3000) * g, rng.uniform(1, 6)
        for c in range(1, int(rng.integers(2, max_conc + 1)) + 1):
            gpus.append(g)
            tokens.append(peak * c / (c + bend))
            tpot.append(c / (peak * c / (c + bend)) * rng.uniform(0.9, 1.1))
            ttft.append(0.05 * c * rng.uniform(0.8, 1.2))
            eng.append(e)
            conc.append(c)
    t = table_from_columns(gpus, tokens, tpot, ttft)
    return dataclasses.replace(t, engine_index=np.array(eng), concurrency=np.array(conc, dtype=np.int64))


def random_slo(rng, table) -> Slo:
    """Limits drawn from the table's own values (each set or not), so some bite and some do not."""
    pick = {k.field: float(np.quantile(getattr(table, k.field), rng.uniform(0.2, 1.0)))
            for k in SloKind if rng.random() < 0.6}
    return Slo(**pick)


def _solve(problem):
    backend = HIGHS(problem.formulation)
    result = backend.solve()
    return result, (problem.deployment(result.values) if result.optimal else None)


def _fixed(problem, seg: int, conc: int):
    """The compact model with one replica on segment `seg` at concurrency `conc`, nothing else: its
    result (infeasible where an SLO row excludes that concurrency)."""
    backend = HIGHS(problem.formulation)
    S = len(problem.segments)
    backend.set_col_bounds("n", 0.0, np.where(np.arange(S) == seg, 1.0, 0.0))
    backend.set_col_bounds("c", float(conc), float(conc), np.array([seg]))
    backend.set_col_bounds("c", 0.0, 0.0, np.flatnonzero(np.arange(S) != seg))
    return backend.solve()


@pytest.mark.parametrize("tolerance", [0.0, 0.02, 0.1])
@pytest.mark.parametrize("seed", range(3))
def test_tokens_exact_at_breakpoints_and_within_the_stated_error_between(seed, tolerance):
    table = curve_table(seed, engines=3, max_conc=12)
    problem = build_compact_problem(table, 8, Slo(), tolerance)
    assert problem.fit_error <= tolerance
    worst = 0.0
    for i, seg in enumerate(problem.segments):
        bl, br, _, _ = seg.ends()
        curve = seg.fit.curve
        for c in range(bl, br + 1):
            truth = float(table.tokens_per_s[curve.rows[c - curve.concurrency[0]]])
            result = _fixed(problem, i, c)
            assert result.optimal
            got = result.objective
            if c in (bl, br):  # a breakpoint: the table's value (to the last bits of a + m b)
                assert got == pytest.approx(truth, rel=1e-12, abs=0)
            worst = max(worst, abs(got - truth) / truth)
            assert abs(got - truth) <= problem.fit_error * truth * (1 + 1e-9) + 1e-9
    assert worst == pytest.approx(problem.fit_error, rel=1e-6, abs=1e-12)  # the bound is attained, not loose


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.3])
@pytest.mark.parametrize("seed", range(4))
def test_latencies_exact_at_breakpoints_within_the_error_and_the_slo_rows_admit_only_what_meets(seed, tolerance):
    """Each fitted latency is the table's at the breakpoints and within its stated (attained) error
    between, on a segment where the table's is monotone; the model admits one replica at concurrency c
    exactly when, for every limited latency, both the fitted and the table value meet the limit — so
    what it admits meets the SLO on the table, and every SLO-meeting breakpoint is admitted."""
    table = curve_table(seed, engines=3, max_conc=12)
    slo = random_slo(np.random.default_rng(seed), table)
    slo = slo if slo != Slo() else Slo(ttft_s=float(np.median(table.ttft_s)))
    problem = build_compact_problem(table, 8, slo, tolerance)
    limited = [k for k in SloKind if slo.limit(k) is not None]
    errors = problem.errors
    assert set(errors) == set(quantities(limited)) and max(errors.values()) <= tolerance
    worst = dict.fromkeys(errors, 0.0)
    meets, admitted_rows = slo.allowed(table), set()
    for i, seg in enumerate(problem.segments):
        bl, br, _, _ = seg.ends()
        first = seg.fit.curve.concurrency[0]
        table_rows = seg.fit.curve.rows[bl - first:br - first + 1]
        admitted = np.ones(br - bl + 1, dtype=bool)
        for kind in limited:
            truth, fitted = getattr(table, kind.field)[table_rows], seg.fitted(kind.field)
            assert fitted[0] == truth[0] and fitted[-1] == truth[-1]
            step = np.diff(truth)
            assert np.all(step >= 0) or np.all(step <= 0)
            assert np.all(np.abs(fitted - truth) <= errors[kind.field] * truth * (1 + 1e-12))
            worst[kind.field] = max(worst[kind.field], float(np.max(np.abs(fitted - truth) / truth)))
            admitted &= np.maximum(fitted, truth) <= slo.limit(kind)
        for c in range(bl, br + 1):
            assert _fixed(problem, i, c).optimal == admitted[c - bl], (i, c)
        assert np.all(meets[table_rows[admitted]])
        admitted_rows |= set(table_rows[admitted].tolist())
    for kind in limited:
        assert worst[kind.field] == pytest.approx(errors[kind.field], rel=1e-9, abs=1e-15)
    on_breaks = np.concatenate([f.curve.rows[f.breaks] for f in problem.fits])
    assert set(on_breaks[meets[on_breaks]].tolist()) <= admitted_rows


@pytest.mark.parametrize("seed", range(16))
def test_tolerance_zero_equals_brute_force(seed):
    table = curve_table(seed)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    slo = random_slo(rng, table)
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


def _tightened(slo: Slo, errors: dict[str, float]) -> Slo:
    return Slo(**{k.field: slo.limit(k) / (1 + errors.get(k.field, 0.0)) for k in SloKind
                  if slo.limit(k) is not None})


@pytest.mark.parametrize("tolerance", [0.01, 0.05, 0.2])
@pytest.mark.parametrize("seed", range(6))
def test_a_coarse_fit_keeps_its_guarantee(seed, tolerance):
    """The compact plan meets the SLOs on the table, its exact tokens/s is within e_tokens of the compact
    objective and at most the exact optimum, and the objective is at least (1 - e_tokens) x the exact
    optimum under the SLOs tightened by the latency errors (L / (1 + e_latency)) — against brute force."""
    table = curve_table(seed, engines=3, max_conc=9)
    rng = np.random.default_rng(seed + 100)
    slo, n = random_slo(rng, table), int(rng.integers(2, 7))
    problem = build_compact_problem(table, n, slo, tolerance)
    result, got = _solve(problem)
    exact = brute_best(table, n, slo)
    tight = brute_best(table, n, _tightened(slo, problem.errors))
    if got is None:
        assert result.infeasible and tight is None
        return
    e = problem.fit_error
    assert got.meets(slo) and got.tokens_per_s * (1 - e) * (1 - 1e-12) <= result.objective
    assert result.objective <= got.tokens_per_s * (1 + e) * (1 + 1e-12)
    assert got.tokens_per_s <= exact.tokens_per_s * (1 + 1e-12)
    if tight is not None:
        assert result.objective >= tight.tokens_per_s * (1 - problem.fit_error) * (1 - 1e-9)


@pytest.mark.parametrize("tolerance", [0.02, 0.1])
@pytest.mark.parametrize("seed", range(6))
def test_restricted_to_the_breakpoints_it_is_the_enumerated_model(seed, tolerance):
    """Every plan over breakpoint concurrencies is in the compact model at its exact value, so the compact
    optimum is at least the enumerated optimum over the breakpoint rows; where the compact plan itself
    sits on breakpoints, its objective is its exact tokens/s."""
    table = curve_table(seed, engines=3, max_conc=12)
    rng = np.random.default_rng(seed)
    slo, n = random_slo(rng, table), int(rng.integers(2, 7))
    problem = build_compact_problem(table, n, slo, tolerance)
    on_breaks = np.unique(np.concatenate([f.curve.rows[f.breaks] for f in problem.fits]))
    sub = best_deployment(table.take(on_breaks), n, slo)
    result, got = _solve(problem)
    if sub is None:
        return
    assert result.objective >= sub.tokens_per_s * (1 - 1e-12)
    if set(r for r, _ in got.replicas) <= set(on_breaks.tolist()):
        assert result.objective == pytest.approx(got.tokens_per_s, rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_certificates_relax_the_compact_slo_rows_as_the_enumerated_ones(seed):
    """The SLO rows are the model's own groups: the minimal conflicting sets found by relaxing them in the
    compact model (tolerance 0) are the enumerated model's, and each is infeasible by brute force."""
    from sloplan.solver.certificate import FormulationOracle, all_minimal_conflicts
    from sloplan.solver.groups import ConstraintGroup as G

    table = curve_table(seed, engines=3, max_conc=6)
    rng = np.random.default_rng(seed)
    slo = Slo(**{k.field: float(np.quantile(getattr(table, k.field), rng.uniform(0.0, 0.4))) for k in SloKind})
    n = int(rng.choice([1, 2, 4]))
    groups = (G.GPU_BUDGET,) + tuple(k.group for k in SloKind)
    found = {}
    for name, f in (("compact", build_compact_problem(table, n, slo, 0.0).formulation),
                    ("enumerated", build_replica_problem(table, n, slo, reduce=False).formulation)):
        found[name] = set(all_minimal_conflicts(groups, FormulationOracle(f, frozenset(groups))))
    assert found["compact"] == found["enumerated"]
    assert (brute_best(table, n, slo) is None) == bool(found["compact"])


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_exported_compact_model_states_its_errors_names_its_slo_rows_and_reads_back(tmp_path, suffix):
    from solver_helpers import highs_file_optimum
    from sloplan.solver.export import export_best_model

    table = curve_table(5, engines=4, max_conc=20)
    slo = Slo(tpot_s=float(np.median(table.tpot_s)), ttft_s=float(np.quantile(table.ttft_s, 0.8)))
    problem = build_compact_problem(table, 8, slo, 0.05)
    path = tmp_path / f"compact{suffix}"
    assert export_best_model(table, 8, slo, path, 0.05) == (problem.formulation.num_rows,
                                                             problem.formulation.num_cols)
    text = path.read_text()
    head = "".join(text.splitlines()[:7])
    assert all(f"{q} {e:.4%}" in head for q, e in problem.errors.items()) and "ttft_s" in head
    assert "slo_tpot(" in text and "slo_ttft(" in text and "piecewise(" in text
    result, _ = _solve(problem)
    assert highs_file_optimum(path) == pytest.approx(result.objective, rel=1e-9)


def test_compact_is_smaller_and_exact_on_a_real_table():
    from test_solver_backends_all import BUNDLED, _bundled_table

    table, n, slo = _bundled_table(BUNDLED[0])
    enumerated = build_replica_problem(table, n, slo, reduce=False).formulation
    best = best_deployment(table, n, slo).tokens_per_s
    result, got = _solve(build_compact_problem(table, n, slo, 0.0))
    assert got.tokens_per_s == pytest.approx(best, rel=1e-12) and got.meets(slo)
    coarse = build_compact_problem(table, n, slo, 0.01)
    assert coarse.formulation.num_rows < enumerated.num_rows / 5
    result, got = _solve(coarse)
    e = coarse.fit_error
    assert got.meets(slo) and result.objective / (1 + e) * (1 - 1e-12) <= got.tokens_per_s <= best * (1 + 1e-12)


def test_fit_cuts_curves_at_holes_and_at_unpriced_rows_and_keeps_ends():
    table = curve_table(4, engines=2, max_conc=10)
    unpriced = int(np.flatnonzero(table.concurrency == 2)[0])
    ttft = table.ttft_s.copy()
    ttft[unpriced] = np.nan
    table = dataclasses.replace(table, ttft_s=ttft)
    keep = np.flatnonzero(table.concurrency != 4)
    parts = curves(table, keep, quantities([SloKind.TTFT]))
    assert all(np.all(np.diff(c.concurrency) == 1) for c in parts)
    assert sum(len(c.rows) for c in parts) == len(keep) - 1
    assert unpriced not in np.concatenate([c.rows for c in parts])
    assert sum(len(c.rows) for c in curves(table, keep)) == len(keep)  # tokens/s alone: row 5 is priced
    for c in parts:
        fit = fit_curve(c, 0.5)
        assert fit.breaks[0] == 0 and fit.breaks[-1] == len(c.rows) - 1
        assert set(fit.errors) == {TOKENS, "ttft_s"}
