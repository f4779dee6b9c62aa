"""The front door as a script sees it: `solve --json`, `estimate --json`, `models` (real processes)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"


def run(*args):
    r = subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       timeout=180)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def solved():
    code, out, err = run("solve", EXAMPLE, "--json")
    assert code == 0, err
    return json.loads(out)


def test_solve_json_has_best_and_a_front_of_points(solved):
    assert {"best", "front", "request", "data_version", "options", "engines"} <= solved.keys()
    need = {"tokens_per_s_per_user", "tokens_per_s_per_gpu", "ttft_ms", "tpot_ms", "mode", "engine", "tier"}
    assert solved["front"] and all(need <= p.keys() for p in solved["front"])
    speeds = [p["tokens_per_s_per_user"] for p in solved["front"]]
    rates = [p["tokens_per_s_per_gpu"] for p in solved["front"]]
    assert speeds == sorted(speeds) and rates == sorted(rates, reverse=True)  # nothing dominated


def test_solve_json_best_meets_the_request_slos_and_is_on_the_front(solved):
    best, req = solved["best"], solved["request"]
    assert best["ttft_ms"] <= req["ttft_ms"] and best["tpot_ms"] <= req["tpot_ms"]
    assert best["gpus_used"] <= req["total_gpus"]
    assert max(p["tokens_per_s_per_gpu"] for p in solved["front"]) == pytest.approx(best["tokens_per_s_per_gpu"])
    assert best["check"]["surrogate_error_pct"] < 1e-6
    if best["mode"] == "disagg":  # its bundle: generators/disagg_launch.py (workers, then the router)
        assert {g["role"] for g in best["replicas"]} == {"prefill", "decode"}
        assert best["launch"].count("trtllm-serve disaggregated") == 1
    else:
        assert best["launch"].count("trtllm-serve") == 1
    for point in solved["front"]:  # every point names the op behind a tier outside the measured range
        assert (point["tier_source"] is None) == (point["tier"] in ("measured", "interpolated"))


def test_estimate_json_is_one_consistent_document():
    code, out, err = run("estimate", "--model", "meta-llama/Llama-3.1-70B", "--system", "h100_sxm", "--backend", "vllm",
                         "--tp", "4", "--quant", "fp8", "--concurrency", "32", "--isl", "1024", "--osl", "1024",
                         "--json")
    assert code == 0, err
    e = json.loads(out)
    assert e["engine"] == "tp4pp1 fp8" and e["running"] == 32
    assert e["tokens_per_s_per_user"] == pytest.approx(1000.0 / e["tpot_ms"])
    assert e["request_latency_ms"] == pytest.approx(e["ttft_ms"] + 1023 * e["tpot_ms"])
    assert e["memory_gib"]["weights"] > 0 and e["tier"] in ("measured", "interpolated", "extrapolated", "roofline")


def test_models_lists_the_catalog():
    code, out, err = run("models")
    assert code == 0, err
    for name in ("Qwen/Qwen3-32B-FP8", "meta-llama/Meta-Llama-3.1-70B"):
        assert name in out


def test_estimate_says_when_the_servers_frontend_bounds_throughput():
    """h100 TRT-LLM has a fitted frontend limit: 8B at TP8 with 128 clients streams close to it, one
    client does not. The JSON carries the load; the table says it in words only when it matters."""
    base = ("estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--system", "h100_sxm", "--backend", "trtllm",
            "--tp", 8, "--isl", 1024, "--osl", 512)
    loads = {}
    for conc in (1, 128):
        code, out, err = run(*base, "--concurrency", conc, "--json")
        assert code == 0, err
        loads[conc] = json.loads(out)["frontend_load"]
    assert loads[1] < 0.1 < 0.5 < loads[128] < 1.0
    code, out, _ = run(*base, "--concurrency", 128)
    assert code == 0 and "frontend-bound" in out
    code, out, _ = run(*base, "--concurrency", 1)
    assert code == 0 and "frontend-bound" not in out


def test_the_best_plan_reports_its_frontend_load():
    """8B on 8x h100 TRT-LLM with a loose TTFT: the best plan runs each server near its fitted frontend
    limit, and its load is the busiest replica's tokens/s over that limit."""
    from sloplan.model.calibration import calibration

    args = ("solve", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--system", "h100_sxm", "--backend", "trtllm",
            "--total-gpus", 8, "--isl", 1024, "--osl", 512, "--ttft-ms", 3000, "--tpot-ms", 50, "--modes", "agg,static")
    code, out, err = run(*args, "--json")
    assert code == 0, err
    best = json.loads(out)["best"]
    assert len(best["replicas"]) == 1  # one replica type: every server carries the same load
    per_server = best["tokens_per_s"] / best["replicas"][0]["count"]
    limit = 1 / calibration("trtllm", "h100_sxm").frontend_s_per_token
    assert best["frontend_load"] == pytest.approx(per_server / limit, rel=1e-6)
    assert 0.5 < best["frontend_load"] < 1.0
    code, out, _ = run(*args)
    assert code == 0 and "frontend-bound" in out
