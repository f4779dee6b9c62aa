"""`sloplan estimate --from-csv IN --out PRED`: every input row comes back with predictions or an error."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from sloplan.estimation import estimate

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["id", "backend", "backend_version", "model_path", "system", "mode", "isl", "osl", "gemm_quant_mode",
           "batch_size", "tp_size", "pp_size", "silicon_ttft_ms"]
ROWS = [
    # a dense row on the newest data, one whose framework version has no data (nearest is used),
    # and two the release cannot estimate (a MoE model, a disaggregated row)
    ["dense", "vllm", "", "Qwen/Qwen3-32B", "h100_sxm", "agg", "1024", "512", "bf16", "16", "2", "1", "123.4"],
    ["old", "trtllm", "1.0.0rc3", "Qwen/Qwen3-32B", "h100_sxm", "agg", "2048", "256", "", "8", "4", "1", ""],
    ["moe", "vllm", "", "deepseek-ai/DeepSeek-V3", "h200_sxm", "agg", "1024", "1024", "fp8", "8", "8", "1", ""],
    ["disagg", "vllm", "", "Qwen/Qwen3-32B", "h100_sxm", "disagg", "1024", "512", "bf16", "16", "2", "1", ""],
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csv")
    src, out = tmp / "in.csv", tmp / "pred.csv"
    with open(src, "w", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, *ROWS])
    r = run("estimate", "--from-csv", src, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "2/4 rows predicted" in r.stderr
    with open(out, newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def test_predictions_keep_every_input_column_and_match_estimate(predicted):
    row = predicted["dense"]
    assert row["silicon_ttft_ms"] == "123.4" and row["error"] == ""
    one = estimate("Qwen/Qwen3-32B", "h100_sxm", "vllm", tp=2, quant="bf16", concurrency=16, isl=1024, osl=512)
    # the CSV keeps four decimals of a millisecond
    assert float(row["pred_ttft_ms"]) == pytest.approx(one.ttft_ms, rel=0, abs=5.1e-5)
    assert float(row["pred_tpot_ms"]) == pytest.approx(one.tpot_ms, rel=0, abs=5.1e-5)
    assert row["data_version"] == one.data_version


def test_a_version_without_data_uses_the_nearest_one_and_says_which(predicted):
    row = predicted["old"]
    assert row["error"] == "" and float(row["pred_ttft_ms"]) > 0
    assert row["data_version"] and row["data_version"] != "1.0.0rc3"


def test_rows_it_cannot_estimate_get_an_error_and_no_numbers(predicted):
    for key, field in (("moe", "model"), ("disagg", "mode")):
        row = predicted[key]
        assert row["pred_ttft_ms"] == "" and row["pred_tpot_ms"] == ""
        assert field in row["error"]


@pytest.mark.parametrize("content, field", [(b"\x00\xd0\xff binary", "from_csv"), (b"a,b\n1,2\n", "from_csv")])
def test_bad_csv_is_one_line_exit_2(tmp_path, content, field):
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    r = run("estimate", "--from-csv", src, "--out", tmp_path / "pred.csv")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {field}:") and "Traceback" not in r.stderr
    assert not (tmp_path / "pred.csv").exists()


def test_out_in_a_missing_directory_is_one_line_exit_2(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(",".join(COLUMNS) + "\n")
    r = run("estimate", "--from-csv", src, "--out", tmp_path / "nowhere" / "pred.csv")
    assert r.returncode == 2 and r.stderr.startswith("error: out:") and "Traceback" not in r.stderr
