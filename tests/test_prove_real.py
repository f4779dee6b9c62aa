"""A real instance (Qwen3-32B BF16 on H200, TRT-LLM, priced by the estimator) whose certificate names three
groups: its conflicts, bounds and relaxations equal brute-force enumeration over the same options."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.core.enums import ConstraintGroup
from sloplan.solver.brute import brute_best
from sloplan.solver.cert_replica import CertInstance
from sloplan.solver.cert_verify import Verifier, verify
from sloplan.solver.certificate import FormulationOracle, all_minimal_conflicts

G = ConstraintGroup
REQUEST = {"model": "Qwen/Qwen3-32B", "system": "h200_sxm", "backend": "trtllm", "isl": 2000, "osl": 200,
           "tpot_ms": 7, "ttft_ms": 300, "total_gpus": 2, "quantizations": ["bf16"], "max_batch_size": 2,
           "modes": ["agg"]}


@pytest.fixture(scope="module")
def wide():
    from sloplan.context import build_context
    from sloplan.prove import instance
    from sloplan.request import parse_request

    req = parse_request(REQUEST)
    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    return instance(req, ctx)[0]


@pytest.fixture(scope="module")
def small(wide):
    """The same instance on engines of at most 4 GPUs: few enough options to enumerate every vector."""
    keep = np.flatnonzero(wide.table.gpus <= 4)
    return CertInstance(wide.table.take(keep), wide.total_gpus, wide.slo,
                        {g: wide.excluded[g][keep] for g in wide.excluded}, wide.in_domain[keep],
                        {k: (kind, rows[keep]) for k, (kind, rows) in wide.alternatives.items()})


def test_the_real_conflict_has_three_groups(wide):
    assert wide.conflicts() == (frozenset({G.GPU_BUDGET, G.QUANTIZATION, G.SLO_TPOT}),)
    oracle = FormulationOracle(wide.formulation(compact=False), frozenset(wide.groups))
    assert all_minimal_conflicts(wide.groups, oracle) == wide.conflicts()


def test_conflicts_and_bounds_equal_brute_force(small):
    bounds = {b.group: b.value for b in small.bounds()}
    how, problems = verify(small, small.feasible(small.groups), set(small.conflicts()), bounds)
    assert problems == [] and how == "brute force"
    assert Verifier(small).conflicts() == set(small.conflicts())


def test_relaxations_equal_brute_force(small):
    found = small.relaxations()
    assert {r.kind for r in found} >= {"slo_tpot", "gpu_budget", "quantization"}
    t = small.table
    usable = small.in_domain & ~small.excluded[G.QUANTIZATION]
    for r in found:
        kind = r.kind
        if kind == "slo_tpot":
            rows, budget, slo = usable & (t.gpus <= 2), 2, type(small.slo)(ttft_s=small.slo.ttft_s, tpot_s=r.value)
        elif kind == "gpu_budget":
            rows, budget, slo = usable & (t.gpus <= r.value), int(r.value), small.slo
            assert brute_best(t.take(np.flatnonzero(usable)), budget - 1, slo) is None
        elif kind == "quantization":
            rows, budget, slo = (small.in_domain | small.alternatives[r.value][1]) & ~(
                small.excluded[G.QUANTIZATION] & ~small.alternatives[r.value][1]), 2, small.slo
        else:
            rows, budget, slo = small.in_domain | small.alternatives[r.value][1], 2, small.slo
            rows &= ~small.excluded[G.QUANTIZATION]
        best = brute_best(t.take(np.flatnonzero(rows)), budget, slo)
        assert best is not None and r.plan.metrics.tokens_per_s == best.tokens_per_s, kind


def test_memory_and_quantization_conflicts_on_a_real_instance():
    """Llama-3.1-70B in BF16 on one H100: its only one-GPU engine is short of memory (and would miss
    TPOT anyway); FP8 or FP8-block weights, or a second GPU, each make it feasible."""
    from sloplan.prove import prove

    cert, _ = prove({"model": "meta-llama/Meta-Llama-3.1-70B", "system": "h100_sxm", "total_gpus": 1,
                     "quantizations": ["bf16"], "tpot_ms": 50})
    assert set(cert.conflicts) == {("gpu_budget", "memory", "quantization"), ("gpu_budget", "quantization",
                                                                            "slo_tpot")}
    assert sorted(r.change for r in cert.relaxations) == ["2 GPUs", "quantization fp8", "quantization fp8_block"]
    assert all(r.plan.tpot_ms <= 50 and r.plan.gpus_used <= r.plan.total_gpus for r in cert.relaxations)
    assert cert.solver["status"] == "infeasible" and cert.unservable == ("nvfp4: h100_sxm has no fp4 tensor cores",)
