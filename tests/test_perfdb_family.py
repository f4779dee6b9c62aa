"""The Family registry describes every family PerfDB reads, with the values the old scattered tables held."""
from __future__ import annotations

import pytest

from sloplan.perfdb import family, load_perfdb

OLD_LAZY_PREFIX = {"dsa_ctx": "sparse", "dsa_gen": "sparse", "glm5": "sparse", "gdn": "linear", "mamba2": "linear",
                   "quant": "quantize", "enc": "encoder", "mhc": "mhc", "wideep_moe": "wideep",
                   "wideep_mla_ctx": "wideep", "wideep_mla_gen": "wideep", "wideep_mlp": "wideep", "deepep": "deepep",
                   "nccl": "nccl", "a2a": "a2a", "mla_ctx": "mla", "mla_gen": "mla", "mla_ctx_module": "mla",
                   "mla_gen_module": "mla", "mla_bmm": "mla"}
OLD_DEFAULT_EFF = {"gemm": 0.5, "ctx": 0.3, "gen": 0.05, "ar": 0.15, "nccl": 0.15, "a2a": 0.1, "moe": 0.1,
                   "mla_ctx": 0.3, "mla_gen": 0.1, "mla_bmm": 0.2}


def test_registry_matches_the_tables_it_replaced():
    load_perfdb("h200_sxm", "trtllm")  # importing perfdb registers every family
    assert {p: family.lazy_family(p) for p in OLD_LAZY_PREFIX} == OLD_LAZY_PREFIX
    assert [f.name for f in family.eager()] == ["gemm", "attention", "ar"]
    for p in ("gemm", "ctx", "gen", "ar", "moe"):
        assert family.lazy_family(p) is None  # eager, or MoE's curve family (not a grid family)
    assert {p: family.default_eff(p) for p in OLD_DEFAULT_EFF} == OLD_DEFAULT_EFF
    assert family.default_eff("gdn") == pytest.approx(0.1)
    assert {p for p in family._BY_PREFIX if family.carries_dtype(p)} == {"gemm", "mla_bmm", "wideep_moe", "wideep_mlp"}


def test_every_grid_read_has_an_owner():
    db = load_perfdb("h200_sxm", "trtllm")
    for name in list(family.FAMILIES):
        if not family.FAMILIES[name].eager and family.FAMILIES[name].check is None:
            db.store.ensure(name)
    assert db.families_read()  # something was read
    orphans = {n.split("/")[0] for n in db.grid_names() if family.of_grid(n) is None}
    assert not orphans
