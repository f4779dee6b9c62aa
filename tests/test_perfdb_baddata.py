"""Bad perf data never becomes a wrong number: an error naming file and column, or rows dropped with a warning."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from perfdb_fixtures import gemm_rows, overlay_gemm, write_table

from sloplan.perfdb import BadPerfData, PerfDataWarning, Tier, load_perfdb
from sloplan.perfdb.source import read_columns
from sloplan.perfdb.validate import check_duplicates

GEMM_NUMERIC, GEMM_TEXT = ["m", "n", "k", "latency"], ["gemm_dtype", "kernel_source"]


pytestmark = pytest.mark.usefixtures("no_overlay")


def _load(root):
    return load_perfdb("h200_sxm", "trtllm", "1.3.0rc20", overlay=root)


def _one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_corrupt_file(tmp_path):
    path = overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.05))
    path.write_bytes(b"PAR1 this is not parquet at all" * 10)
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    assert str(path) in _one_line(err.value) and "not a readable Parquet file" in str(err.value)


def test_truncated_file(tmp_path):
    path = overlay_gemm(tmp_path / "u", *[(m, 4096, 4096, "fp8", 0.01 * m) for m in range(1, 200)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    assert str(path) in _one_line(err.value)


@pytest.mark.parametrize("column", ["k", "latency", "kernel_source"])
def test_missing_required_column(tmp_path, column):
    cols = gemm_rows((128, 4096, 4096, "fp8", 0.05))
    del cols[column]
    path = write_table(tmp_path / "u" / "h200_sxm/gemm/trtllm/1.3.0rc20/gemm_perf.parquet", cols)
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    msg = _one_line(err.value)
    assert str(path) in msg and f"column {column!r}" in msg and "missing" in msg
    assert err.value.column == column


def test_text_in_a_numeric_column(tmp_path):
    cols = gemm_rows((128, 4096, 4096, "fp8", 0.05))
    cols["m"] = ["many"]
    write_table(tmp_path / "t.parquet", cols)
    with pytest.raises(BadPerfData, match="column 'm': column is not numeric"):
        read_columns(tmp_path / "t.parquet", GEMM_NUMERIC, GEMM_TEXT)


def test_nan_negative_zero_latencies_are_dropped_with_a_warning(tmp_path):
    path = overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.05), (256, 4096, 4096, "fp8", float("nan")),
                       (512, 4096, 4096, "fp8", -1.0), (1024, 4096, 4096, "fp8", 0.0),
                       (2048, 4096, 4096, "fp8", float("inf")))
    with pytest.warns(PerfDataWarning, match="dropped 4 of 5 rows") as rec:
        db = _load(tmp_path / "u")
    assert str(path) in str(rec[0].message) and "'latency'" in str(rec[0].message)
    lk = db.gemm(np.array([128, 256]), 4096, 4096, "fp8")
    assert lk.latency_s[0] == pytest.approx(0.05e-3)  # the good user row wins
    assert np.isfinite(lk.latency_s).all() and (lk.latency_s > 0).all() and (lk.tier == Tier.MEASURED).all()


def test_user_file_without_a_valid_latency_is_an_error(tmp_path):
    overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.0), (256, 4096, 4096, "fp8", float("nan")))
    with pytest.raises(BadPerfData, match="no row has a finite, positive latency"), warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfDataWarning)
        _load(tmp_path / "u")


def test_duplicates_within_2x_take_the_geometric_mean(tmp_path):
    overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.04), (128, 4096, 4096, "fp8", 0.07))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfDataWarning)  # repeat measurements are normal: silent
        lk = _load(tmp_path / "u").gemm(np.array([128]), 4096, 4096, "fp8")
    assert lk.latency_s[0] == pytest.approx(np.sqrt(0.04 * 0.07) * 1e-3) and lk.tier[0] == Tier.MEASURED


def test_user_duplicates_more_than_2x_apart_are_an_error(tmp_path):
    path = overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.03), (128, 4096, 4096, "fp8", 0.07))
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    msg = _one_line(err.value)
    assert str(path) in msg and "'latency'" in msg and "m=128.0" in msg and "more than 2x apart" in msg


def test_shipped_duplicates_more_than_2x_apart_are_dropped_with_a_warning(tmp_path):
    cols = {k: np.asarray(v) for k, v in gemm_rows((128, 4096, 4096, "fp8", 0.03), (128, 4096, 4096, "fp8", 0.07),
                                                   (256, 4096, 4096, "fp8", 0.05)).items()}
    with pytest.warns(PerfDataWarning, match="dropped 2 rows of 1 duplicate keys"):
        kept = check_duplicates(cols, tmp_path / "wheel.parquet", shipped=True)
    assert kept["m"].tolist() == [256]


def test_bad_data_through_the_cli_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    path = overlay_gemm(tmp_path / "u", (128, 4096, 4096, "fp8", 0.05))
    path.write_bytes(b"garbage")
    env = {**__import__("os").environ, "SLOPLAN_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["perfdb", "query", "gemm", "--system", "h200_sxm", "--dtype", "fp8"],
                 ["estimate", "--model", "Qwen/Qwen3-32B", "--system", "h200_sxm", "--tp", "2"]):
        r = subprocess.run([sys.executable, "-m", "sloplan", "--perfdb", str(tmp_path / "u"), *args],
                           capture_output=True, text=True, env=env, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and str(path) in lines[0], (r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
