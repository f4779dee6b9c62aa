"""Formulation layer and the HiGHS backend: names, groups, validation, re-solving with new bounds."""
import subprocess
import sys

import numpy as np
import pytest

from sloplan.solver.backends import SolveStatus
from sloplan.solver.backends.highs import HighsBackend
from sloplan.solver.formulation import Constraint, Formulation, Sense, Variable
from sloplan.solver.groups import ConstraintGroup as G


def _knapsack() -> Formulation:
    n = Variable("n", 0.0, np.array([3.0, 3.0, 3.0]), integer=True)
    x = Variable("x", 0.0, 10.0)  # a scalar continuous variable
    return Formulation(
        variables=(n, x),
        constraints=(
            Constraint.weighted_sum("budget", "n", [2, 3, 4], -np.inf, 7, group=G.GPU_BUDGET),
            Constraint("link", {"n[0]": 1.0, "x": -1.0}, 0.0, np.inf, group=G.THROUGHPUT_FLOOR),
            Constraint.singletons("ban", "n", np.array([2]), 0.0, 0.0, group=G.SLO_TTFT),
        ),
        objective={"n": np.array([5.0, 7.0, 20.0]), "x": np.array([1.0])},
        sense=Sense.MAXIMIZE,
    )


def test_names_groups_and_columns():
    f = _knapsack()
    assert f.num_cols == 4 and f.num_rows == 3
    assert f.column("n[2]") == 2 and f.column("x") == 3
    assert f.variable("x").element_name(0) == "x"
    assert f.variable("n").element_name(1) == "n[1]"
    assert f.constraint("ban").row_name(0) == "ban[2]"
    assert f.groups() == {G.GPU_BUDGET: ("budget",), G.THROUGHPUT_FLOOR: ("link",), G.SLO_TTFT: ("ban",)}
    relaxed = f.without_groups({G.SLO_TTFT})
    assert relaxed.num_rows == 2 and G.SLO_TTFT not in relaxed.groups()
    assert f.block(G.SLO_TTFT).name == "ban" and f.row_slice(G.GPU_BUDGET) == slice(0, 1)
    assert f.row_owner(2) == (f.constraint("ban"), 0) and f.column_name(3) == "x"


def test_csr_matches_terms():
    starts, cols, vals = _knapsack().csr()
    assert starts.tolist() == [0, 3, 5, 6]
    assert cols.tolist() == [0, 1, 2, 0, 3, 2]
    assert vals.tolist() == [2.0, 3.0, 4.0, 1.0, -1.0, 1.0]


@pytest.mark.parametrize("bad", [
    lambda: Formulation((Variable("n", 0, 1), Variable("n", 0, 1)), (), {}, Sense.MINIMIZE),
    lambda: Formulation((Variable("n", 0, 1),), (Constraint.single("c", {"m": 1}, 0, 1, G.GPU_BUDGET),), {},
                        Sense.MINIMIZE),
    lambda: Formulation((Variable("n", 0, np.ones(2)),),
                        (Constraint.singletons("c", "n", np.array([5]), 0, 1, G.GPU_BUDGET),), {}, Sense.MINIMIZE),
    lambda: Formulation((Variable("n", 0, 1),), (), {"z": np.ones(1)}, Sense.MINIMIZE),
    lambda: Constraint("c", {"n[0]": 1.0}, [0, 0], [1, 1], G.GPU_BUDGET),  # a dict is one row
    lambda: Constraint("c", {"n[": 1.0}, 0, 1, G.GPU_BUDGET),
    lambda: Constraint("c", {"n[0]": 1.0}, 0, 1, "gpu_budget"),  # a group is a ConstraintGroup, not a string
])
def test_validation_rejects_bad_models(bad):
    with pytest.raises(ValueError):
        bad()


def test_highs_solves_and_resolves_with_changed_bounds():
    f = _knapsack()
    model = HighsBackend(f)
    first = model.solve()
    assert first.status is SolveStatus.OPTIMAL
    # n[2] is banned; best of 2a+3b<=7 for 5a+7b is a=2,b=1 (17); x <= n[0] adds 2
    assert model.values("n", first).tolist() == [2.0, 1.0, 0.0]
    assert first.objective == pytest.approx(19.0)
    model.set_row_bounds("ban", 0.0, np.inf)  # relax the SLO row: n[2] (4 GPUs, 20) pays off
    second = model.solve()
    assert model.values("n", second).tolist() == [0.0, 1.0, 1.0]
    model.set_row_bounds("budget", -np.inf, 1.0)  # nothing fits and nothing is required: all zero
    assert model.solve().objective == pytest.approx(0.0)
    model.set_col_bounds("x", 5.0, 10.0)  # x <= n[0] = 0 now contradicts x >= 5
    assert model.solve().status is SolveStatus.INFEASIBLE


def test_highs_objective_can_be_replaced():
    model = HighsBackend(_knapsack())
    model.set_objective({"n": np.array([1.0, 1.0, 1.0])}, Sense.MINIMIZE)
    sol = model.solve()
    assert sol.optimal and sol.objective == pytest.approx(0.0)


def test_importing_solver_does_not_import_highspy():
    code = "import sys, sloplan.solver; print('highspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_build_of_10000_options_is_fast():
    import time

    from sloplan.solver.problems.replica import build_replica_problem
    from sloplan.solver.slo import Slo
    from sloplan.solver.synthetic import random_table

    table = random_table(10_000, seed=3)
    build_replica_problem(table, 8, Slo(ttft_s=1.0), reduce=False)
    start = time.perf_counter()
    model = build_replica_problem(table, 8, Slo(ttft_s=1.0), reduce=False)
    elapsed = time.perf_counter() - start
    assert model.formulation.num_cols == 10_000
    assert elapsed < 0.05  # generous: it takes about 1 ms
