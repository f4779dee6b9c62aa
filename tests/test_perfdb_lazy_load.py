"""perfdb reads on first use: a warm load decodes no grid until it is queried, and a dense solve on a cold
cache reads only the families it uses (no NCCL, MoE, all-to-all or MLA table)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sloplan.perfdb import cache, grid_store, load_perfdb
from sloplan.perfdb.loader import clear_memo

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
LAZY = ("nccl/", "a2a/", "mla", "moe", "wideep", "deepep", "dsa", "gdn/", "mamba2/", "quant/", "enc/", "mhc/")


@pytest.fixture(scope="module")
def cold_solve(tmp_path_factory):
    """A quick-start solve in a fresh process on an empty cache folder; the folder after it."""
    root = tmp_path_factory.mktemp("cold-cache")
    env = {k: v for k, v in os.environ.items() if k != "SLOPLAN_PERFDB"} | {"SLOPLAN_CACHE_DIR": str(root)}
    sloplan = Path(sys.executable).with_name("sloplan")
    subprocess.run([str(sloplan), "solve", str(INSTANCE)], check=True, capture_output=True, env=env, cwd=ROOT)
    return root


def test_dense_solve_on_a_cold_cache_reads_no_family_it_does_not_use(cold_solve):
    mains = list(cold_solve.glob("perfdb-h200_sxm-trtllm-*.npz"))
    assert len(mains) == 1
    grids, lanes, _ = cache.load(mains[0])
    assert grids and all(n.startswith(("gemm/", "ctx/", "gen/", "ar/")) for n in grids), sorted(grids)
    assert not any(k.startswith(("nccl", "a2a", "mla", "moe")) for k in lanes), lanes
    side = [p.name for p in mains[0].with_suffix("").iterdir()]
    assert side and not [n for n in side if n.startswith("family_")], side  # no lazily read family was built
    assert not [n for n in side if n.startswith(tuple(p.replace("/", "_") for p in LAZY))], side


def test_warm_load_decodes_only_what_is_queried(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SLOPLAN_PERFDB", raising=False)
    clear_memo()
    try:
        load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")  # builds the cache
        clear_memo()
        db = load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")
        assert isinstance(db._sparse, grid_store.LazyGrids) and db._sparse.built() == []
        assert "gemm/fp8" in db.grid_names() and db._sparse.built() == []  # names cost nothing
        db.gemm(np.array([1, 128]), 4096, 4096, "fp8")
        assert db._sparse.built() == ["gemm/fp8"] and db.families_read() == []
        db.nccl("all_gather", [1e4], 8)
        assert db.families_read() == ["nccl"] and any(n.startswith("nccl/") for n in db.grid_names())
    finally:
        clear_memo()


def test_grid_store_round_trip_is_exact(h200_trtllm_db):
    db = h200_trtllm_db
    names = [n for n in db.grid_names()][:6]
    grids = {n: db._sparse[n] for n in names}
    back, meta = grid_store.unpack(grid_store.pack(grids, {"lanes": {"x": "y"}}))
    assert meta == {"lanes": {"x": "y"}} and list(back) == names
    for n in names:
        a, b = grids[n], back[n]
        assert a.fill_order == b.fill_order and len(a.axes) == len(b.axes)
        for x, y in zip(a.axes + [a.flat, a.lu], b.axes + [b.flat, b.lu]):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype


def test_grid_store_rejects_an_index_out_of_range():
    arrays = grid_store.pack({}, {})
    arrays[grid_store.META] = np.array('{"index": {"g": {"order": [0], "axes": [[0, 5]], "flat": [0, 1], '
                                       '"lu": [0, 1]}}}')
    with pytest.raises(ValueError):
        grid_store.unpack(arrays)
