"""perfdb on real aiconfigurator-core data: exact hits, interpolation, extrapolation, vectorization, cache."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sloplan.perfdb import (Lookup, Tier, UnknownSystem, UnknownVersion, data_versions, list_systems,
                            load_perfdb, load_system, nearest_version, resolve_version)
from sloplan.perfdb import cache as pcache
from sloplan.perfdb.loader import clear_memo
from sloplan.perfdb.source import read_columns, system_data_dir


pytestmark = pytest.mark.usefixtures("isolated_perfdb_cache")


@pytest.fixture(scope="module")
def db(h200_trtllm_db):
    return h200_trtllm_db


def _gemm_rows(dtype="bfloat16"):
    root = system_data_dir("h200_sxm")
    cols = read_columns(root / "gemm/trtllm/1.3.0rc20/gemm_perf.parquet", ["m", "n", "k", "latency"],
                        ["gemm_dtype"])
    sel = cols["gemm_dtype"] == dtype
    return {c: cols[c][sel] for c in ("m", "n", "k", "latency")}


def test_gemm_exact_hits_are_measured(db):
    rows = _gemm_rows()
    rng = np.random.default_rng(1)
    for i in rng.choice(len(rows["m"]), 40, replace=False):
        n, k = rows["n"][i], rows["k"][i]
        same = (rows["n"] == n) & (rows["k"] == k) & (rows["m"] == rows["m"][i])
        lk = db.gemm(np.array([rows["m"][i]]), int(n), int(k), "bf16")
        assert lk.tier[0] == Tier.MEASURED
        expected = np.exp(np.mean(np.log(rows["latency"][same]))) * 1e-3  # duplicates: geometric mean
        assert lk.latency_s[0] == pytest.approx(expected, rel=1e-9)


def test_gemm_interior_between_neighbours(db):
    lo, hi = db.gemm(np.array([1024, 1280]), 4096, 4096, "bf16").latency_s
    mid = db.gemm(np.array([1100]), 4096, 4096, "bf16")
    assert mid.tier[0] == Tier.INTERPOLATED
    assert min(lo, hi) <= mid.latency_s[0] <= max(lo, hi)
    # uncollected n between two collected shapes
    a, b = (db.gemm(np.array([256]), n, 4096, "bf16").latency_s[0] for n in (12288, 16384))
    c = db.gemm(np.array([256]), 14336, 4096, "bf16")
    assert c.tier[0] == Tier.INTERPOLATED and min(a, b) <= c.latency_s[0] <= max(a, b)


def test_gemm_monotonic_in_m_away_from_sawtooth(db):
    m = np.array([1, 8, 17, 64, 256, 1024, 4096, 8192, 16384, 32768])
    lat = db.gemm(m, 8192, 8192, "bf16").latency_s
    assert np.all(np.diff(lat[3:]) > 0)


def test_far_outside_is_extrapolated_or_roofline_and_finite(db):
    lk = db.gemm(np.array([65536, 10 ** 6]), 4096, 4096, "bf16")
    assert list(lk.tier) == [Tier.EXTRAPOLATED, Tier.ROOFLINE]
    big = db.gemm(np.array([10 ** 6]), 2 ** 20, 2 ** 20, "fp8")
    ctx = db.context_attention(np.array([1, 2000]), np.array([65536, 10 ** 6]), 0, 300, 1, 1024, 0, "fp8")
    gen = db.generation_attention(np.array([10 ** 5]), np.array([10 ** 7]), 1, 1, 32, 0, "bf16")
    for x in (lk, big, ctx, gen):
        assert np.all(np.isfinite(x.latency_s)) and np.all(x.latency_s > 0)
        assert x.worst_tier() >= Tier.EXTRAPOLATED
    nvfp4 = db.gemm(np.array([16]), 4096, 4096, "nvfp4")  # no nvfp4 table on Hopper
    assert nvfp4.tier[0] == Tier.ROOFLINE and nvfp4.latency_s[0] > 0


def test_vectorized_equals_per_element(db):
    m = np.array([1, 3, 50, 129, 700, 5000, 40000])
    vec = db.gemm(m, 5120, 14336, "fp8")
    for i, mi in enumerate(m):
        one = db.gemm(np.array([mi]), 5120, 14336, "fp8")
        assert one.latency_s[0] == pytest.approx(vec.latency_s[i], rel=1e-12) and one.tier[0] == vec.tier[i]
    b, s = np.meshgrid([1, 3, 16, 100], [100, 1024, 3000])
    grid = db.context_attention(b, s, 0, 32, 8, 128, 0, "bf16")
    assert grid.latency_s.shape == b.shape
    for bi, si, li in zip(b.ravel(), s.ravel(), grid.latency_s.ravel()):
        assert db.context_attention(bi, si, 0, 32, 8, 128, 0, "bf16").latency_s == pytest.approx(li, rel=1e-12)


def test_context_attention_exact_interior_prefix(db):
    root = system_data_dir("h200_sxm")
    cols = read_columns(root / "attention/trtllm/1.3.0rc20/context_attention_perf.parquet",
                        ["batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim", "window_size",
                         "latency"], ["attn_dtype", "kv_cache_dtype"])
    sel = ((cols["attn_dtype"] == "bfloat16") & (cols["kv_cache_dtype"] == "bfloat16") & (cols["num_heads"] == 32)
           & (cols["num_key_value_heads"] == 8) & (cols["head_dim"] == 128) & (cols["window_size"] == 0)
           & (cols["batch_size"] == 4))
    isl, lat = cols["isl"][sel], cols["latency"][sel] * 1e-3
    lk = db.context_attention(4, isl, 0, 32, 8, 128, 0, "bf16")
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, lat, rtol=1e-9)
    mid = db.context_attention(4, 3000, 0, 32, 8, 128, 0, "bf16")
    lo, hi = db.context_attention(4, np.array([2048, 3072]), 0, 32, 8, 128, 0, "bf16").latency_s
    assert mid.tier == Tier.INTERPOLATED and lo <= mid.latency_s <= hi
    with_prefix = db.context_attention(4, 1024, 3072, 32, 8, 128, 0, "bf16").latency_s
    full = db.context_attention(4, 4096, 0, 32, 8, 128, 0, "bf16").latency_s
    assert 0 < with_prefix < full


def test_generation_attention_grows_with_kv_and_batch(db):
    kv = np.array([1, 127, 1023, 8191, 65535])
    lat = db.generation_attention(64, kv, 32, 8, 128, 0, "fp8").latency_s
    assert np.all(np.diff(lat) > 0)
    assert db.generation_attention(64, 1023, 32, 8, 128, 0, "fp8").tier == Tier.MEASURED
    small, big = db.generation_attention(np.array([8, 512]), 4095, 32, 8, 128, 0, "bf16").latency_s
    assert big > small


def test_all_reduce(db):
    one = db.all_reduce(np.array([1, 4096, 10 ** 6]), 1)
    assert np.all(one.latency_s == 0) and one.worst_tier() == Tier.MEASURED
    ar8 = db.all_reduce(np.array([4096 * 16, 4096 * 4096]), 8)
    assert np.all(ar8.latency_s > 0) and ar8.latency_s[1] > ar8.latency_s[0]
    ar16 = db.all_reduce(np.array([4096 * 16]), 16)
    assert ar16.tier[0] == Tier.EXTRAPOLATED and ar16.latency_s[0] > ar8.latency_s[0]


def test_analytic_ops(db):
    p = db.p2p(np.array([0, 1e6]), cross_node=True)
    assert p.latency_s[0] == pytest.approx(1e-5) and p.worst_tier() == Tier.ROOFLINE
    assert db.p2p(1e6, cross_node=False).latency_s < p.latency_s[1]
    mem = db.memory_op(np.array([4.8e12 * 0.8]))
    assert mem.latency_s[0] == pytest.approx(1.0 + 3e-6)


def test_cache_round_trip_identical_and_faster(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(tmp_path))
    clear_memo()
    t0 = time.perf_counter()
    first = load_perfdb("h100_sxm", "vllm")
    cold = time.perf_counter() - t0
    assert pcache.cache_path(first.system, "vllm", first.version).is_file()
    clear_memo()
    t0 = time.perf_counter()
    second = load_perfdb("h100_sxm", "vllm")
    warm = time.perf_counter() - t0
    assert warm < cold
    m = np.arange(1, 5000, 7)
    for a, b in ((first.gemm(m, 4096, 1536, "fp8_block"), second.gemm(m, 4096, 1536, "fp8_block")),
                 (first.generation_attention(m, 2000, 40, 8, 128, 0, "bf16"),
                  second.generation_attention(m, 2000, 40, 8, 128, 0, "bf16"))):
        np.testing.assert_array_equal(a.latency_s, b.latency_s)
        np.testing.assert_array_equal(a.tier, b.tier)
    assert second.lanes == first.lanes
    clear_memo()


def test_memoized():
    assert load_perfdb("h200_sxm", "trtllm") is load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")


def test_roofline_only_system():
    l4 = load_perfdb("l4", "vllm")
    lk = l4.gemm(np.array([1, 4096]), 4096, 4096, "bf16")
    assert lk.worst_tier() == Tier.ROOFLINE and np.all(lk.latency_s > 0)
    assert isinstance(lk, Lookup)


def test_catalog_and_errors():
    names = list_systems()
    for required in ("h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "a100_sxm", "l40s",
                     "rtx_pro_6000_server", "h100_pcie", "a100_pcie", "l4"):
        assert required in names
    spec = load_system("h200_sxm")
    assert spec.mem_bw_bytes_per_s == 4.8e12 and spec.flops_per_s["fp8"] == 1978e12 and spec.silicon_dir
    assert load_system("l4").silicon_dir is None
    with pytest.raises(UnknownSystem) as e:
        load_system("h900")
    assert e.value.field == "system" and "h200_sxm" in e.value.accepted and isinstance(e.value, ValueError)
    with pytest.raises(UnknownVersion) as e:
        resolve_version("h200_sxm", "vllm", "0.0.1")
    assert e.value.field == "version" and e.value.accepted == ["0.24.0"]
    with pytest.raises(UnknownVersion):
        data_versions("h200_sxm", "tgi")


def test_version_resolution():
    assert resolve_version("h200_sxm", "trtllm", None) == "1.3.0rc20"
    assert resolve_version("a100_sxm", "vllm", None) == "0.14.0"
    assert nearest_version("h200_sxm", "trtllm", "1.3.0") == "1.3.0rc20"
    assert nearest_version("h200_sxm", "trtllm", "1.2.0") == "1.3.0rc20"
    assert nearest_version("h200_sxm", "sglang", "0.5.20") == "0.5.14"


def test_corrupt_table_names_file_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "gemm_perf.parquet"
    pq.write_table(pa.table({"m": [1], "n": [2], "latency": [0.1]}), path)
    with pytest.raises(ValueError, match="gemm_perf.parquet.*'k'"):
        read_columns(path, ["m", "n", "k", "latency"], [])
    path.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="gemm_perf.parquet"):
        read_columns(path, ["m"], [])
