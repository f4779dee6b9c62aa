"""Exactness on real option tables: the MIP front and best plan equal brute-force enumeration."""
import numpy as np
import pytest

from sloplan.context import build_context
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.options import fitting_engines, option_table
from sloplan.solver import Slo, best_deployment, pareto_front
from sloplan.solver.brute import brute_best, brute_front

INSTANCES = [
    # model, system, backend, total_gpus, max_batch, modes, slo
    ("meta-llama/Llama-3.1-70B", "h100_sxm", Backend.VLLM, 8, 4, (ServingMode.AGG,), Slo()),
    ("Qwen/Qwen3-32B-FP8", "h200_sxm", Backend.TRTLLM, 4, 3, (ServingMode.AGG,), Slo(ttft_s=2.0)),
    ("meta-llama/Llama-3.1-8B", "h100_sxm", Backend.SGLANG, 2, 3, (ServingMode.AGG, ServingMode.STATIC),
     Slo(tpot_s=0.05)),
]


def _table(model, system, backend, total_gpus, max_batch, modes):
    ctx = build_context(model, system, backend, None, 2000, 200, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), total_gpus, max_batch)
    return option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, list(modes), max_batch, ctx.calibration)


@pytest.mark.parametrize("inst", INSTANCES, ids=lambda i: f"{i[0]}-{i[1]}-{i[3]}gpu")
def test_front_and_best_equal_brute_force(inst):
    model, system, backend, n, max_batch, modes, slo = inst
    table = _table(model, system, backend, n, max_batch, modes)
    assert len(table) >= 6
    front = pareto_front(table, n, slo)
    truth = brute_front(table, n, slo)
    pts = lambda f: sorted((d.tokens_per_s_per_user, d.tokens_per_s_per_gpu) for d in f)  # noqa: E731
    assert pts(front) == pts(truth) and len(front) >= 2
    best, true_best = best_deployment(table, n, slo), brute_best(table, n, slo)
    assert (best.tokens_per_s, best.gpus_used) == (true_best.tokens_per_s, true_best.gpus_used)
    assert best.meets(slo)
    xy = np.array(pts(front))
    for i, (u, t) in enumerate(xy):
        others = np.delete(xy, i, axis=0)
        assert not np.any((others[:, 0] >= u) & (others[:, 1] >= t))
