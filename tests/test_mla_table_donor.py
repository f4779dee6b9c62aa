"""perfdb/mla.py + perfdb/systems/{b300_sxm,gb200,gb300}.yaml table_donors: B300's (GB200's, GB300's) vLLM
MLA generation-module table timed a fixed per-call cost (38-80 us over B200's at every shape), so it is
priced from B200's table through that system's SOL, tagged EXTRAPOLATED; the other MLA tables and other
frameworks keep their own, MEASURED."""
import numpy as np
import pandas as pd
import pytest

from sloplan.model.lookups import lookup_all
from sloplan.perfdb import Tier, load_perfdb, load_system
from sloplan.perfdb.queries import MlaModule
from sloplan.perfdb.source import system_data_dir

TABLE = "mla/vllm/0.24.0/mla_generation_module_perf.parquet"


def _latency_us(system: str) -> pd.Series:
    spec = load_system(system)
    d = pd.read_parquet(system_data_dir(spec.silicon_dir, system) / TABLE)
    d = d[(d.kv_cache_dtype == "bfloat16") & (d.gemm_type == "bfloat16")]
    return d.groupby("batch_size").latency.median() * 1e3


@pytest.mark.parametrize("system", ["b300_sxm", "gb200", "gb300"])
def test_the_evidence_is_slower_by_a_fixed_cost_per_call(system):
    gap = _latency_us(system) - _latency_us("b200_sxm")
    assert (gap.loc[[1, 8, 64]] > 30).all()


def _module(system: str, phase: str = "generation"):
    db = load_perfdb(system, "vllm")
    b = np.array([1, 8, 64])
    return lookup_all(db, [MlaModule(phase, b, np.full(3, 2048), 64, "bf16", "bf16")])[0]


@pytest.mark.parametrize("system", ["b300_sxm", "gb200", "gb300"])
def test_generation_module_is_b200s_table_tagged_extrapolated(system):
    b300, b200 = _module(system), _module("b200_sxm")
    assert (np.asarray(b300.tier) >= Tier.EXTRAPOLATED).all()
    assert (np.asarray(b200.tier) < Tier.EXTRAPOLATED).all()
    # same kernels, B300's SOL (bandwidth 7.75 vs 8 TB/s): within 10 % of B200's, not 40-80 us above it
    assert np.allclose(b300.latency_s, b200.latency_s, rtol=0.10)


def test_the_context_module_and_other_systems_keep_their_own_tables():
    ctx = _module("b300_sxm", "context")
    assert (np.asarray(ctx.tier) < Tier.EXTRAPOLATED).all()
    assert load_system("b200_sxm").table_donor("vllm", "mla_generation_module_perf.parquet") is None
    assert load_system("b300_sxm").table_donor("sglang", "mla_generation_module_perf.parquet") is None
