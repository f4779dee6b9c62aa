"""Every installed solver backend gives the same optimal answers: the bundled instances and synthetic
tables, best plan and front, plus honest limits and exports on each. CI installs pyomo and ortools
(the `test` extra), so at least highs, pyomo:highs and the ortools MIP wrappers run here."""
from pathlib import Path

import numpy as np
import pytest

from sloplan.api import resolve
from sloplan.model.options import option_table
from sloplan.request import load_request
from sloplan.solver import Slo, SolverError, best_deployment, pareto_front
from sloplan.solver.backends import (BackendRefused, SolveOptions, SolveStatus, backend_for, backend_names,
                                     installed_backends)
from sloplan.solver.brute import brute_best
from sloplan.solver.formulation import Formulation, Sense, Variable
from sloplan.solver.groups import ConstraintGroup as G
from sloplan.solver.problems.replica import build_replica_problem
from sloplan.solver.synthetic import random_table, tie_heavy_table
from solver_helpers import hard_knapsack

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = installed_backends()
OTHERS = [b for b in INSTALLED if b != "highs"]
BUNDLED = sorted((ROOT / "instances").glob("*.yaml")) + sorted((ROOT / "instances" / "regression").glob("*.yaml"))
BUNDLED = [p for p in BUNDLED if p.name != "expected.yaml"]


def test_ci_runs_at_least_three_backends():
    assert "highs" in INSTALLED and len(INSTALLED) >= 3, INSTALLED
    assert set(INSTALLED) <= set(backend_names())


def _metrics(d):
    return None if d is None else (d.tokens_per_s, d.gpus_used, d.tokens_per_s_per_user)


def _front(table, n, slo, backend):
    return [(d.tokens_per_s_per_user, d.tokens_per_s) for d in pareto_front(table, n, slo, backend=backend)]


def _same_or_refused(backend, run):
    """The answer on `backend`, or None when CP-SAT refuses a non-integral model (the stated rule)."""
    try:
        return run()
    except BackendRefused:
        assert backend == "ortools:cp-sat"
        return None


def _synthetic(seed: int):
    rng = np.random.default_rng(900 + seed)
    table = random_table(int(rng.integers(3, 14)), seed, quantized=bool(seed % 2))
    slo = Slo(ttft_s=float(rng.choice([0.8, 1.5])) if seed % 3 else None)
    return table, int(rng.integers(2, 17)), slo


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("seed", range(8))
def test_synthetic_best_and_front_agree_with_highs(backend, seed):
    table, n, slo = _synthetic(seed)
    expected_best = _metrics(best_deployment(table, n, slo))
    expected_front = _front(table, n, slo, "highs")
    got_best = _same_or_refused(backend, lambda: _metrics(best_deployment(table, n, slo, backend=backend)))
    got_front = _same_or_refused(backend, lambda: _front(table, n, slo, backend))
    if backend == "ortools:cp-sat" and seed % 2:  # quantized tables are integral: CP-SAT must take them
        assert got_best is not None and got_front is not None
    if got_best is not None:
        assert got_best == expected_best  # exact sums of the same (T, G, u): the lexicographic optimum
    if got_front is not None:
        assert got_front == expected_front


@pytest.mark.parametrize("backend", INSTALLED)
@pytest.mark.parametrize("seed", range(6))
def test_level_one_objective_equals_brute_force(backend, seed):
    """The raw replica MIP (every option, real SLO rows) on each backend reaches the brute-force optimum."""
    table, n, slo = _synthetic(seed)
    truth = brute_best(table, n, slo)
    problem = build_replica_problem(table, n, slo, reduce=False)
    model = _same_or_refused(backend, lambda: backend_for(backend)(problem.formulation))
    if model is None:
        return
    result = model.solve()
    if truth is None:
        assert result.infeasible
        return
    assert result.status is SolveStatus.OPTIMAL and result.gap == 0
    assert result.objective == pytest.approx(truth.tokens_per_s, rel=1e-9)
    assert problem.solve(model).tokens_per_s == truth.tokens_per_s


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("seed", range(4))
def test_tie_heavy_tables_agree(backend, seed):
    table, n = tie_heavy_table(seed)
    assert _metrics(best_deployment(table, n, backend=backend)) == _metrics(best_deployment(table, n))
    assert _front(table, n, Slo(), backend) == _front(table, n, Slo(), "highs")


