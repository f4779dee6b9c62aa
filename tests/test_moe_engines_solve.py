"""The solve path end to end for MoE models, with the estimator gate lifted the way the integrator will
(one `estimated: true` per family in model/catalog/architectures.yaml), here for the test only."""
import dataclasses

import pytest

from sloplan.api import solve
from sloplan.context import build_context
from sloplan.errors import InputError
from sloplan.model.family import families
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.options import fitting_engines, option_table
from sloplan.solver import Slo, best_deployment, pareto_front
from sloplan.solver.brute import brute_best, brute_front


@pytest.fixture
def lifted():
    fam = families()
    saved = dict(fam)
    for name in ("Qwen3MoeForCausalLM", "DeepseekV3ForCausalLM"):
        fam[name] = dataclasses.replace(fam[name], estimated=True)
    yield
    fam.clear()
    fam.update(saved)


def _request(model, gpus):
    return {"model": model, "system": "h200_sxm", "backend": "trtllm", "total_gpus": gpus, "isl": 4000,
            "osl": 500, "ttft_ms": 2000, "tpot_ms": 30}


def test_qwen3_moe_solves_over_ep_and_dp_engines(lifted):
    r = solve(_request("Qwen/Qwen3-30B-A3B-FP8", 16))
    assert r.engines > 10 and r.best is not None
    assert {"experts", "all_to_all"} <= set(r.best.memory_gib)
    assert r.best.memory_gib["experts"] > 0 and r.best.tier


def test_deepseek_rejects_engines_with_too_many_experts_per_gpu(lifted):
    r = solve(_request("deepseek-ai/DeepSeek-V3", 16))
    assert r.best is not None and all(g.gpus_per_replica >= 8 for g in r.best.replicas)
    assert any(x.startswith("tp4pp1ep4 ") and "GiB of experts per GPU (moe_ep=4" in x for x in r.rejected_engines)
    with pytest.raises(InputError, match="smallest engine that fits deepseek-ai/DeepSeek-V3 on h200_sxm \\(8 GPUs\\)"):
        solve(_request("deepseek-ai/DeepSeek-V3", 4))


def test_the_gate_still_refuses_without_the_line():
    with pytest.raises(InputError, match="not supported yet"):
        solve(_request("Qwen/Qwen3.5-27B", 16))


@pytest.mark.parametrize("backend,gpus", [(Backend.TRTLLM, 16), (Backend.VLLM, 8)])
def test_moe_front_and_best_equal_brute_force(lifted, backend, gpus):
    """Exact on a small MoE instance whose table holds EP / DP engines, and (16 GPUs) two-node engines."""
    ctx = build_context("Qwen/Qwen3-30B-A3B-FP8", "h200_sxm", backend, None, 2000, 200, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), gpus, 2)
    engines = [s.engine for s in slots]
    assert any(e.dp > 1 for e in engines) and any(e.moe_ep > 1 for e in engines)
    assert gpus < 16 or any(e.gpus == 16 for e in engines)
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, [ServingMode.AGG], 2, ctx.calibration)
    slo = Slo(ttft_s=2.0)
    pts = lambda f: sorted((d.tokens_per_s_per_user, d.tokens_per_s_per_gpu) for d in f)  # noqa: E731
    assert pts(pareto_front(table, gpus, slo)) == pts(brute_front(table, gpus, slo))
    best, truth = best_deployment(table, gpus, slo), brute_best(table, gpus, slo)
    assert (best.tokens_per_s, best.gpus_used) == (truth.tokens_per_s, truth.gpus_used)
