"""`sloplan solve --export/--solver/--time-limit`: the exported model has the best plan's optimum, bad
values are one-line input errors before any work, and a time-limited answer is marked, never optimal."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import cli_run
from solver_helpers import NothingHighs, StoppedHighs, highs_file_optimum
from sloplan.solve_disagg import PAIRS
from sloplan.solver import Slo, best_deployment
from sloplan.solver import best as best_module
from sloplan.solver.backends import SolveStatus, backend_for
from sloplan.solver.best import best_plan_within
from sloplan.solver.limits import Deadline
from sloplan.solver.pareto import pareto_plans_within
from sloplan.solver.synthetic import random_table

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
# --export writes the best plan's model: the quick start's overall best is disaggregated (h-disacc), so
# these tests of the static/agg replica MIP ask for those two modes (tests/test_disagg_solver_cli.py
# checks the disaggregated model's export).
REPLICA_MODES = ("--modes", "static,agg")


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_exported_model_has_the_best_plans_optimum(capsys, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    code, out, _ = cli_run(capsys, "solve", INSTANCE, *REPLICA_MODES, "--json", "--export", path)
    assert code == 0
    best = json.loads(out)["best"]
    text = path.read_text()
    assert "gpu_budget" in text and "n(0)" in text
    assert highs_file_optimum(path) == pytest.approx(best["tokens_per_s"], rel=1e-9)


@pytest.mark.parametrize("args, field", [
    (("--export", "model.txt"), "export"),
    (("--solver", "gurobi"), "solver"),
    (("--solver", "pyomo:cplex"), "solver"),
    (("--time-limit", "0"), "time_limit_s"),
    (("--time-limit", "-2"), "time_limit_s"),
])
def test_bad_solver_flags_are_one_line_input_errors(capsys, tmp_path, args, field):
    args = tuple(str(tmp_path / a) if a.endswith(".txt") else a for a in args)
    code, out, err = cli_run(capsys, "solve", INSTANCE, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {field}: ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written
    if field == "solver":
        assert "installed: highs" in err


def test_choosing_another_backend_gives_the_same_plan(capsys):
    _, default, _ = cli_run(capsys, "solve", INSTANCE, "--json")
    pytest.importorskip("ortools")
    code, other, _ = cli_run(capsys, "solve", INSTANCE, "--json", "--solver", "ortools:scip", "--time-limit", "60")
    assert code == 0
    a, b = json.loads(default), json.loads(other)
    assert b["solver"]["name"] == "ortools:scip" and b["solver"]["best"]["status"] == "optimal"
    assert b["solver"]["disagg"] == "MILP (solver/problems/disagg.py) on ortools:scip"  # the named backend, too
    assert a["solver"] == {"name": "highs", "time_limit_s": None, "disagg": PAIRS,
                           "best": {"status": "optimal", "gap": 0.0, "detail": ""},
                           "front": {"status": "optimal", "gap": 0.0, "detail": ""}}
    assert a["best"] == b["best"]
    # disaggregated front points: the same values; on exact ties (same tokens/s, user speed and GPUs) the
    # MILP may pick another deployment than the enumeration (solver/disagg_within.py)
    values = ("mode", "tokens_per_s", "tokens_per_s_per_user", "gpus_used")
    assert [p if p["mode"] != "disagg" else {k: p[k] for k in values} for p in a["front"]] == \
        [p if p["mode"] != "disagg" else {k: p[k] for k in values} for p in b["front"]]


def test_a_limited_best_plan_is_the_incumbent_marked_as_such(monkeypatch):
    table = random_table(12, 5)
    truth = best_deployment(table, 8).tokens_per_s
    monkeypatch.setattr(best_module, "backend_for", lambda name: StoppedHighs)
    plan, outcome = best_plan_within(table, 8, Slo(), deadline=Deadline.after(5.0))
    assert plan is not None and outcome.status is SolveStatus.TIME_LIMIT and not outcome.proved
    assert outcome.gap == 0.1 and "not proved optimal" in outcome.detail
    assert outcome.to_dict() == {"status": "time_limit", "gap": 0.1, "detail": outcome.detail}
    assert plan.metrics.tokens_per_s == truth  # the incumbent (here HiGHS's optimum), exactly evaluated


def test_the_exact_drivers_still_refuse_a_limited_result(monkeypatch):
    from sloplan.solver import SolverError

    monkeypatch.setattr(best_module, "backend_for", lambda name: StoppedHighs)
    with pytest.raises(SolverError, match="time_limit"):
        best_deployment(random_table(12, 5), 8)


def test_an_expired_deadline_cuts_the_front_and_says_so():
    table = random_table(40, 2)
    plans, outcome = pareto_plans_within(table, 16, Slo(), deadline=Deadline(end=0.0))
    full, proved = pareto_plans_within(table, 16, Slo())
    assert proved.proved and len(full) > 1
    assert outcome.status is SolveStatus.TIME_LIMIT and not outcome.proved and "traced up to" in outcome.detail
    assert len(plans) < len(full)
    exact = {(p.metrics.tokens_per_s_per_user, p.metrics.tokens_per_s) for p in full}
    assert all((p.metrics.tokens_per_s_per_user, p.metrics.tokens_per_s) in exact for p in plans[:-1])


def test_no_plan_before_the_limit_exits_4_not_infeasible(capsys, monkeypatch):
    """A limit that finds nothing is not a proof of infeasibility: exit 4, its own stderr line."""
    monkeypatch.setattr(best_module, "backend_for", lambda name: NothingHighs)
    agg = ("--modes", "agg,static")  # the limit binds the replica MIPs; disagg is an exact enumeration
    code, out, err = cli_run(capsys, "solve", INSTANCE, "--time-limit", "1", *agg)
    assert code == 4 and "not proved infeasible" in out and "infeasible:" not in err
    assert err.strip() == "stopped: no plan found within the time limit (1 s)"
    code, out, _ = cli_run(capsys, "solve", INSTANCE, "--time-limit", "1", "--json", *agg)
    doc = json.loads(out)
    assert code == 4 and doc["best"] is None and doc["infeasible_reason"] is None
    assert doc["solver"]["best"] == {"status": "time_limit", "gap": None, "detail": "stopped before a plan was found"}


def test_a_limited_plan_is_flagged_in_the_table(capsys, monkeypatch):
    monkeypatch.setattr(best_module, "backend_for", lambda name: StoppedHighs)
    code, out, _ = cli_run(capsys, "solve", INSTANCE, "--time-limit", "3", *REPLICA_MODES)
    assert code == 0
    assert "Best plan NOT proved optimal: time_limit after 3 s on highs, gap 10.00%" in out.replace("\n", " ")


def test_importing_the_solver_imports_no_optional_solver_library():
    probe = ("import sys; import sloplan.solver, sloplan.solver.best, sloplan.solver.pareto, sloplan.request; "
             "import sloplan.solver.backends as b; b.backend_for('highs'); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyomo', 'ortools', 'highspy')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_solver_help_names_every_registered_backend():
    from sloplan.solver.backends import backend_names
    from sloplan.solver_fields import SOLVER_HELP

    assert all(name in SOLVER_HELP for name in backend_names())
    assert np.all([n == n.strip() for n in backend_names()])


@pytest.mark.parametrize("tolerance, exact", [("0", True), ("0.01", False)])
def test_compact_export_is_smaller_and_reads_back_to_its_optimum(capsys, tmp_path, tolerance, exact):
    """--export-tolerance writes the compact model: at 0 the best plan's optimum exactly, at 1 % a file
    smaller than the enumerated model of every option (both carry the SLOs as rows) whose optimum is
    within the fit error of the best plan's tokens/s."""
    from sloplan.solver.problems.replica import build_replica_problem
    from test_solver_backends_all import _bundled_table

    full, compact = tmp_path / "full.mps", tmp_path / "compact.mps"
    code, out, _ = cli_run(capsys, "solve", INSTANCE, *REPLICA_MODES, "--json", "--export", full)
    best = json.loads(out)["best"]["tokens_per_s"]
    code, _, _ = cli_run(capsys, "solve", INSTANCE, *REPLICA_MODES, "--json", "--export", compact,
                         "--export-tolerance", tolerance)
    assert code == 0
    optimum = highs_file_optimum(compact)
    if exact:
        assert optimum == pytest.approx(best, rel=1e-9)
    else:
        table, n, slo = _bundled_table(INSTANCE)
        backend_for("highs")(build_replica_problem(table, n, slo, reduce=False).formulation).export(full)
        assert compact.stat().st_size < full.stat().st_size / 3
        assert best * 0.99 * (1 - 1e-9) <= optimum <= best * 1.01 * (1 + 1e-9)  # within the 1 % fit


@pytest.mark.parametrize("args", [("--export-tolerance", "0.01"), ("--export", "m.lp", "--export-tolerance", "-1"),
                                  ("--export", "m.lp", "--export-tolerance", "nan")])
def test_export_tolerance_is_checked_before_solving(capsys, tmp_path, args):
    args = tuple(str(tmp_path / a) if a.endswith(".lp") else a for a in args)
    code, out, err = cli_run(capsys, "solve", INSTANCE, *args)
    assert code == 2 and out == "" and err.startswith("error: export_tolerance: ") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_refused_backend_writes_no_export(capsys, tmp_path):
    """CP-SAT refuses the real model (non-integral tokens/s) after estimation: exit 2, and no file."""
    pytest.importorskip("ortools")
    code, out, err = cli_run(capsys, "solve", INSTANCE, "--solver", "ortools:cp-sat", "--export", tmp_path / "m.lp")
    assert code == 2 and out == "" and err.startswith("error: solver: ortools:cp-sat: ")
    assert not list(tmp_path.iterdir())
