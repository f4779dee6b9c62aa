"""The solver-backend interface (solver/backends/): exact answers, honest limits, duals, IIS, export."""
import numpy as np
import pytest

from sloplan.solver import Slo, SolverError, best_deployment, pareto_front
from sloplan.solver.backends import (EXACT, SolveOptions, BackendResult, SolverBackend, SolveStatus, UnknownBackend,
                                     backend_for)
from sloplan.solver.brute import brute_best
from sloplan.solver.formulation import Constraint, Formulation, Sense, Variable
from sloplan.solver.groups import ConstraintGroup as G
from sloplan.solver.problems.replica import build_replica_problem
from sloplan.solver.synthetic import random_table
from solver_helpers import hard_knapsack, highs_file_optimum

HIGHS = backend_for("highs")


def _random_case(seed: int):
    rng = np.random.default_rng(500 + seed)
    table = random_table(int(rng.integers(2, 8)), seed, quantized=bool(seed % 2))
    slo = Slo(ttft_s=float(rng.choice([0.5, 1.0, 1.8])) if seed % 3 else None)
    return table, int(rng.integers(1, 13)), slo


@pytest.mark.parametrize("seed", range(25))
def test_optimal_objective_equals_brute_force(seed):
    """The replica problem with real SLO rows (no column filtering, no reduction) solved through the
    interface reaches the brute-force maximum of tokens/s; the filtered fast path reaches the same."""
    table, n, slo = _random_case(seed)
    truth = brute_best(table, n, slo)
    for feasible_only in (False, True):
        problem = build_replica_problem(table, n, slo, reduce=False, feasible_only=feasible_only)
        if truth is None:
            assert len(problem.rows) == 0 or problem.solve(HIGHS(problem.formulation)) is None
            continue
        backend = HIGHS(problem.formulation)
        result = backend.solve()
        assert result.status is SolveStatus.OPTIMAL and result.optimal and result.gap == 0
        assert result.objective == pytest.approx(truth.tokens_per_s, rel=1e-9)
        assert problem.solve(backend).tokens_per_s == truth.tokens_per_s  # exact sums, bit for bit


def test_slo_rows_are_named_groups_with_one_row_per_violator():
    table = random_table(12, 4)
    slo = Slo(ttft_s=1.0, tpot_s=float(np.median(table.tpot_s)))
    problem = build_replica_problem(table, 8, slo, reduce=False)
    groups = problem.formulation.groups()
    assert {G.SLO_TTFT, G.SLO_TPOT} <= set(groups) and G.SLO_REQUEST_LATENCY not in groups
    ttft = problem.formulation.block(G.SLO_TTFT)
    assert sorted(ttft.labels.tolist()) == np.flatnonzero(table.ttft_s > 1.0).tolist()
    assert (ttft.ub == 0).all()


def _check_limited(result: BackendResult, status: SolveStatus, formulation: Formulation) -> None:
    assert result.status is status and result.limited
    assert not result.optimal and result.status is not SolveStatus.OPTIMAL
    assert result.gap >= 0
    if result.values is not None:  # the incumbent: feasible, and no better than the proven bound
        starts, cols, vals = formulation.csr()
        _, ub = formulation.row_bounds()
        activity = np.add.reduceat(vals * result.values[cols], starts[:-1])
        assert (activity <= ub + 1e-6).all()
        assert result.objective <= result.dual_bound + 1e-6


def test_time_limit_reports_time_limit_with_a_gap_never_optimal():
    f = hard_knapsack()
    backend = HIGHS(f)
    _check_limited(backend.solve(SolveOptions(time_limit_s=0.05)), SolveStatus.TIME_LIMIT, f)


def test_node_limit_is_the_deterministic_limit_and_options_do_not_stick():
    """A node limit stops at the same place on any machine; the time limit of the previous solve
    must not carry over (the backend applies options per solve)."""
    f = hard_knapsack()
    backend = HIGHS(f)
    backend.solve(SolveOptions(time_limit_s=0.05))
    _check_limited(backend.solve(SolveOptions(node_limit=5)), SolveStatus.NODE_LIMIT, f)


def test_gap_limit_is_not_presented_as_optimal():
    f = hard_knapsack()
    result = HIGHS(f).solve(SolveOptions(mip_gap=0.05))
    assert result.values is not None and 0 <= result.gap <= 0.05
    assert result.status is (SolveStatus.OPTIMAL if result.gap == 0 else SolveStatus.GAP_LIMIT)
    assert result.optimal == (result.gap == 0)


class _StoppedBackend(SolverBackend):
    """A backend that always hits its time limit with an incumbent in hand."""

    name = "stopped"

    def set_objective(self, objective, sense): ...
    def set_row_bounds(self, constraint, lb, ub, rows=None): ...
    def set_col_bounds(self, var, lb, ub, index=None): ...
    def export(self, path): ...

    def solve(self, options=EXACT):
        ones = np.ones(self.formulation.num_cols)
        return BackendResult(SolveStatus.TIME_LIMIT, ones, 1.0, 0.1, 2.0)


