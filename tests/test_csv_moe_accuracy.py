"""bench/accuracy.py's MoE/MLA section: honest coverage figures, out-of-fold errors, and the dense
section printed exactly as without it."""
import contextlib
import csv
import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import accuracy  # noqa: E402
import accuracy_moe  # noqa: E402


def rec(i, peer=True, ours=False, note=""):
    return {"id": f"r{i}", "model_path": "m", "system": "h200_sxm", "backend": "trtllm",
            "silicon_ttft_ms": 100.0, "silicon_tpot_ms": 10.0,
            "sloplan_ttft_ms": 110.0 if ours else None, "sloplan_tpot_ms": 9.0 if ours else None,
            "peer_ttft_ms": 150.0 if peer else None, "peer_tpot_ms": 12.0 if peer else None,
            "sloplan_layout_note": note}


def test_coverage_says_none_predicted():
    recs = [rec(i, peer=i % 3 != 0, note="re-read" if i < 5 else "") for i in range(30)]
    cells = accuracy_moe.coverage_row("ALL", recs, None)
    assert cells[:5] == ["ALL", "30", "5", "0.0", "66.7"]
    assert cells[5:7] == ["-", "-"] and cells[7:9] == ["50.0", "20.0"]
    assert cells[-1] == "sloplan predicts fewer"
    few = accuracy_moe.coverage_row("small", recs[:10], None)
    assert few[-1] == ""  # fewer than 20 rows: not flagged


def test_coverage_with_predictions_and_cv():
    recs = [rec(i, ours=True) for i in range(20)]
    cv = {f"r{i}": (20.0, 5.0) for i in range(10)}
    cells = accuracy_moe.coverage_row("ALL", recs, cv)
    assert cells[3] == "100.0" and cells[5:7] == ["10.0", "10.0"]
    assert cells[7:10] == ["10", "20.0", "5.0"] and cells[-1] == ""


def test_cross_validated_scores_only_what_sloplan_prices():
    _, dense, moe = accuracy.load_dev_agg(accuracy.silicon_csv_path())
    assert len(dense) == accuracy.EXPECTED_ROWS
    unpriced = [r for r in moe if r["model_path"].startswith("deepseek-ai/")][:20]
    out_of_fold = accuracy_moe.cross_validated(unpriced, 5)
    assert set(out_of_fold) <= {r["id"] for r in unpriced}
    rows = [r for r in dense if r["system"] == "h100_sxm" and r["backend"] == "vllm"][:8]
    errs = accuracy_moe.cross_validated(rows, 2)
    assert set(errs) == {r["id"] for r in rows}
    assert all(0 <= t < 1000 and 0 <= p < 1000 for t, p in errs.values())


@pytest.fixture
def tiny_files(tmp_path):
    """A prediction file and a peer file for a few rows, so main() runs without sloplan or the share."""
    _, dense, moe = accuracy.load_dev_agg(accuracy.silicon_csv_path())
    pred, peer = tmp_path / "pred.csv", tmp_path / "peer.csv"
    for path in (pred, peer):
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "pred_ttft_ms", "pred_tpot_ms", "error", "layout_note"])
            for r in dense[:5]:
                w.writerow([r["id"], "100", "10", "", ""])
            for r in moe[:5]:
                w.writerow([r["id"], "", "", "InputError: model_path: not supported yet", "re-read"])
    return pred, peer


def run_main(*argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = accuracy.main(list(map(str, argv)))
    return code, buf.getvalue()


def test_dense_section_prints_as_without_the_moe_section(tiny_files):
    pred, peer = tiny_files
    code, with_moe = run_main("--from-pred", pred, "--peer-pred", peer, "--no-disagg")
    code_dense, dense_only = run_main("--from-pred", pred, "--peer-pred", peer, "--no-moe", "--no-disagg")
    assert code == code_dense == 0
    head, sep, moe = with_moe.partition("\n===== MoE/MLA section =====")
    assert sep and head.rstrip("\n") == dense_only.rstrip("\n")
    assert "dev-split MoE/MLA agg rows: n = 2079" in moe and "MoE coverage" in moe
    assert "predicted_pct      0.0%   target >= 95%   MISSED" in moe
