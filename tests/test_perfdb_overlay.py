"""User tables over the shipped ones: user rows win on identical keys, new keys add points, the cache follows."""
from __future__ import annotations

import os

import numpy as np
import pytest
from perfdb_fixtures import GEMM_REL, LANE, attention_rows, overlay_gemm, write_table

from sloplan.perfdb import BadOverlay, Tier, data_versions, load_perfdb, set_overlay
from sloplan.perfdb.loader import clear_memo

SHIPPED_FP8_128_4096_4096_S = 0.01833067e-3  # the wheel's h200_sxm trtllm 1.3.0rc20 row (ms → s)


pytestmark = pytest.mark.usefixtures("no_overlay")


def _fp8(db, m=128, n=4096, k=4096):
    lk = db.gemm(np.array([m]), n, k, "fp8")
    return float(lk.latency_s[0]), Tier(int(lk.tier[0]))


def test_user_row_replaces_the_shipped_point_and_is_measured(tmp_path):
    base = _fp8(load_perfdb("h200_sxm", "trtllm", "1.3.0rc20"))
    assert base == (pytest.approx(SHIPPED_FP8_128_4096_4096_S, rel=1e-6), Tier.MEASURED)
    overlay_gemm(tmp_path / "mine", (128, 4096, 4096, "fp8", 0.05))
    lat, tier = _fp8(load_perfdb("h200_sxm", "trtllm", "1.3.0rc20", overlay=tmp_path / "mine"))
    assert lat == pytest.approx(0.05e-3, rel=1e-9) and tier is Tier.MEASURED
    # other shipped points are untouched
    db = load_perfdb("h200_sxm", "trtllm", "1.3.0rc20", overlay=tmp_path / "mine")
    assert _fp8(db, m=256) == _fp8(load_perfdb("h200_sxm", "trtllm", "1.3.0rc20"), m=256)


def test_new_key_adds_a_measured_point(tmp_path):
    lat, tier = _fp8(load_perfdb("h200_sxm", "trtllm", "1.3.0rc20"), n=4500)
    assert tier is Tier.INTERPOLATED
    overlay_gemm(tmp_path / "mine", (128, 4500, 4096, "fp8", 0.02))
    lat, tier = _fp8(load_perfdb("h200_sxm", "trtllm", "1.3.0rc20", overlay=tmp_path / "mine"), n=4500)
    assert lat == pytest.approx(0.02e-3, rel=1e-9) and tier is Tier.MEASURED


def test_set_overlay_and_env_var(tmp_path, monkeypatch):
    overlay_gemm(tmp_path / "a", (128, 4096, 4096, "fp8", 0.05))
    overlay_gemm(tmp_path / "b", (128, 4096, 4096, "fp8", 0.07))
    monkeypatch.setenv("SLOPLAN_PERFDB", str(tmp_path / "a"))
    assert _fp8(load_perfdb("h200_sxm", "trtllm"))[0] == pytest.approx(0.05e-3)
    set_overlay(tmp_path / "b")  # explicit beats the environment
    assert _fp8(load_perfdb("h200_sxm", "trtllm"))[0] == pytest.approx(0.07e-3)
    set_overlay(None)
    monkeypatch.delenv("SLOPLAN_PERFDB")
    assert _fp8(load_perfdb("h200_sxm", "trtllm"))[0] == pytest.approx(SHIPPED_FP8_128_4096_4096_S)


def test_changing_user_data_invalidates_memo_and_disk_cache(tmp_path):
    path = overlay_gemm(tmp_path / "mine", (128, 4096, 4096, "fp8", 0.05))
    first = load_perfdb("h200_sxm", "trtllm", overlay=tmp_path / "mine")
    assert "-o" in first._cache_file.name and first._cache_file.is_file()
    overlay_gemm(tmp_path / "mine", (128, 4096, 4096, "fp8", 0.09))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size: the mtime must tell
    clear_memo()  # a new process: only the disk cache could serve stale grids
    second = load_perfdb("h200_sxm", "trtllm", overlay=tmp_path / "mine")
    assert second._cache_file != first._cache_file
    assert _fp8(second)[0] == pytest.approx(0.09e-3)
    # and without the overlay the shipped cache file is a different one again
    plain = load_perfdb("h200_sxm", "trtllm")
    assert "-o" not in plain._cache_file.name and _fp8(plain)[0] == pytest.approx(SHIPPED_FP8_128_4096_4096_S)


def test_overlay_gives_a_roofline_only_system_measured_data(tmp_path):
    root = tmp_path / "mine"
    rel = GEMM_REL.replace("trtllm/1.3.0rc20", "vllm/0.99.0")
    overlay_gemm(root, (64, 4096, 4096, "fp8", 0.03), (128, 4096, 4096, "fp8", 0.04), system="h100_pcie", rel=rel)
    rows = [(b, s, 32, 8, 128, 0.01 * b * s / 1024) for b in (1, 4) for s in (1024, 4096)]
    write_table(root / "h100_pcie/attention/vllm/0.99.0/context_attention_perf.parquet", attention_rows("ctx", rows))
    assert data_versions("h100_pcie", "vllm") == []
    set_overlay(root)
    assert data_versions("h100_pcie", "vllm") == ["0.99.0"]
    db = load_perfdb("h100_pcie", "vllm")
    assert db.version == "0.99.0" and db.lanes["gemm/fp8"] == LANE
    assert _fp8(db) == (pytest.approx(0.04e-3), Tier.MEASURED)
    ctx = db.context_attention([4], [4096], [0], 32, 8, 128, 0, "bf16")
    assert ctx.latency_s[0] == pytest.approx(0.16e-3) and ctx.tier[0] == Tier.MEASURED


@pytest.mark.parametrize("make,why", [
    (lambda p: p / "missing", "not a directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no <system> folder"),
    (lambda p: (p / "x" / "h900").mkdir(parents=True) or p / "x", "holds no <system> folder"),
])
def test_bad_overlay_folder(tmp_path, make, why):
    with pytest.raises(BadOverlay, match=why) as err:
        set_overlay(make(tmp_path))
    assert "\n" not in str(err.value)
