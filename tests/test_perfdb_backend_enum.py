"""`load_perfdb(system, Backend.X)` is the same PerfDB as `load_perfdb(system, "x")`, whichever comes first.

The bug this pins: Backend is a str-mixin enum, equal to (and hashing like) its value, but formatted as
"Backend.TRTLLM" by pathlib on Python 3.11, so an enum-first load found no table folders, cached that
empty listing (source.version_dirs is memoized) and a roofline-only PerfDB under keys equal to the string's:
every later string load in the process got them. perfdb now normalises the backend at its edge (versions.backend_name).
"""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.core.enums import Backend
from sloplan.perfdb import Tier, data_versions, load_perfdb, resolve_version
from sloplan.perfdb import loader, source

SYSTEM = "h200_sxm"


@pytest.fixture
def fresh_memo(monkeypatch):
    """An empty in-process memo for this test (the disk cache is shared, as in any process)."""
    monkeypatch.setattr(loader, "_MEMO", {})


def _answer(db):
    lk = db.gemm(np.array([1.0, 64.0, 4096.0]), 4096, 4096, "fp8")
    return lk.latency_s, lk.tier


@pytest.mark.parametrize("backend", list(Backend))
def test_versions_of_the_enum_are_the_names(backend):
    source.version_dirs.cache_clear()  # the enum asks first, into an empty listing cache
    by_enum = data_versions(SYSTEM, backend), resolve_version(SYSTEM, backend, None)
    assert by_enum == (data_versions(SYSTEM, backend.value), resolve_version(SYSTEM, backend.value, None))
    assert by_enum[0], f"h200_sxm ships {backend.value} tables"


def test_enum_first_then_name_gives_the_measured_tables(fresh_memo):
    source.version_dirs.cache_clear()
    by_enum = load_perfdb(SYSTEM, Backend.TRTLLM)
    assert type(by_enum.backend) is str and by_enum.backend == "trtllm"
    assert by_enum.version == resolve_version(SYSTEM, "trtllm", None) != "roofline"
    assert by_enum.grid_names(), "the enum load found no tables"
    by_name = load_perfdb(SYSTEM, "trtllm")
    assert by_name is by_enum
    latency, tier = _answer(by_name)
    assert (tier < Tier.ROOFLINE).all()
    loader._MEMO.clear()  # the name alone, in a fresh memo: the same answers
    ref_latency, ref_tier = _answer(load_perfdb(SYSTEM, "trtllm"))
    assert np.array_equal(latency, ref_latency) and np.array_equal(tier, ref_tier)


def test_unknown_backend_is_still_refused():
    from sloplan.perfdb import UnknownVersion

    with pytest.raises(UnknownVersion, match="backend"):
        load_perfdb(SYSTEM, "tensorrt")
