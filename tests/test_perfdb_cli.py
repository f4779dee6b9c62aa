"""`sloplan perfdb query|coverage`, `--perfdb DIR` / SLOPLAN_PERFDB, `sloplan systems`, and the catalog files.

Runs the CLI entry point in-process (fast); each bad input must give exit 2 and one line naming the field.
"""
from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest
from perfdb_fixtures import overlay_gemm

from sloplan.cli import main
from sloplan.perfdb import list_systems, load_system, set_overlay
from sloplan.perfdb.loader import clear_memo

SYSTEMS_DIR = Path(__file__).resolve().parents[1] / "perfdb" / "systems"
GEMM = ["perfdb", "query", "gemm", "--system", "h200_sxm", "--backend", "trtllm", "--m", "128", "--n", "4096",
        "--k", "4096", "--dtype", "fp8"]


@pytest.fixture
def cli(tmp_path_factory, monkeypatch, capsys):
    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "perfdb-cache"))  # shared: keys differ
    monkeypatch.delenv("SLOPLAN_PERFDB", raising=False)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    set_overlay(None)
    clear_memo()

    def run(*args: str):
        monkeypatch.setattr(sys, "argv", ["sloplan", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        out, err = capsys.readouterr()
        return exit_.value.code or 0, out, err

    yield run
    set_overlay(None)
    clear_memo()


def test_query_gemm_measured(cli):
    code, out, _ = cli(*GEMM)
    assert code == 0 and out.strip().endswith("18.33 µs (measured)"), out
    code, out, _ = cli(*GEMM, "--json")
    doc = json.loads(out)
    assert doc["tier"] == "measured" and doc["version"] == "1.3.0rc20"
    assert doc["latency_s"] == pytest.approx(18.33067e-6, rel=1e-5)


@pytest.mark.parametrize("args", [
    ["context-attention", "--batch", "4", "--isl", "2048", "--heads", "64", "--kv-heads", "8", "--kv-dtype", "fp8"],
    ["generation-attention", "--batch", "64", "--kv-len", "4096", "--window", "1024"],
    ["all-reduce", "--elements", "1048576", "--gpus", "8"],
])
def test_query_other_primitives(cli, args):
    code, out, _ = cli("perfdb", "query", *args, "--system", "h200_sxm", "--backend", "vllm", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["latency_s"] > 0 and doc["tier"] in ("measured", "interpolated", "extrapolated",
                                                                   "roofline")


def test_query_roofline_system(cli):
    code, out, _ = cli("perfdb", "query", "gemm", "--system", "mi300x", "--m", "4096", "--dtype", "fp8")
    assert code == 0 and "mi300x vllm" in out and out.strip().endswith("(roofline)")


@pytest.mark.parametrize("args,field", [
    (["perfdb", "query", "gemm", "--system", "h900"], "system"),
    (["perfdb", "query", "gemm", "--system", "h200_sxm", "--version", "9.9"], "version"),
    (["perfdb", "query", "gemm", "--system", "h200_sxm", "--dtype", "fp3"], "--dtype"),
    (["perfdb", "query", "gemm", "--system", "h200_sxm", "--m", "0"], "--m"),
    (["perfdb", "query", "gemm", "--system", "h200_sxm", "--backend", "tgi"], "--backend"),
    (["perfdb", "query", "gemm", "--system", "mi300x", "--backend", "trtllm"], "backend"),
    (["perfdb", "query", "all-reduce", "--system", "h200_sxm", "--gpus", "0"], "--gpus"),
    (["perfdb", "coverage", "--system", "h900"], "system"),
    (["--perfdb", "/no/such/dir", *GEMM], "perfdb"),
])
def test_bad_input_is_one_line_exit_2(cli, args, field):
    code, out, err = cli(*args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and field in lines[0] and out == "", (code, out, err)


def test_perfdb_option_and_env_var_overlay_user_tables(cli, tmp_path, monkeypatch):
    overlay_gemm(tmp_path / "mine", (128, 4096, 4096, "fp8", 0.05))
    code, out, _ = cli("--perfdb", str(tmp_path / "mine"), *GEMM)
    assert code == 0 and out.strip().endswith("50.00 µs (measured)"), out
    set_overlay(None)
    clear_memo()
    monkeypatch.setenv("SLOPLAN_PERFDB", str(tmp_path / "mine"))
    code, out, _ = cli(*GEMM)
    assert code == 0 and out.strip().endswith("50.00 µs (measured)"), out


def test_coverage_lists_read_and_unread_families(cli):
    code, out, _ = cli("perfdb", "coverage", "--system", "h200_sxm", "--json")
    rows = json.loads(out)
    gemm = next(r for r in rows if r["table"] == "gemm_perf.parquet" and r["framework"] == "trtllm")
    assert code == 0 and gemm["read_by_sloplan"] and "fp8" in gemm["dtypes"] and "1.3.0rc20" in gemm["versions"]
    assert any(not r["read_by_sloplan"] for r in rows)  # e.g. encoder_attention: listed, not skipped silently
    code, out, _ = cli("perfdb", "coverage", "--system", "h200_sxm", "--backend", "vllm")
    assert code == 0 and "h200_sxm · vllm" in out and "h200_sxm · trtllm" not in out and "not read by sloplan" in out
    code, out, _ = cli("perfdb", "coverage", "--system", "l4")
    assert code == 0 and "roofline only" in out


def test_systems_lists_every_gpu_with_its_data_tier(cli):
    code, out, _ = cli("systems")
    assert code == 0
    for name in ("h100_sxm", "h100_pcie", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "a100_sxm",
                 "a100_pcie", "l40s", "l4", "mi300x", "mi325x"):
        assert name in out
    assert "rtx_pro_6000" in out and "measured 1.3.0rc20" in out and "roofline ← h200_sxm" in out and "n/a" in out


def test_catalog_figures_have_sources_and_amd_is_roofline_only():
    for path in SYSTEMS_DIR.glob("*.yaml"):
        text = path.read_text()
        assert re.search(r"^# .*Source", text, re.M), path.name
        for line in text.splitlines():
            if re.match(r"^\s*\w+:\s*[-+0-9.e]+\s*(#|$)", line):
                assert "#" in line, f"{path.name}: figure without a source comment: {line}"
    for name in ("mi300x", "mi325x"):
        spec = load_system(name)
        assert name in list_systems() and spec.silicon_dir is None and spec.efficiency_donor == "h200_sxm"
        assert load_system(spec.efficiency_donor).silicon_dir and "trtllm" not in spec.frameworks
        assert spec.flops_per_s["bf16"] == pytest.approx(1307.4e12)
        assert spec.flops_per_s["fp8"] == pytest.approx(2614.9e12)
