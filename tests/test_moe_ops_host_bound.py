"""model/moe_ops.py kernel_gemms: vLLM's fp8_block GEMM tables time the host (flat in m), so a MoE step prices
those GEMMs from the per-tensor FP8 tables, tagged EXTRAPOLATED; other frameworks and dtypes are untouched."""
import numpy as np
import pytest

from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend
from sloplan.model.lookups import lookup_all
from sloplan.model.ops import OpGroup, linear_ops
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_perfdb
from sloplan.perfdb.queries import Gemm, MlaModule


@pytest.fixture(scope="module")
def minimax():
    return resolve_model("MiniMaxAI/MiniMax-M2.5")


def _gemms(arch, backend, quant=GemmQuant.FP8_BLOCK):
    db = load_perfdb("b200_sxm", Backend(backend).value)
    engine = Engine(2, 1, Quant.default_for(quant), moe_tp=2)
    group = linear_ops(arch, engine, db.system, np.array([4, 64]), np.array([4, 64]), backend)
    terms = [t for t in group.terms if isinstance(t.query, Gemm) and t.query.k != 0]
    return db, terms


def test_the_vllm_fp8_block_table_is_flat_in_m():
    """The evidence: 1000x the rows cost no more (a kernel's latency grows with m once compute-bound)."""
    db = load_perfdb("b200_sxm", "vllm")
    lat = np.asarray(db.gemm(np.array([4, 4096]), 4096, 3072, "fp8_block").latency_s)
    bf16 = np.asarray(db.gemm(np.array([4, 4096]), 4096, 3072, "bf16").latency_s)
    assert lat[1] < 1.5 * lat[0] and lat[0] > 5 * bf16[0]


def test_vllm_prices_block_fp8_gemms_from_the_fp8_table(minimax):
    db, terms = _gemms(minimax, Backend.VLLM)
    swapped = [t for t in terms if t.floor == Tier.EXTRAPOLATED]
    assert swapped and all(t.query.dtype == "fp8" for t in swapped)
    assert not [t for t in terms if t.query.dtype == "fp8_block"]
    for t, lk in zip(swapped, lookup_all(db, [t.query for t in swapped])):
        assert (OpGroup((t,)).priced([lk]).tier >= Tier.EXTRAPOLATED).all()
        direct = db.gemm(t.query.m, t.query.n, t.query.k, "fp8")
        assert np.allclose(lk.latency_s, direct.latency_s)


@pytest.mark.parametrize("backend", [Backend.TRTLLM, Backend.SGLANG])
def test_other_frameworks_keep_their_block_tables(minimax, backend):
    _, terms = _gemms(minimax, backend)
    assert not [t for t in terms if t.floor]
    assert [t for t in terms if t.query.dtype == "fp8_block"]


def test_vllm_nvfp4_is_untouched():
    _, terms = _gemms(resolve_model("nvidia/MiniMax-M2.5-NVFP4"), Backend.VLLM, GemmQuant.NVFP4)
    assert not [t for t in terms if t.floor]


def test_mla_module_borrows_the_other_kv_dtype_where_its_own_was_not_collected():
    """H200 vLLM ships only FP8-KV MLA modules: a BF16-KV engine (Kimi-K2.5) is priced from them, EXTRAPOLATED,
    not from the roofline's median utilization; a collected slice answers as it is."""
    db = load_perfdb("h200_sxm", "vllm")
    b, kv = np.array([16.0, 64.0]), np.array([2048.0, 2048.0])
    bf16, fp8 = (lookup_all(db, [MlaModule("generation", b, kv, 8, k, "bf16")])[0]
                 for k in ("bf16", "fp8"))
    own = db.mla_module("generation", b, kv, 8, "bf16", "bf16")
    assert (np.asarray(own.tier) >= Tier.ROOFLINE).all()  # the evidence: no BF16-KV module collected
    assert np.allclose(bf16.latency_s, fp8.latency_s) and (bf16.tier == Tier.EXTRAPOLATED).all()
    assert (fp8.tier < Tier.EXTRAPOLATED).all()


def test_the_host_path_is_paid_before_the_version_the_framework_data_names():
    """vLLM's data: fp8_block GEMMs run the kernel path from 0.16.0; 0.12.0 pays the host path (its
    Qwen3-235B rows measure the host-bound table), a nightly build and an unnamed version do not."""
    from sloplan.model.framework import framework

    caps = framework(Backend.VLLM).capabilities
    assert caps.gemm_swaps("0.12.0") == ()
    assert caps.gemm_swaps("0.16.0") == caps.gemm_swaps("0.19.0") == (("fp8_block", "fp8"),)
    assert caps.gemm_swaps(None) == caps.gemm_swaps("nightly-5b8c30d62b754b57") == (("fp8_block", "fp8"),)
    assert framework(Backend.TRTLLM).capabilities.gemm_swaps("0.12.0") == ()


def test_a_row_of_an_older_version_prices_the_block_table_as_measured(minimax):
    """The version a CSV row ran reaches the op decomposition: priced on the same (nearest) data, 0.12.0's
    GEMMs are the fp8_block table's and untagged, 0.19.0's the fp8 table's, EXTRAPOLATED."""
    from sloplan.estimation import configure

    def gemm_terms(version):
        ctx, _ = configure("MiniMaxAI/MiniMax-M2.5", "h200_sxm", "vllm", tp=4, pp=1, quant="fp8_block", isl=1000,
                           osl=100, version="0.24.0", runtime_version=version)
        group = linear_ops(ctx.arch, Engine(4, 1, ctx.quants[0], moe_tp=4), ctx.system, np.array([8]),
                           np.array([8]), Backend.VLLM, gemm_swaps=ctx.fw.gemm_swaps)
        return [t for t in group.terms if isinstance(t.query, Gemm) and t.query.k != 0]

    old, new = gemm_terms("0.12.0"), gemm_terms("0.19.0")
    assert [t for t in old if t.query.dtype == "fp8_block"] and not [t for t in old if t.floor]
    assert not [t for t in new if t.query.dtype == "fp8_block"] and [t for t in new if t.floor == Tier.EXTRAPOLATED]
