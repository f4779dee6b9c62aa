"""`sloplan solve` with --solver / --time-limit / --export on the disaggregated mode, end to end: the MILP
on the named backend gives the enumeration's answer, a limit is reported (exit 4 without a plan), the
export is the disaggregated model when the best plan is disaggregated."""
import json

import pytest

from cli_helpers import cli_run
from solver_helpers import NothingHighs, StoppedHighs, highs_file_optimum
from sloplan.solve_disagg import PAIRS
from sloplan.solver import disagg_within
from sloplan.solver.backends import installed_backends

SMALL = ("--model", "Qwen/Qwen3-32B-FP8", "--system", "h200_sxm", "--total-gpus", "4", "--isl", "4000", "--osl", "500",
         "--ttft-ms", "2000", "--tpot-ms", "30", "--modes", "disagg")


def _solve(capsys, *args):
    code, out, err = cli_run(capsys, "solve", *SMALL, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def _key(point):
    return point["tokens_per_s"], point["gpus_used"], point["tokens_per_s_per_user"]


def test_every_installed_backend_gives_the_enumerations_answer(capsys):
    base = _solve(capsys)
    assert base["solver"]["disagg"] == PAIRS and base["best"] is not None and len(base["front"]) > 3
    for name in installed_backends():
        if name == "ortools:cp-sat":
            continue
        doc = _solve(capsys, "--solver", name)
        assert doc["solver"]["disagg"] == f"MILP (solver/problems/disagg.py) on {name}"
        assert doc["solver"]["best"]["status"] == doc["solver"]["front"]["status"] == "optimal"
        assert _key(doc["best"]) == _key(base["best"])
        assert [(p["tokens_per_s_per_user"], p["tokens_per_s"]) for p in doc["front"]] == \
            [(p["tokens_per_s_per_user"], p["tokens_per_s"]) for p in base["front"]]


def test_cp_sat_refuses_the_disaggregated_model_in_one_line(capsys):
    pytest.importorskip("ortools")
    code, out, err = cli_run(capsys, "solve", *SMALL, "--solver", "ortools:cp-sat")
    assert code == 2 and out == "" and err.startswith("error: solver: ortools:cp-sat") and err.count("\n") == 1


def test_no_disaggregated_plan_before_the_limit_exits_4(capsys, monkeypatch):
    monkeypatch.setattr(disagg_within, "backend_for", lambda name: NothingHighs)
    code, out, err = cli_run(capsys, "solve", *SMALL, "--time-limit", "1")
    assert code == 4 and "not proved infeasible" in out and "infeasible:" not in err
    assert err.strip() == "stopped: no plan found within the time limit (1 s)"


def test_a_limited_disaggregated_plan_is_marked_with_its_gap(capsys, monkeypatch):
    truth = _solve(capsys)["best"]
    monkeypatch.setattr(disagg_within, "backend_for", lambda name: StoppedHighs)
    doc = _solve(capsys, "--time-limit", "30")
    assert doc["solver"]["best"] == {"status": "time_limit", "gap": 0.1, "detail": "tokens/s not proved optimal"}
    assert doc["best"]["tokens_per_s"] == truth["tokens_per_s"]  # the incumbent, exactly re-evaluated
    code, out, _ = cli_run(capsys, "solve", *SMALL, "--time-limit", "30")
    text = out.replace("\n", " ")
    assert code == 0 and "Best plan NOT proved optimal: time_limit after 30 s on highs, gap 10.00%" in text
    assert "(disagg: MILP (solver/problems/disagg.py) on highs)" in text  # the table says which method ran
    code, out, _ = cli_run(capsys, "solve", *SMALL)
    assert code == 0 and "(disagg: " not in out  # the default enumerates; nothing named, nothing to say


def test_a_limit_in_one_mode_leaves_the_union_unproved(capsys, monkeypatch):
    """Replica modes proved, disagg stopped without a plan: the best across modes is not proved optimal,
    with an infinite gap (disagg might hold anything) and the part that stopped named."""
    monkeypatch.setattr(disagg_within, "backend_for", lambda name: NothingHighs)
    args = [a if a != "disagg" else "agg,disagg" for a in SMALL]
    code, out, _ = cli_run(capsys, "solve", *args, "--json", "--time-limit", "30")
    doc = json.loads(out)
    assert code == 0 and doc["best"]["mode"] == "agg"
    assert doc["solver"]["best"] == {"status": "time_limit", "gap": None,
                                     "detail": "disagg: stopped before a plan was found"}


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_export_writes_the_disaggregated_model_when_the_best_plan_is_disaggregated(capsys, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    doc = _solve(capsys, "--export", path)
    assert doc["best"]["mode"] == "disagg"
    text = path.read_text()
    assert "sloplan disaggregated model" in text.splitlines()[0] and "pair_bound" not in text
    assert highs_file_optimum(path) == pytest.approx(doc["best"]["tokens_per_s"], rel=1e-9)


def test_export_tolerance_with_a_disaggregated_best_is_one_line(capsys, tmp_path):
    code, out, err = cli_run(capsys, "solve", *SMALL, "--export", tmp_path / "m.lp", "--export-tolerance", "0.01")
    assert code == 2 and out == "" and err.startswith("error: export_tolerance: the compact model covers")
    assert "the request plans only disagg" in err and err.count("\n") == 1 and not list(tmp_path.iterdir())
    args = [a if a != "disagg" else "agg,disagg" for a in SMALL]  # a disaggregated best among several modes
    code, out, err = cli_run(capsys, "solve", *args, "--export", tmp_path / "m.lp", "--export-tolerance", "0.01")
    assert code == 2 and "the best plan is disaggregated" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_real_limit_on_the_mixed_pool_milp_is_exit_4_or_a_marked_incumbent(capsys):
    """No stub: mixed pools (only the MILP solves them; about 20 s unlimited here) under a 10 ms limit.
    Either no plan (exit 4, its one line, not called infeasible) or an incumbent marked time_limit."""
    code, out, err = cli_run(capsys, "solve", *SMALL, "--mixed-pools", "--time-limit", "0.01", "--json")
    doc = json.loads(out)
    assert doc["solver"]["disagg"] == "MILP (solver/problems/disagg.py) on highs"
    if code == 4:
        assert doc["best"] is None and doc["infeasible_reason"] is None
        assert err.strip() == "stopped: no plan found within the time limit (0.01 s)"
    else:
        assert code == 0 and doc["solver"]["best"]["status"] == "time_limit" and doc["best"] is not None
    assert doc["solver"]["front"]["status"] == "time_limit"
