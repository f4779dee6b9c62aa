"""Random requests over the catalog: every solve ends as a plan that keeps its promises, a proved
infeasibility with a reason, or a one-field input error — never anything else."""
import numpy as np
import pytest

import sloplan

MODELS = ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B-FP8", "meta-llama/Llama-3.1-70B", "mistralai/Mistral-7B-Instruct-v0.3",
          "Qwen/Qwen2.5-72B-Instruct", "nvidia/Llama-3.1-8B-Instruct-FP8", "meta-llama/Llama-3.2-1B"]
SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm", "a100_sxm", "l40s", "mi300x"]
BACKENDS = ["trtllm", "vllm", "sglang"]


def random_request(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    req = dict(model=str(rng.choice(MODELS)), system=str(rng.choice(SYSTEMS)), backend=str(rng.choice(BACKENDS)),
               total_gpus=int(rng.choice([1, 2, 4, 8, 16])), isl=int(rng.choice([128, 1000, 4000, 16000])),
               osl=int(rng.choice([2, 64, 500, 2000])), max_batch_size=int(rng.choice([16, 128, 512])))
    for slo, values in (("ttft_ms", [50, 500, 5000]), ("tpot_ms", [5, 20, 100]), ("request_latency_ms", [2000, 60000])):
        if rng.random() < 0.6:
            req[slo] = float(rng.choice(values))
    return req


@pytest.mark.parametrize("seed", range(32))
def test_random_request_keeps_its_promises(seed):
    req = random_request(seed)
    try:
        r = sloplan.solve(req)
    except sloplan.InputError as exc:
        # one line naming a request field (quantizations when the checkpoint's own has no data there)
        assert exc.field in sloplan.Request.model_fields and "\n" not in str(exc)
        return
    if r.best is None:
        assert r.infeasible_reason and not r.front
        return
    b = r.best
    for slo, got in (("ttft_ms", b.ttft_ms), ("tpot_ms", b.tpot_ms), ("request_latency_ms", b.request_latency_ms)):
        assert slo not in req or got <= req[slo] * (1 + 1e-9)
    assert b.gpus_used <= req["total_gpus"] and b.check.surrogate_error_pct < 1e-6
    users = [p.tokens_per_s_per_user for p in r.front]
    gpus = [p.tokens_per_s_per_gpu for p in r.front]
    assert np.all(np.diff(users) > 0) and np.all(np.diff(gpus) < 0)  # strictly non-dominated
    assert max(gpus) == pytest.approx(b.tokens_per_s_per_gpu)
