"""A certificate says what it means on a real disaggregated request (Qwen3-32B-FP8 on 8× H200, TRT-LLM,
disagg only, prefill capped at one GPU, TTFT ≤ 300 ms: the README's example): the TTFT bound is tight and
reached only at zero load, so the plan shown beside it is solved a stated margin above it and serves real
load; `solve`'s one-line reason names the same bound the certificate does."""
from __future__ import annotations

import json
import re

import pytest

from cli_helpers import cli_run

REQUEST = {"model": "Qwen/Qwen3-32B-FP8", "system": "h200_sxm", "backend": "trtllm", "isl": 4000, "osl": 500,
           "max_batch_size": 32, "total_gpus": 8, "modes": ["disagg"], "ttft_ms": 300, "tpot_ms": 10,
           "max_prefill_gpus": 1}
FLAGS = ["--model", "Qwen/Qwen3-32B-FP8", "--system", "h200_sxm", "--modes", "disagg", "--total-gpus", "8",
         "--isl", "4000", "--osl", "500", "--max-batch-size", "32", "--ttft-ms", "300", "--tpot-ms", "10",
         "--max-prefill-gpus", "1"]


@pytest.fixture(scope="module")
def solved():
    from sloplan.api import solve

    result = solve(REQUEST)
    assert result.best is None and result.certificate is not None
    return result


def _ttft(cert):
    bound = next(b for b in cert.bounds if b.group == "slo_ttft")
    (relax,) = [r for r in cert.relaxations if r.kind == "slo_ttft"]
    return bound, relax


def test_the_bound_is_the_value_and_its_plan_is_solved_above_it_and_serves_load(solved):
    from sloplan.api import solve

    bound, relax = _ttft(solved.certificate)
    assert bound.option.mode == "disagg" and bound.option.tokens_per_s_per_gpu == 0.0  # zero load at the bound
    assert bound.value <= relax.value < bound.value + 1e-3  # the relaxation still states the tight bound
    at_bound = solve({**REQUEST, "ttft_ms": relax.value}).best
    assert at_bound is not None and at_bound.tokens_per_s_per_gpu < 0.01  # why the plan is not taken there
    assert relax.plan_basis == "bound_plus_half_prefill_latency"
    assert relax.plan_limit_ms > relax.value and relax.plan_change == f"TTFT ≤ {relax.plan_limit_ms:.4f} ms"
    plan = relax.plan
    # the solver admits TTFT in seconds against plan_limit_ms / 1000 (covering_ms); back in ms a plan on the
    # limit may read one ulp above it
    assert plan.tokens_per_s_per_gpu > 10 and plan.ttft_ms <= relax.plan_limit_ms * (1 + 1e-12) and plan.tpot_ms <= 10
    # the margin is half the bound pair's prefill batch latency, less than its whole unloaded TTFT
    assert relax.plan_limit_ms - relax.value < bound.value / 2
    again = solve({**REQUEST, "ttft_ms": relax.plan_limit_ms}).best
    assert again.tokens_per_s_per_gpu == pytest.approx(plan.tokens_per_s_per_gpu, rel=1e-9)


def test_other_relaxations_are_planned_at_their_change(solved):
    others = [r for r in solved.certificate.relaxations if r.kind != "slo_ttft"]
    assert others and all(r.plan_basis == "at_change" and r.plan_change is None for r in others)


def test_the_one_line_reason_states_the_certificates_bound(solved):
    """One quantity: the least TTFT a pair reaches within the budget, the per-pool limit and the TPOT
    (not the least over pairs whose workers together exceed the budget)."""
    from sloplan.api import resolve
    from sloplan.disagg_request import disagg_setup
    from sloplan.request import parse_request
    from sloplan.solver.cert_disagg import DisaggCert
    from sloplan.solver.infeasibility import best_ms_text

    bound, _ = _ttft(solved.certificate)
    shown = f"best {best_ms_text(bound.planned)} ms while the rest holds"
    assert shown in solved.infeasible_reason and shown in solved.certificate.summary
    req = parse_request(REQUEST)
    ctx, _, _ = resolve(req)
    cert = DisaggCert(disagg_setup(req, ctx).instance)
    from sloplan.core.enums import SloKind

    assert cert.slo_bound(SloKind.TTFT, cert.groups).value == bound.planned  # the same float, same rows


def test_cli_and_json_say_where_the_plan_was_solved(capsys):
    code, out, err = cli_run(capsys, "prove", *FLAGS)
    assert code == 3
    text = " ".join(out.split())  # rich wraps long lines
    assert re.search(r"TTFT ≤ [\d.]+ ms \(tight; [^)]*zero load\) — plan at TTFT ≤ [\d.]+ ms \(\+ half its "
                     r"prefill batch latency[^)]*\): 1× ", text)
    code, out, _ = cli_run(capsys, "prove", *FLAGS, "--json")
    (relax,) = [r for r in json.loads(out)["certificate"]["relaxations"] if r["kind"] == "slo_ttft"]
    assert relax["plan_basis"] == "bound_plus_half_prefill_latency" and relax["plan_limit_ms"] > relax["value"]
    assert relax["plan"]["tokens_per_s_per_gpu"] > 0
