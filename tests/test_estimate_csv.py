"""`sloplan estimate --from-csv IN --out PRED`: every input row comes back with predictions or an error."""
import csv
import os
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
    # and two the release cannot estimate (a dense gated-DeltaNet model, a disaggregated row without its
    # worker counts and batch sizes)
    ["dense", "vllm", "", "Qwen/Qwen3-32B", "h100_sxm", "agg", "1024", "512", "bf16", "16", "2", "1", "123.4"],
    ["old", "trtllm", "1.0.0rc3", "Qwen/Qwen3-32B", "h100_sxm", "agg", "2048", "256", "", "8", "4", "1", ""],
    ["moe", "vllm", "", "Qwen/Qwen3.5-27B", "h200_sxm", "agg", "1024", "1024", "fp8", "8", "8", "1", ""],
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
    for key, field in (("moe", "model"), ("disagg", "prefill_batch_size")):
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


# ----------------------------------------------------------------------------- one bad row costs only itself

GOOD = dict(zip(COLUMNS, ROWS[0]))
BAD_ROWS = {  # a change to the good row → the column its error names
    "infinite isl": (dict(isl="inf"), "isl"),
    "isl beyond a float": (dict(isl="1e400"), "isl"),
    "fractional isl": (dict(isl="1000.7"), "isl"),
    "nan batch": (dict(batch_size="nan"), "batch_size"),
    "word tp": (dict(tp_size="two"), "tp_size"),
    "zero osl": (dict(osl="1"), "osl"),
    "negative batch": (dict(batch_size="-4"), "batch_size"),
    "empty isl": (dict(isl=""), "isl"),
    "unknown quant": (dict(gemm_quant_mode="int4_wo"), "gemm_quant_mode"),
    "unknown backend": (dict(backend="tensorflow"), "backend"),
    "pp beyond the layers": (dict(pp_size="100"), "pp_size"),
    "tp not dividing the heads": (dict(tp_size="3"), "tp_size"),
    "unknown system with a version": (dict(system="h900_sxm", backend_version="0.1"), "system"),
    "more fields than the header": ("extra", "from_csv"),
    "fewer fields than the header": ("short", "from_csv"),
}


def _line(change) -> list[str]:
    if change == "extra":
        return [*ROWS[0], "surplus"]
    if change == "short":
        return ROWS[0][:7]
    return [{**GOOD, **change}[c] for c in COLUMNS]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Every bad row between good ones, in one file: the run still writes every row."""
    tmp = tmp_path_factory.mktemp("mixed")
    src, out = tmp / "in.csv", tmp / "pred.csv"
    lines = [COLUMNS, ["first", *ROWS[0][1:]]]
    for name, (change, _) in BAD_ROWS.items():
        lines.append([name, *_line(change)[1:]])
    lines.append(["last", *ROWS[0][1:]])
    with open(src, "w", newline="") as fh:
        csv.writer(fh).writerows(lines)
    r = run("estimate", "--from-csv", src, "--out", out)
    with open(out, newline="") as fh:
        return r, {row["id"]: row for row in csv.DictReader(fh)}


def test_the_run_survives_bad_rows_and_predicts_the_rest(mixed):
    r, rows = mixed
    assert r.returncode == 0, r.stderr
    assert f"2/{len(BAD_ROWS) + 2} rows predicted" in r.stderr
    assert rows["first"]["error"] == rows["last"]["error"] == "" and rows["first"]["pred_ttft_ms"]
    assert rows["first"]["pred_ttft_ms"] == rows["last"]["pred_ttft_ms"]


@pytest.mark.parametrize("name", BAD_ROWS)
def test_a_bad_row_gets_an_error_naming_its_column_and_no_numbers(mixed, name):
    row = mixed[1][name]
    column = BAD_ROWS[name][1]
    assert row["pred_ttft_ms"] == row["pred_tpot_ms"] == "" and row["data_version"] == ""
    assert row["error"].startswith(f"InputError: {column}: ") and "accepted" in row["error"]
    assert "\n" not in row["error"]


def test_an_integral_float_is_that_integer():
    from sloplan.estimate_rows import parse_row

    assert parse_row({**GOOD, "isl": "1024.0"}).isl == 1024 == parse_row(GOOD).isl


def test_a_bug_is_not_hidden_as_a_row_error(tmp_path, monkeypatch):
    """Only input-shaped problems are row errors: a failure inside the estimator surfaces, nothing written."""
    from sloplan import estimate_rows

    src, out = tmp_path / "in.csv", tmp_path / "pred.csv"
    with open(src, "w", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, ROWS[0]])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(estimate_rows, "metrics", broken)
    with pytest.raises(ZeroDivisionError):
        estimate_rows.estimate_csv(src, out)
    assert os.listdir(tmp_path) == ["in.csv"]


# ----------------------------------------------------------------------------- rows of one configuration together

CONCURRENCIES = [1, 3, 16, 16, 64, 200, 512, 4096]  # a duplicate, and values beyond the running cap


def test_rows_of_one_configuration_are_evaluated_together_and_equal_estimate(tmp_path, monkeypatch):
    from sloplan import estimate_rows

    calls = []
    real = estimate_rows.metrics
    monkeypatch.setattr(estimate_rows, "metrics", lambda *a: calls.append(a[-1]) or real(*a))
    rows = []
    for i, c in enumerate(CONCURRENCIES):
        for tp in ("1", "2"):
            rows.append({**GOOD, "id": f"{tp}-{i}", "batch_size": str(c), "tp_size": tp})
    preds = estimate_rows.predict_rows(rows)
    assert sorted(len(c) for c in calls) == [len(CONCURRENCIES)] * 2  # one call per configuration
    for row, pred in zip(rows, preds):
        one = estimate("Qwen/Qwen3-32B", "h100_sxm", "vllm", tp=int(row["tp_size"]), quant="bf16",
                       concurrency=int(row["batch_size"]), isl=1024, osl=512)
        assert (pred["pred_ttft_ms"], pred["pred_tpot_ms"]) == (f"{one.ttft_ms:.4f}", f"{one.tpot_ms:.4f}"), row["id"]


def test_progress_is_a_plain_line_every_few_seconds():
    from sloplan.estimate_rows import every

    now, lines = [0.0], []
    advance = every(5.0, lines.append, clock=lambda: now[0])(100)
    for t, n in ((1.0, 10), (4.9, 10), (5.0, 10), (7.0, 10), (10.5, 10), (20.0, 50)):
        now[0] = t
        advance(n)
    assert lines == ["estimating: 30/100 rows", "estimating: 50/100 rows"]  # not at 100: the summary follows
