"""Shared fixtures: perfdb tests that time or inspect the disk cache get a private cache folder."""
from __future__ import annotations

import pytest

from sloplan.perfdb.loader import clear_memo


@pytest.fixture(scope="module")
def isolated_perfdb_cache(tmp_path_factory):
    """A fresh SLOPLAN_CACHE_DIR and an empty in-process memo for one test module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SLOPLAN_CACHE_DIR", str(tmp_path_factory.mktemp("perfdb_cache")))
    clear_memo()
    yield
    clear_memo()
    mp.undo()


@pytest.fixture(scope="module")
def h200_trtllm_db(isolated_perfdb_cache):
    from sloplan.perfdb import load_perfdb

    return load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")
