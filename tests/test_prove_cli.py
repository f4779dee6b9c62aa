"""`sloplan prove` and `sloplan solve` on infeasible requests, through the real entry point: exit codes,
the --json certificate, --verify, and the tightness of what the certificate claims on a real instance."""
from __future__ import annotations

import json

import pytest

from cli_helpers import cli_run

INSTANCE = "instances/qwen3-32b-fp8-h200-trtllm.yaml"


@pytest.fixture(scope="module")
def tpot1():
    """The bench's scenario with TPOT <= 1 ms, proved once for the module (in process)."""
    from sloplan.prove import prove

    return prove({"model": "Qwen/Qwen3-32B-FP8", "system": "h200_sxm", "backend": "trtllm", "isl": 4000,
                  "osl": 500, "ttft_ms": 2000, "tpot_ms": 1, "total_gpus": 8})[0]


def test_prove_infeasible_exits_3_with_the_certificate(capsys):
    code, out, err = cli_run(capsys, "prove", INSTANCE, "--tpot-ms", "1")
    assert code == 3
    assert "Infeasible: TPOT ≤ 1 ms: best 3.22 ms" in out
    assert "{TPOT}" in out and "TPOT ≤ 3.2221 ms: 1× tp8pp1 fp8_block" in out
    assert err.splitlines() == ["infeasible: TPOT ≤ 1 ms: best 3.22 ms while the rest holds"]


def test_prove_feasible_exits_0_with_the_witness_plan(capsys):
    code, out, err = cli_run(capsys, "prove", INSTANCE)
    assert code == 0 and err == ""
    assert "Feasible:" in out and "tok/s/gpu" in out
    # the certificate covers every mode of the request, so its witness is solve's best (disaggregated here)
    code, solved, _ = cli_run(capsys, "solve", INSTANCE, "--json")
    best = json.loads(solved)["best"]
    code, proved, _ = cli_run(capsys, "prove", INSTANCE, "--json")
    plan = json.loads(proved)["certificate"]["plan"]
    assert code == 0 and plan["tokens_per_s_per_gpu"] == best["tokens_per_s_per_gpu"]


def test_prove_json_carries_bounds_status_gap_and_closest_options(capsys):
    code, out, _ = cli_run(capsys, "prove", INSTANCE, "--total-gpus", "2", "--tpot-ms", "5", "--json")
    cert = json.loads(out)["certificate"]
    assert code == 3 and cert["feasible"] is False
    assert cert["conflicts"] == [["gpu_budget", "slo_tpot"]]
    assert cert["solver"]["status"] == "infeasible" and cert["solver"]["backend"] == "highs"
    bounds = {b["group"]: b for b in cert["bounds"]}
    assert bounds["gpu_budget"]["value"] == 4 and bounds["gpu_budget"]["limit"] == 2
    assert bounds["slo_tpot"]["limit"] == 5 and bounds["slo_tpot"]["value"] > 5
    kinds = {r["kind"]: r for r in cert["relaxations"]}
    assert set(kinds) == {"slo_tpot", "gpu_budget"}
    assert kinds["gpu_budget"]["plan"]["total_gpus"] == 4 and kinds["slo_tpot"]["plan"]["tpot_ms"] <= kinds[
        "slo_tpot"]["value"]
    assert len(cert["closest"]) == 5 and all(o["gpus"] <= 2 for o in cert["closest"])


def test_the_relaxations_are_tight_on_the_real_instance(capsys):
    """Asking for the relaxed value is feasible; a hair below the bound is not (same process, same tables)."""
    code, out, _ = cli_run(capsys, "prove", INSTANCE, "--total-gpus", "2", "--tpot-ms", "5", "--json")
    cert = json.loads(out)["certificate"]
    tpot = next(b for b in cert["bounds"] if b["group"] == "slo_tpot")["value"]
    relaxed = next(r for r in cert["relaxations"] if r["kind"] == "slo_tpot")["value"]
    assert cli_run(capsys, "solve", INSTANCE, "--total-gpus", "2", "--tpot-ms", str(relaxed), "--json")[0] == 0
    assert cli_run(capsys, "solve", INSTANCE, "--total-gpus", "2", "--tpot-ms", repr(tpot * (1 - 1e-9)),
                   "--json")[0] == 3
    assert cli_run(capsys, "solve", INSTANCE, "--total-gpus", "4", "--tpot-ms", "5", "--json")[0] == 0
    assert cli_run(capsys, "solve", INSTANCE, "--total-gpus", "3", "--tpot-ms", "5", "--json")[0] == 3