def test_problems_never_turn_a_limited_result_into_a_plan():
    problem = build_replica_problem(random_table(5, 2), 8, Slo())
    with pytest.raises(SolverError, match="time_limit"):
        problem.solve(_StoppedBackend(problem.formulation))


def test_an_optimal_result_without_proof_cannot_be_built():
    with pytest.raises(ValueError):
        BackendResult(SolveStatus.OPTIMAL, np.zeros(1), 0.0, gap=0.01)


@pytest.mark.parametrize("bad", [dict(time_limit_s=0), dict(mip_gap=-0.1), dict(mip_gap=float("inf")),
                                 dict(node_limit=-1), dict(node_limit=1.5)])
def test_options_are_validated(bad):
    with pytest.raises(ValueError):
        SolveOptions(**bad)


@pytest.mark.parametrize("suffix", [".lp", ".mps", ".LP"])
def test_export_reads_back_to_the_same_optimum(tmp_path, suffix):

    table = random_table(9, 7)
    problem = build_replica_problem(table, 8, Slo(ttft_s=1.0), reduce=False)
    backend = HIGHS(problem.formulation)
    backend.set_row_bounds(G.GPU_BUDGET, -np.inf, 6.0)  # the file holds the current bounds
    expected = backend.solve().objective
    path = backend.export(tmp_path / f"replica{suffix}")
    text = path.read_text()
    assert "gpu_budget" in text and "n(0)" in text  # formulation names, brackets written as ()
    assert highs_file_optimum(path) == pytest.approx(expected, rel=1e-9)


def test_export_rejects_other_formats(tmp_path):
    backend = HIGHS(build_replica_problem(random_table(3, 1), 4, Slo()).formulation)
    with pytest.raises(ValueError, match=r"\.lp or \.mps"):
        backend.export(tmp_path / "model.txt")


def _lp(sense: Sense) -> Formulation:
    """max x + y (or min -x - y) s.t. x + 2y <= 4, 3x + y <= 6: optimum (1.6, 1.2), duals 0.4, 0.2."""
    x = Variable("x", 0.0, np.inf, size=2)
    cons = (Constraint.single("a", {"x[0]": 1, "x[1]": 2}, -np.inf, 4, G.GPU_BUDGET),
            Constraint.single("b", {"x[0]": 3, "x[1]": 1}, -np.inf, 6, G.SLO_TTFT))
    sign = 1.0 if sense is Sense.MAXIMIZE else -1.0
    return Formulation((x,), cons, {"x": sign * np.ones(2)}, sense)


@pytest.mark.parametrize("sense", list(Sense))
def test_lp_duals_are_the_objective_change_per_unit_of_bound(sense):
    backend = HIGHS(_lp(sense))
    result = backend.solve()
    duals = np.concatenate([backend.duals("a", result), backend.duals(G.SLO_TTFT, result)])
    moved = []
    for block, rhs in (("a", 4.0), ("b", 6.0)):
        backend.set_row_bounds(block, -np.inf, rhs + 0.01)
        moved.append((backend.solve().objective - result.objective) / 0.01)
        backend.set_row_bounds(block, -np.inf, rhs)
    assert duals == pytest.approx(moved, rel=1e-6)
    assert abs(duals[0]) == pytest.approx(0.4)


def test_a_mip_has_no_duals():
    problem = build_replica_problem(random_table(5, 3), 8, Slo())
    backend = HIGHS(problem.formulation)
    result = backend.solve()
    assert result.optimal and result.row_duals is None and backend.duals(G.GPU_BUDGET, result) is None


def test_iis_names_the_conflicting_groups():
    """No replica fits a budget below the smallest engine: the budget and "at least one replica" rows
    conflict, and nothing else (the SLO and floor rows are not needed to prove it)."""
    problem = build_replica_problem(random_table(6, 1), 8, Slo(ttft_s=1.0), reduce=False)
    backend = HIGHS(problem.formulation)
    assert backend.solve().optimal and backend.iis() is None
    backend.set_row_bounds(G.GPU_BUDGET, -np.inf, 0.5)
    assert backend.solve().infeasible
    iis = backend.iis()
    assert iis is not None and iis.groups == {G.GPU_BUDGET, G.MIN_REPLICAS}
    assert set(iis.rows) == {"gpu_budget[0]", "min_replicas[0]"}
    assert set(iis.columns) <= {f"n[{i}]" for i in range(len(problem.rows))}


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(UnknownBackend, match=r"unknown solver backend 'gurobi'; known: highs"):
        backend_for("gurobi")
    assert issubclass(UnknownBackend, ValueError)
    table = random_table(4, 0)
    for solve in (best_deployment, pareto_front):
        with pytest.raises(UnknownBackend):
            solve(table, 4, Slo(), backend="gurobi")


def test_backend_name_reaches_the_drivers():
    table = random_table(7, 11)
    assert best_deployment(table, 8, backend="highs") == best_deployment(table, 8)
    assert pareto_front(table, 8, backend="highs") == pareto_front(table, 8)