def _bundled_table(path: Path):
    req = load_request(path)
    ctx, slots, _ = resolve(req)
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(req.modes), req.max_batch_size,
                         ctx.calibration)
    return table, req.total_gpus, req.slo


@pytest.fixture(scope="module", params=BUNDLED, ids=lambda p: p.stem)
def bundled(request):
    return _bundled_table(request.param)


@pytest.mark.parametrize("backend", OTHERS)
def test_bundled_instances_agree_with_highs(bundled, backend):
    table, n, slo = bundled
    expected = _metrics(best_deployment(table, n, slo))
    got = _same_or_refused(backend, lambda: _metrics(best_deployment(table, n, slo, backend=backend)))
    if got is not None:
        assert got == expected
    front = _same_or_refused(backend, lambda: _front(table, n, slo, backend))
    if front is not None:
        assert front == _front(table, n, slo, "highs")


@pytest.mark.parametrize("backend", INSTALLED)
def test_a_time_limit_is_reported_with_its_gap_never_as_optimal(backend):
    f = hard_knapsack(60)
    result = backend_for(backend)(f).solve(SolveOptions(time_limit_s=0.05))
    assert result.status is SolveStatus.TIME_LIMIT and not result.optimal and result.limited
    if result.values is not None:
        starts, cols, vals = f.csr()
        activity = np.add.reduceat(vals * result.values[cols], starts[:-1])
        assert (activity <= f.row_bounds()[1] + 1e-6).all()
        assert result.objective <= result.dual_bound + 1e-6 and result.gap > 0


@pytest.mark.parametrize("backend", INSTALLED)
def test_a_node_limit_is_honoured_or_refused(backend):
    model = backend_for(backend)(hard_knapsack(40))
    try:
        result = model.solve(SolveOptions(node_limit=5))
    except SolverError as exc:
        assert "no node limit" in str(exc)
        return
    assert result.status is SolveStatus.NODE_LIMIT and not result.optimal


@pytest.mark.parametrize("backend", INSTALLED)
def test_bounds_and_objective_changes_reach_the_solver(backend):
    """Re-bounding a row, a column and swapping the objective between solves, as the drivers do."""
    table = random_table(8, 3, quantized=True)
    problem = build_replica_problem(table, 8, Slo(), reduce=False)
    model = backend_for(backend)(problem.formulation)
    full = model.solve().objective
    model.set_row_bounds(G.GPU_BUDGET, -np.inf, 4.0)
    half = model.solve()
    assert half.optimal and half.objective < full
    assert problem.formulation.objective_vector() @ half.values == half.objective
    model.set_objective(problem.gpu_objective(), Sense.MINIMIZE)
    assert model.solve().objective == min(table.gpus)
    model.set_col_bounds("n", 0.0, 0.0)
    assert model.solve().infeasible


@pytest.mark.parametrize("backend", INSTALLED)
def test_export_from_every_backend_reads_back_to_its_optimum(backend, tmp_path):
    import highspy

    problem = build_replica_problem(random_table(9, 4, quantized=True), 8, Slo(ttft_s=1.0), reduce=False)
    model = backend_for(backend)(problem.formulation)
    model.set_row_bounds(G.GPU_BUDGET, -np.inf, 6.0)
    expected = model.solve().objective
    path = model.export(tmp_path / "m.mps")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(expected, rel=1e-12)


def test_cp_sat_refuses_non_integral_models_by_name():
    if "ortools:cp-sat" not in INSTALLED:
        pytest.skip("ortools not installed")
    problem = build_replica_problem(random_table(5, 1), 8, Slo())
    with pytest.raises(BackendRefused, match=r"throughput_floor\[0\].*10\^6"):
        backend_for("ortools:cp-sat")(problem.formulation)
    x = Variable("x", 0.0, 1.0)
    lp = Formulation((x,), (), {"x": np.ones(1)}, Sense.MAXIMIZE)
    with pytest.raises(BackendRefused, match="integer models only"):
        backend_for("ortools:cp-sat")(lp)


def test_cp_sat_scaling_rule():
    from sloplan.solver.backends.ortools_cpsat import integral_scale

    assert integral_scale(np.array([1.0, 2.0])) == 1
    assert integral_scale(np.array([0.1, 2.5])) == 10
    assert integral_scale(np.array([1234.5678])) == 10 ** 4
    assert integral_scale(np.array([1156.0039483712])) is None  # a measured tokens/s: refused, never rounded
    assert integral_scale(np.array([1 / 3])) is None
