"""Issue 13's bad-input list, end to end from the CLI: each case is one stderr line naming the field, exit 2,
nothing on stdout; a valid but unreachable disaggregated request is exit 3 with its certificate."""
import json

import pytest
import yaml

from cli_helpers import cli_run
from test_disagg_solve import BAD, SMALL


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_disaggregated_input_exits_2_with_one_line_naming_the_field(case, capsys, tmp_path):
    fields, field, words = BAD[case]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **fields}))
    for args in ((path,), (path, "--json")):
        code, out, err = cli_run(capsys, "solve", *args)
        assert code == 2 and out == "", (case, err)
        assert err.startswith(f"error: {field}: ") and words in err and err.count("\n") == 1, err


def test_unreachable_disaggregated_request_exits_3_with_a_certificate(capsys, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "ttft_ms": 1, "modes": ["disagg"]}))
    code, out, err = cli_run(capsys, "solve", path, "--json")
    doc = json.loads(out)
    assert code == 3 and doc["best"] is None and err.count("\n") <= 1
    cert = doc["certificate"]
    assert cert["feasible"] is False and cert["conflicts"] == [["slo_ttft"]]
    (bound,) = [b for b in cert["bounds"] if b["group"] == "slo_ttft"]
    assert bound["value"] > bound["limit"] == 1.0 and bound["option"]["mode"] == "disagg"
    relaxed = [r for r in cert["relaxations"] if r["kind"] == "slo_ttft"]
    assert relaxed and relaxed[0]["plan"]["mode"] == "disagg" and relaxed[0]["value"] >= bound["value"]
    # a zero-load bound: its plan solved half the pair's prefill batch latency above it (solver/cert_union.py)
    assert relaxed[0]["plan_basis"] == "bound_plus_half_prefill_latency"
    plan = relaxed[0]["plan"]
    assert plan["ttft_ms"] <= relaxed[0]["plan_limit_ms"] and plan["tokens_per_s_per_gpu"] > 0