def test_solve_prints_the_certificate_when_infeasible(capsys):
    code, out, err = cli_run(capsys, "solve", INSTANCE, "--tpot-ms", "1")
    assert code == 3
    assert out.splitlines()[2].startswith("No deployment meets the SLOs: TPOT ≤ 1 ms is unreachable")
    assert "Conflicting constraint groups" in out and "TPOT ≤ 3.2221 ms" in out
    assert err.splitlines() == ["infeasible: TPOT ≤ 1 ms is unreachable (best option: 3.2 ms)"]
    code, out, _ = cli_run(capsys, "solve", INSTANCE, "--tpot-ms", "1", "--json")
    doc = json.loads(out)
    assert doc["best"] is None and doc["certificate"]["conflicts"] == [["slo_tpot"]]
    code, out, _ = cli_run(capsys, "solve", INSTANCE, "--json")
    assert json.loads(out)["certificate"] is None


def test_verify_agrees_on_the_real_instance(capsys):
    code, _, err = cli_run(capsys, "prove", INSTANCE, "--total-gpus", "2", "--tpot-ms", "5", "--verify")
    assert code == 3
    assert "verify: certificate re-derived by" in err and "agrees" in err and "DISAGREEMENT" not in err


def test_verify_fails_loudly_on_a_wrong_certificate(capsys, monkeypatch):
    from sloplan.solver import cert_replica
    from sloplan.solver.cert_replica import Bound, CertInstance

    real = CertInstance.gpu_bound

    def off_by_one(self):
        b = real(self)
        return None if b is None else Bound(b.group, b.value + 1, b.limit, b.row)

    monkeypatch.setattr(cert_replica.CertInstance, "gpu_bound", off_by_one)
    code, _, err = cli_run(capsys, "prove", INSTANCE, "--total-gpus", "2", "--tpot-ms", "5", "--verify")
    assert code == 1
    assert "verify: DISAGREEMENT: gpu_budget bound 5.0: feasible at it True, a hair above True, just below True" in err


def test_bad_input_is_exit_2(capsys):
    code, _, err = cli_run(capsys, "prove", INSTANCE, "--modes", "agg,turbo")
    assert code == 2 and err.startswith("error: modes")


def test_the_tpot1_certificate(tpot1):
    assert not tpot1.feasible and tpot1.conflicts == (("slo_tpot",),)
    assert [r.kind for r in tpot1.relaxations] == ["slo_tpot"]
    assert tpot1.to_dict()["bounds"][0]["option"]["engine"] == "tp8pp1 fp8_block"


def test_solver_and_time_limit_reach_prove_and_every_backend_gives_one_certificate(capsys):
    """--solver / --time-limit apply to prove's replica MIPs; --json says which oracle answered each mode."""
    from sloplan.solver.backends import installed_backends

    args = ("prove", INSTANCE, "--total-gpus", "2", "--tpot-ms", "5", "--json")
    seen = {}
    for name in [b for b in installed_backends() if b != "ortools:cp-sat"][:3]:
        code, out, _ = cli_run(capsys, *args, "--solver", name, "--time-limit", "30")
        cert = json.loads(out)["certificate"]
        assert code == 3 and cert["solver"]["backend"] == name and cert["solver"]["time_limit_s"] == 30
        assert cert["solver"]["oracles"]["static/agg"]["confirmed_by"] == f"{name} on the certificate MILP"
        assert cert["solver"]["oracles"]["disagg"]["confirmed_by"] == "pair enumeration (solver/disagg_pairs.py)"
        assert cert["solver"]["plans"]["proved"]
        seen[name] = (cert["conflicts"], [(b["group"], b["value"]) for b in cert["bounds"]],
                      [(r["change"], round(r["plan"]["tokens_per_s"], 6)) for r in cert["relaxations"]])
    assert len(set(map(str, seen.values()))) == 1, seen
    code, _, err = cli_run(capsys, *args, "--export", "model.lp")
    assert code == 2 and "export" in err
