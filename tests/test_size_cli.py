"""`sloplan size` and the robustness flags of `sloplan solve` at the front door: exit codes, --json, errors."""
from __future__ import annotations

import json

import pytest

from cli_helpers import cli_run

SCENARIO = ["--model", "Qwen/Qwen3-32B-FP8", "--system", "h200_sxm", "--isl", "4000", "--osl", "500",
            "--ttft-ms", "2000", "--tpot-ms", "30"]


def test_size_json_is_the_exact_minimum_and_serves_the_target(capsys):
    code, out, err = cli_run(capsys, "size", *SCENARIO, "--rate", "50", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target_kind"] == "rate" and doc["target"] == 50 and doc["objective"] == "gpus"
    assert doc["request"]["total_gpus"] is None  # uncapped
    assert doc["capacity"] >= 50 and doc["gpus"] == sum(g["count"] * g["gpus_per_replica"]
                                                         for g in doc["plan"]["replicas"])
    assert 0 <= doc["plan"]["slack"] and doc["plan"]["launch"]
    assert doc["gpus"] < 28  # the peer's recommend answers 28 for this scenario (issue 14)


def test_size_text_and_prices(capsys):
    code, out, _ = cli_run(capsys, "size", *SCENARIO, "--concurrency", "300", "--gpu-price-per-hour",
                           "h200_sxm=3.5")
    assert code == 0
    assert "Sized:" in out and "per hour" in out and "Launch" in out


def test_size_cap_too_small_is_infeasible_with_the_gpus_needed(capsys):
    import re

    _, out, _ = cli_run(capsys, "size", *SCENARIO, "--rate", "50", "--json")
    uncapped = json.loads(out)["gpus"]  # engines up to 64 GPUs: a superset of the capped run's engines
    code, out, err = cli_run(capsys, "size", *SCENARIO, "--rate", "50", "--total-gpus", "8")
    assert code == 3 and err.count("\n") == 1
    needed = int(re.search(r"needs (\d+) GPUs; total_gpus caps it at 8", err).group(1))
    assert needed >= uncapped > 8


def test_size_unreachable_slo_is_infeasible(capsys):
    code, out, err = cli_run(capsys, "size", *SCENARIO[:-2], "--tpot-ms", "1", "--rate", "5", "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["plan"] is None and "TPOT" in doc["infeasible_reason"]


@pytest.mark.parametrize("args, field", [
    ((), "rate"),
    (("--rate", "5", "--concurrency", "3"), "rate"),
    (("--rate", "-1"), "rate"),
    (("--rate", "nan"), "rate"),
    (("--concurrency", "0"), "concurrency"),
    (("--rate", "5", "--headroom", "fifteen"), "headroom"),
    (("--rate", "5", "--headroom", "-5%"), "headroom"),
    (("--rate", "5", "--min-slack", "1e9"), "min_slack"),
    (("--rate", "5", "--gpu-price-per-hour", "b200_sxm=3"), "gpu_price_per_hour"),
    (("--rate", "5", "--gpu-price-per-hour", "0"), "gpu_price_per_hour"),
    (("--rate", "5", "--gpu-price-per-hour", "h200_sxm=x"), "gpu_price_per_hour"),
])
def test_size_bad_input_is_one_line_naming_the_field(capsys, args, field):
    code, out, err = cli_run(capsys, "size", *SCENARIO, *args)
    assert code == 2, err
    assert err.startswith(f"error: {field}:") and err.count("\n") == 1 and not out


def _headroom_and_min_slack(capsys, *modes):
    code, out, _ = cli_run(capsys, "solve", *SCENARIO, "--total-gpus", "8", *modes, "--json")
    plain = json.loads(out)
    code, out, _ = cli_run(capsys, "solve", *SCENARIO, "--total-gpus", "8", *modes, "--headroom", "15%", "--json")
    robust = json.loads(out)
    assert code == 0 and robust["request"]["headroom"] == 0.15
    assert all(p["slack"] >= 0.15 for p in robust["front"]) and robust["best"]["slack"] >= 0.15
    assert min(p["slack"] for p in plain["front"]) < 0.15
    code, out, _ = cli_run(capsys, "solve", *SCENARIO, "--total-gpus", "8", *modes, "--min-slack", "0.15", "--json")
    assert code == 0 and json.loads(out)["front"] == robust["front"]  # the same tightening


def test_solve_headroom_and_min_slack_flags(capsys):
    _headroom_and_min_slack(capsys, "--modes", "static,agg")


@pytest.mark.xfail(strict=False, reason="--headroom / --min-slack tighten the static/agg options only: the "
                   "disaggregated points of the front keep slacks below the asked headroom (found by h-disacc); "
                   "since h-discal's refit this scenario's disaggregated points happen to clear 15 % (XPASS)")
def test_solve_headroom_and_min_slack_cover_disaggregated_points(capsys):
    _headroom_and_min_slack(capsys)


def test_solve_table_shows_slack(capsys):
    code, out, _ = cli_run(capsys, "solve", *SCENARIO, "--total-gpus", "8")
    assert code == 0 and "slack" in out and "slack 12%" in out and "Best:" in out  # the quick start's disagg best


def test_size_disagg_json_lists_the_pools_and_their_launch_bundle(capsys):
    """Disaggregated pools only, prefill capped by max_prefill_gpus: integer worker counts, the groups
    rebuild the GPU count, and the bundle starts as many workers as the plan counts."""
    code, out, err = cli_run(capsys, "size", *SCENARIO, "--rate", "20", "--modes", "disagg", "--max-prefill-gpus",
                             "12", "--json")
    assert code == 0, err
    doc = json.loads(out)
    roles = {g["role"]: g for g in doc["groups"]}
    assert set(roles) == {"prefill", "decode"}
    assert doc["gpus"] == sum(g["count"] * g["gpus"] for g in doc["groups"])
    assert roles["prefill"]["count"] * roles["prefill"]["gpus"] <= 12
    assert doc["capacity"] >= 20 and doc["solver"]["status"] == "optimal"
    bundle = doc["launch_bundle"]
    assert f"{roles['prefill']['count']} prefill + {roles['decode']['count']} decode workers" in bundle
    assert doc["plan"]["ttft_breakdown_ms"]["kv_transfer"] > 0 and doc["plan"]["ttft_ms"] <= 2000 * (1 + 1e-9)


def test_size_every_mode_is_never_worse_than_one_mode(capsys):
    got = {}
    for modes in ("agg", "disagg", "static,agg,disagg"):
        code, out, err = cli_run(capsys, "size", *SCENARIO, "--rate", "20", "--modes", modes, "--json")
        assert code == 0, err
        got[modes] = json.loads(out)["gpus"]
    assert got["static,agg,disagg"] <= min(got["agg"], got["disagg"])


def test_a_time_limit_without_a_plan_exits_4_and_an_incumbent_says_it_is_unproved(capsys, monkeypatch):
    """The CLI's handling of a limited solve (the solver side: solver/size.py `size_deployment_within`):
    no plan -> exit 4 with one stderr line; an incumbent -> printed as not proved minimal, with its gap."""
    import sloplan.solver.size as solver_size
    from sloplan.solver.backends import SolveStatus
    from sloplan.solver.limits import Outcome

    real = solver_size.size_plan

    def stopped(*args, **kwargs):
        return None, Outcome(SolveStatus.TIME_LIMIT, float("inf"), "stopped before a plan was found")

    monkeypatch.setattr(solver_size, "size_plan", stopped)
    code, _, err = cli_run(capsys, "size", *SCENARIO, "--rate", "5", "--modes", "agg", "--time-limit", "0.5")
    assert code == 4 and "no plan found within the time limit (0.5 s)" in err and err.count("\n") == 1

    def incumbent(*args, **kwargs):
        found, _ = real(*args, **kwargs)
        return found, Outcome(SolveStatus.TIME_LIMIT, 0.05, "cost not proved minimal")

    monkeypatch.setattr(solver_size, "size_plan", incumbent)
    code, out, _ = cli_run(capsys, "size", *SCENARIO, "--rate", "5", "--modes", "agg", "--time-limit", "0.5")
    assert code == 0 and "time_limit: not proved minimal, gap 5.00%" in out
    code, out, _ = cli_run(capsys, "size", *SCENARIO, "--rate", "5", "--modes", "agg", "--time-limit", "0.5",
                           "--json")
    doc = json.loads(out)
    assert doc["solver"]["status"] == "time_limit" and doc["solver"]["gap"] == 0.05 and doc["plan"] is not None


def test_size_refuses_mixed_pools_naming_the_field():
    from sloplan.errors import InputError
    from sloplan.size import size

    req = dict(model="Qwen/Qwen3-32B-FP8", system="h200_sxm", isl=4000, osl=500, ttft_ms=2000, tpot_ms=30,
               modes=["disagg"], mixed_pools=True)
    with pytest.raises(InputError) as exc:
        size(req, rate=5.0)
    assert exc.value.field == "mixed_pools" and "accepted: false" in str(exc.value)
