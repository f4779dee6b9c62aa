"""The bundled requests still give the results recorded in instances/expected.yaml (regression cases)."""
from pathlib import Path

import pytest
import yaml

from sloplan.api import solve

ROOT = Path(__file__).resolve().parents[1] / "instances"
EXPECTED = yaml.safe_load((ROOT / "expected.yaml").read_text())
REL_TOL = 0.03  # estimates move a little with perf-data interpolation; plans should not


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_instance_matches_its_expected_result(name):
    want = EXPECTED[name]
    result = solve(ROOT / name)
    if "infeasible" in want:
        assert result.best is None and result.front == ()
        assert want["infeasible"] in result.infeasible_reason
        return
    best = result.best
    assert (best.engine, best.mode) == (want["best_engine"], want["best_mode"])
    assert best.tokens_per_s_per_gpu == pytest.approx(want["best_tokens_per_s_per_gpu"], rel=REL_TOL)
    assert len(result.front) >= want["min_front_points"]
    req = result.request
    for slo, value in (("ttft_ms", best.ttft_ms), ("tpot_ms", best.tpot_ms)):
        assert req[slo] is None or value <= req[slo] * (1 + 1e-12)  # a plan at its cap: met up to float rounding


def test_every_request_file_has_an_expectation():
    files = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)
