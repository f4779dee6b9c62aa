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


@pytest.fixture
def no_overlay(tmp_path_factory, monkeypatch):
    """A cache dir shared by the overlay tests (their keys differ per overlay), no overlay from the
    environment, and a fresh memo before and after."""
    from sloplan.perfdb import set_overlay

    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "perfdb-cache"))
    monkeypatch.delenv("SLOPLAN_PERFDB", raising=False)
    set_overlay(None)
    clear_memo()
    yield
    set_overlay(None)
    clear_memo()


def h200_rows(rel: str, numeric: list[str], text: list[str]):
    """Columns of one shipped h200_sxm table, for checking lookups against the raw rows."""
    from sloplan.perfdb.source import read_columns, system_data_dir

    return read_columns(system_data_dir("h200_sxm") / rel, numeric + ["latency"], text)


@pytest.fixture(scope="session")
def warm_perfdb():
    """The h200_sxm/trtllm tables loaded once (disk cache and in-process memo), so fuzzed runs on that
    system cost milliseconds. Modules that clear the memo only make the next load read the disk cache."""
    from sloplan.perfdb import load_perfdb

    return load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")
