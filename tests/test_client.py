"""`client: serving | offline`: the frontend streaming limit is the HTTP serving front's, so an offline
client (trtllm-bench, vllm bench throughput) runs without it; defaults stay what they were."""
import subprocess
import sys
from pathlib import Path

import pytest

import sloplan
from sloplan.core.enums import Client
from sloplan.estimation import estimate
from sloplan.model.calibration import calibration

ROOT = Path(__file__).resolve().parents[1]
# the README's frontend-bound example: h100 TRT-LLM streams near its fitted limit at TP8, concurrency 128
BOUND = dict(model="meta-llama/Llama-3.1-8B-Instruct", system="h100_sxm", backend="trtllm", tp=8, concurrency=128,
             isl=1024, osl=512)


def test_offline_drops_only_the_frontend_limit():
    cal = calibration("trtllm", "h100_sxm")
    assert cal.frontend_s_per_token > 0
    assert cal.for_client(Client.SERVING) is cal and cal.for_client("serving") is cal
    off = cal.for_client(Client.OFFLINE)
    assert off.frontend_s_per_token == 0 and off.frontend_load(1e6) == 0
    assert {k: v for k, v in vars(off).items() if k != "frontend_s_per_token"} == \
           {k: v for k, v in vars(cal).items() if k != "frontend_s_per_token"}


def test_offline_is_faster_where_the_limit_binds():
    serving, offline = estimate(**BOUND), estimate(**BOUND, client="offline")
    assert serving.frontend_load > 0.5 and offline.frontend_load == 0
    assert offline.tokens_per_s_per_gpu > 1.1 * serving.tokens_per_s_per_gpu
    assert offline.ttft_ms < serving.ttft_ms  # clients beyond the limit no longer wait for their first token


def test_identical_where_the_limit_does_not_bind():
    """One request at a time is far below the limit: the soft minimum moves it by < 1e-4."""
    args = {**BOUND, "concurrency": 1}
    serving, offline = estimate(**args), estimate(**args, client=Client.OFFLINE)
    assert serving.frontend_load < 0.05
    for field in ("ttft_ms", "tpot_ms", "tokens_per_s_per_gpu"):
        assert getattr(offline, field) == pytest.approx(getattr(serving, field), rel=1e-4), field
    assert offline.tokens_per_s_per_gpu >= serving.tokens_per_s_per_gpu


def test_default_is_serving():
    assert estimate(**BOUND) == estimate(**BOUND, client="serving")
    assert sloplan.Request(model="m", system="s", total_gpus=1).client is Client.SERVING


def test_solve_offline_serves_at_least_as_much():
    req = {"model": "meta-llama/Llama-3.1-8B", "system": "h100_sxm", "backend": "trtllm", "total_gpus": 8,
           "isl": 1024, "osl": 512, "ttft_ms": 5000, "tpot_ms": 30, "modes": ["agg"]}
    serving, offline = sloplan.solve(req), sloplan.solve({**req, "client": "offline"})
    assert offline.request["client"] == "offline" and serving.request["client"] == "serving"
    assert offline.best.tokens_per_s_per_gpu >= serving.best.tokens_per_s_per_gpu
    assert max(p.tokens_per_s_per_gpu for p in offline.front) >= max(p.tokens_per_s_per_gpu for p in serving.front)


@pytest.mark.parametrize("where", ["request", "python"])
def test_bad_client_is_one_input_error(where):
    with pytest.raises(sloplan.InputError) as err:
        if where == "request":
            sloplan.Request(model="m", system="s", total_gpus=1, client="batch")
        else:
            estimate(**BOUND, client="batch")
    assert err.value.field == "client" and "serving" in str(err.value) and "offline" in str(err.value)


@pytest.mark.parametrize("command", [["estimate", "--model", "meta-llama/Llama-3.1-8B", "--system", "h100_sxm"],
                                     ["solve", "instances/qwen3-32b-fp8-h200-trtllm.yaml"]])
def test_cli_bad_client_exits_2_with_one_line(command):
    r = subprocess.run([sys.executable, "-m", "sloplan", *command, "--client", "batch"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: client:") and "serving" in lines[0] and \
        "offline" in lines[0], r.stderr


def test_csv_client_column_chooses_per_row(tmp_path):
    from sloplan.estimate_rows import predict_rows

    base = {"id": "x", "model_path": BOUND["model"], "system": "h100_sxm", "backend": "trtllm", "mode": "agg",
            "isl": "1024", "osl": "512", "batch_size": "128", "tp_size": "8", "pp_size": "1"}
    serving, offline, flagged, bad = predict_rows([{**base, "client": ""}, {**base, "client": "offline"},
                                                   {**base, "client": ""}, {**base, "client": "bench"}])
    assert float(offline["pred_ttft_ms"]) < float(serving["pred_ttft_ms"])
    assert flagged == serving and bad["error"].startswith("InputError: client:")
    default_offline = predict_rows([{**base, "client": ""}], client=Client.OFFLINE)[0]
    assert default_offline["pred_ttft_ms"] == offline["pred_ttft_ms"]
