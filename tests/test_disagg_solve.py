"""Disaggregated serving through `solve`: the three-mode front against brute force on real tables, the
request's disaggregated fields, heterogeneous pools, and bad input (exit 2) versus infeasible (exit 3)."""
import json

import pytest

import sloplan
from sloplan.api import _as_request
from sloplan.context import build_context
from sloplan.disagg_request import HETEROGENEOUS, disagg_setup
from sloplan.errors import InputError
from sloplan.model.option_table import ServingMode
from sloplan.model.options import fitting_engines, option_table
from sloplan.solver.brute import brute_best, brute_front
from sloplan.solver.brute_disagg import brute_disagg_best, brute_disagg_front
from sloplan.solver.disagg import disagg_best, disagg_front

from cli_helpers import cli_run

SMALL = dict(model="meta-llama/Llama-3.1-8B", system="h100_sxm", backend="vllm", isl=2000, osl=200,
             total_gpus=3, max_batch_size=4, ttft_ms=1500, tpot_ms=40)


def _context(req):
    return build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                         req.quantizations, client=req.client)


def _non_dominated(points):
    """(speed, tokens/s/GPU) points no other point weakly dominates with one strict side: O(n²), by hand."""
    pts = set(points)
    return sorted(p for p in pts if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in pts))


@pytest.mark.parametrize("extra", [{}, {"mixed_pools": True}, {"max_prefill_gpus": 1, "ttft_ms": 800}],
                         ids=["one-engine-per-pool", "mixed-pools", "prefill-limit"])
def test_three_mode_front_and_best_equal_brute_force(extra):
    """The merged front of static, agg and disagg = the non-dominated set of every mode's brute-force
    plans; the best plan = the brute-force best of all modes (tokens/s, then fewest GPUs)."""
    req = _as_request({**SMALL, **extra})
    result = sloplan.solve(req)
    ctx = _context(req)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), req.total_gpus,
                               req.max_batch_size)
    table = option_table(ctx.arch, slots, ctx.db, ctx.fw, ctx.workload, [ServingMode.STATIC, ServingMode.AGG],
                         req.max_batch_size, ctx.calibration)
    inst = disagg_setup(req, ctx).instance
    truth = [(d.tokens_per_s_per_user, d.tokens_per_s_per_gpu) for d in brute_front(table, req.total_gpus, req.slo)]
    truth += [(d.tokens_per_s_per_user, d.tokens_per_s_per_gpu) for d in brute_disagg_front(inst)]
    got = sorted((p.tokens_per_s_per_user, p.tokens_per_s_per_gpu) for p in result.front)
    assert got == _non_dominated(truth)
    assert {p.mode for p in result.front} >= {"disagg"}  # the instance is chosen so that disagg shows
    bests = [b for b in (brute_best(table, req.total_gpus, req.slo), brute_disagg_best(inst)) if b is not None]
    top = max(bests, key=lambda d: (d.tokens_per_s, -d.gpus_used, d.tokens_per_s_per_user))
    assert (result.best.tokens_per_s, result.best.gpus_used) == (top.tokens_per_s, top.gpus_used)


def test_real_instance_milp_equals_pair_enumeration():
    """On a real table the MILP (branch and bound) and the pair enumeration agree exactly."""
    req = _as_request({**SMALL, "total_gpus": 4, "max_batch_size": 6})
    inst = disagg_setup(req, _context(req)).instance
    assert disagg_best(inst, method="milp").key == disagg_best(inst, method="pairs").key
    pts = lambda f: [(d.tokens_per_s_per_user, d.tokens_exact) for d in f]  # noqa: E731
    assert pts(disagg_front(inst, method="milp")) == pts(disagg_front(inst, method="pairs"))


def test_json_points_carry_mode_layout_and_ttft_parts(capsys):
    code, out, _ = cli_run(capsys, "solve", "--model", SMALL["model"], "--system", "h100_sxm", "--backend", "vllm",
                           "--isl", "2000", "--osl", "200", "--total-gpus", "3", "--max-batch-size", "4",
                           "--ttft-ms", "1500", "--tpot-ms", "40", "--json")
    assert code == 0
    doc = json.loads(out)
    for p in doc["front"] + [doc["best"]]:
        assert p["mode"] in ("static", "agg", "disagg")
        assert p["gpus_used"] == sum(g["count"] * g["gpus"] for g in p["replicas"]) <= p["total_gpus"]
        roles = [g["role"] for g in p["replicas"]]
        if p["mode"] == "disagg":
            assert roles == ["prefill", "decode"] or set(roles) == {"prefill", "decode"}
            parts = p["ttft_breakdown_ms"]
            assert set(parts) == {"prefill", "queueing", "kv_transfer", "first_decode_step"}
            assert sum(parts.values()) == pytest.approx(p["ttft_ms"], abs=0.01)
            assert all(g["launch"] is None and g["system"] == "h100_sxm" for g in p["replicas"])
        else:
            assert set(roles) <= {"static", "agg"} and p["ttft_breakdown_ms"] is None


