"""User perf tables are checked before they become numbers: keys outside the schema's domain are an error
naming file and column (exit 2 through the CLI); latencies outside physical bounds are one warning per
file and column (perfdb/bounds.py); the shipped tables trip neither rule."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from perfdb_fixtures import attention_rows, overlay_gemm, write_table

from sloplan.perfdb import BadPerfData, PerfDataWarning, load_perfdb
from sloplan.perfdb import bounds
from sloplan.perfdb.source import read_columns, system_data_dir

pytestmark = pytest.mark.usefixtures("no_overlay")
GOOD = (128, 4096, 4096, "fp8", 0.05)
CTX_REL = "attention/trtllm/1.3.0rc20/context_attention_perf.parquet"
GEN_REL = "attention/trtllm/1.3.0rc20/generation_attention_perf.parquet"


def _load(root):
    return load_perfdb("h200_sxm", "trtllm", "1.3.0rc20", overlay=root)


def _gemm_with(column: str, value: float):
    row = dict(zip(("m", "n", "k", "dtype", "lat"), GOOD))
    row[column] = value
    return (row["m"], row["n"], row["k"], row["dtype"], row["lat"])


@pytest.mark.parametrize("value", [-5.0, 0.0, float("nan"), float("inf"), 1.5, 2.0 ** 41])
@pytest.mark.parametrize("column", ["m", "n", "k"])
def test_gemm_key_outside_its_domain_is_an_error_naming_file_and_column(tmp_path, column, value):
    path = overlay_gemm(tmp_path / "u", GOOD, _gemm_with(column, value), (256, 4096, 4096, "fp8", 0.07))
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"column {column!r}" in msg and "outside its domain" in msg
    assert "accepted: finite integers from 1" in msg and "duplicate" not in msg
    assert err.value.column == column


@pytest.mark.parametrize("phase, column, value", [
    ("ctx", "head_dim", 0), ("ctx", "num_heads", -8), ("ctx", "batch_size", 2.5), ("ctx", "isl", float("nan")),
    ("gen", "step", 0),  # the KV length of a decode table (an axis in log2): 0 is not a length
    ("ctx", "step", -1), ("ctx", "window_size", -4)])
def test_attention_key_outside_its_domain_is_an_error(tmp_path, phase, column, value):
    cols = attention_rows(phase, [(4, 1024, 32, 8, 128, 0.2), (8, 1024, 32, 8, 128, 0.35)])
    cols[column][1] = value
    rel = CTX_REL if phase == "ctx" else GEN_REL
    path = write_table(tmp_path / "u" / "h200_sxm" / rel, cols)
    with pytest.raises(BadPerfData) as err:
        _load(tmp_path / "u")
    assert str(path) in str(err.value) and f"column {column!r}" in str(err.value) and err.value.column == column


def test_zero_step_and_window_are_in_the_domain_of_a_context_table(tmp_path):
    """`step` = 0 (no cached tokens) and `window_size` = 0 (full attention) are the schema's own values."""
    cols = attention_rows("ctx", [(4, 1024, 32, 8, 128, 0.2), (8, 1024, 32, 8, 128, 0.35)])
    cols["kernel_source"] = [load_perfdb("h200_sxm", "trtllm", "1.3.0rc20").lanes["ctx"]] * 2  # the lane read
    write_table(tmp_path / "u" / "h200_sxm" / CTX_REL, cols)
    assert set(cols["step"]) == {0} and set(cols["window_size"]) == {0}
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfDataWarning)
        lk = _load(tmp_path / "u").context_attention([4], [1024], [0], 32, 8, 128, 0, "bf16")
    assert lk.latency_s[0] == pytest.approx(0.2e-3)


FAST, SLOW = "faster than physically possible", "implausibly slow"


@pytest.mark.parametrize("dtype, latency_ms, what", [
    ("fp8", 1e-27, FAST), ("fp8", 1e-5, FAST), ("fp8", 1e33, SLOW), ("fp8", 2e3, SLOW),  # roofline-bounded
    ("int8_wo", 1e-27, FAST), ("int8_wo", 1e33, SLOW)])  # no roofline bound here: absurd values only
def test_implausible_latency_is_one_warning_naming_file_and_column(tmp_path, dtype, latency_ms, what):
    bounded = dtype == "fp8"
    rows = [(128, 4096, 4096, dtype, 0.05), (256, 4096, 4096, dtype, latency_ms), (512, 4096, 4096, dtype, latency_ms)]
    path = overlay_gemm(tmp_path / "u", *rows)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _load(tmp_path / "u")
    said = [str(w.message) for w in rec if issubclass(w.category, PerfDataWarning)]
    assert len(said) == 1, said
    assert str(path) in said[0] and "'latency'" in said[0] and f"2 of 3 rows {what}" in said[0]
    assert ("roofline" in said[0]) == bounded and "\n" not in said[0]


def test_plausible_user_tables_are_silent(tmp_path):
    overlay_gemm(tmp_path / "u", GOOD, (256, 4096, 4096, "fp8", 0.07), (4096, 8192, 8192, "bf16", 1.0))
    write_table(tmp_path / "u" / "h200_sxm" / GEN_REL,
                attention_rows("gen", [(4, 1024, 32, 8, 128, 0.02), (64, 8192, 32, 8, 128, 0.4)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _load(tmp_path / "u")


@pytest.mark.parametrize("system", ["h200_sxm", "l40s"])  # l40s: 96 MB of L2 beats the HBM roofline 4.7x
@pytest.mark.parametrize("rel, numeric, text", [
    ("gemm/trtllm/1.0.0/gemm_perf.parquet", ["m", "n", "k", "latency"], ["gemm_dtype"]),
    ("attention/trtllm/1.0.0/generation_attention_perf.parquet",
     ["batch_size", "isl", "step", "num_heads", "num_key_value_heads", "head_dim", "latency"],
     ["attn_dtype", "kv_cache_dtype"]),
    ("attention/trtllm/1.0.0/context_attention_perf.parquet",
     ["batch_size", "isl", "step", "num_heads", "num_key_value_heads", "head_dim", "latency"],
     ["attn_dtype", "kv_cache_dtype"])])
def test_the_bounds_never_trip_on_the_shipped_tables(system, rel, numeric, text):
    root = system_data_dir(system)
    path = next((p for p in sorted(root.glob(rel.replace("1.0.0", "*"))) if p.is_file()), None)
    if path is None:
        pytest.skip(f"{system} ships no {rel}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfDataWarning)  # the wheel's own contested duplicates
        cols = read_columns(path, numeric, text, optional={"window_size": 0.0})
    sol_s = bounds.roofline_s(path.name, cols, load_perfdb(system, "trtllm").system)
    assert sol_s is not None and np.isfinite(sol_s).any()
    fast, slow = bounds.implausible(cols["latency"] * 1e-3, sol_s)
    assert not fast.any() and not slow.any()


def test_bad_key_through_the_cli_is_one_line_exit_2(tmp_path):
    path = overlay_gemm(tmp_path / "u", GOOD, (-5, 4096, 4096, "fp8", 0.05))
    env = {**os.environ, "SLOPLAN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SLOPLAN_PERFDB", None)
    r = subprocess.run([sys.executable, "-m", "sloplan", "--perfdb", str(tmp_path / "u"), "perfdb", "query", "gemm",
                        "--system", "h200_sxm", "--dtype", "fp8"], capture_output=True, text=True, env=env, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and str(path) in lines[0] and "'m'" in lines[0], r.stderr
    assert r.stdout == ""