def test_disagg_best_is_rechecked_by_the_worker_estimators():
    result = sloplan.solve({**SMALL, "modes": ["disagg"]})
    b = result.best
    assert b.mode == "disagg" and b.check is not None and b.check.surrogate_error_pct < 1e-6
    assert b.check.ttft_ms == pytest.approx(b.ttft_ms) and b.check.tpot_ms == pytest.approx(b.tpot_ms)


def test_heterogeneous_pools_place_each_role_on_its_system():
    result = sloplan.solve({**SMALL, "system": "h200_sxm", "prefill_system": "h200_sxm", "decode_system": "b200_sxm",
                            "backend": "trtllm", "modes": ["disagg"], "total_gpus": 4})
    assert result.front
    for p in result.front:
        systems = {g["role"]: g["system"] for g in map(vars, p.replicas)}
        assert systems == {"prefill": "h200_sxm", "decode": "b200_sxm"}
    # across systems the KV goes over the slower side's network link, not NVLink
    req = _as_request({**SMALL, "system": "h200_sxm", "decode_system": "b200_sxm", "backend": "trtllm",
                       "modes": ["disagg"]})
    same = _as_request({**SMALL, "system": "h200_sxm", "backend": "trtllm", "modes": ["disagg"]})
    assert disagg_setup(req, _context(req)).instance.kv_transfer_s.min() > \
        disagg_setup(same, _context(same)).instance.kv_transfer_s.max()


def test_kv_link_override_sets_the_transfer_time():
    slow = sloplan.solve({**SMALL, "modes": ["disagg"], "kv_link_bytes_per_s": 1e9})
    fast = sloplan.solve({**SMALL, "modes": ["disagg"]})
    assert slow.best.ttft_breakdown_ms["kv_transfer"] > 100 * fast.best.ttft_breakdown_ms["kv_transfer"]


BAD = {
    "no shared version": (dict(system="h200_sxm", decode_system="a100_sxm", backend="trtllm"), "decode_system",
                          HETEROGENEOUS),
    "prefill limit below the smallest engine": (dict(model="meta-llama/Llama-3.1-70B", max_prefill_gpus=1, total_gpus=8,
                                                     quantizations=["bf16"]), "max_prefill_gpus",
                                                "smallest prefill engine"),
    "decode pool cannot hold one request": (dict(model="meta-llama/Llama-3.1-70B", decode_system="l40s", total_gpus=1,
                                                 system="h200_sxm"), "decode_system", "KV cache"),
    "unknown decode system": (dict(decode_system="h900"), "decode_system", "unknown system"),
    "disagg field without disagg": (dict(modes=["agg"], max_decode_gpus=2), "max_decode_gpus", "add disagg"),
    "bad link": (dict(kv_link_bytes_per_s=0), "kv_link_bytes_per_s", "a finite number > 0"),
    "zero pool limit": (dict(max_decode_gpus=0), "max_decode_gpus", "an integer 1.."),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_disaggregated_input_is_one_line_naming_the_field(case, capsys):
    fields, field, words = BAD[case]
    with pytest.raises(InputError) as e:
        sloplan.solve({**SMALL, **fields})
    assert e.value.field == field and words in str(e.value) and "\n" not in str(e.value)


def test_unreachable_disaggregated_request_is_infeasible_exit_3(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("model: meta-llama/Llama-3.1-8B\nsystem: h100_sxm\nbackend: vllm\ntotal_gpus: 2\n"
                    "ttft_ms: 1\nmodes: [disagg]\n")
    code, out, err = cli_run(capsys, "solve", path)
    assert code == 3 and "TTFT ≤ 1 ms is unreachable by a disaggregated plan" in err
    r = sloplan.solve(path)
    assert r.best is None and r.front == ()
