"""Two decode-step facts the disaggregated TPOT rows showed (model/mla_ops.py weight_dtype, model/moe_ops.py
all_reduce_terms): MLA projections run in the format their checkpoint stores them in, and a TP group
on an NVLink rack all-reduces as one NVLink collective, not node-then-network."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.model import mla_ops
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.moe_ops import all_reduce_terms, nvlink_rack
from sloplan.model.ops import Op
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_perfdb, load_system
from sloplan.perfdb.queries import AllReduce, Gemm, P2p
from sloplan.model.ops import price, OpGroup, Term

NVFP4 = Quant.default_for(GemmQuant.NVFP4)
FP8 = Quant.default_for(GemmQuant.FP8_BLOCK)


def _dtypes(arch, engine) -> dict:
    g = mla_ops.linear_ops(arch, engine, [4])
    out = {t.op: t.query.scalars[2] for t in g.terms if isinstance(t.query, Gemm)}
    kv_b = next(t for t in mla_ops.context_attention(arch, engine, [1], [64], [0]).terms if t.op is Op.MLA_KV_UP_GEMM)
    return out | {Op.MLA_KV_UP_GEMM: kv_b.query.scalars[2]}


def test_nvfp4_deepseek_keeps_its_bf16_projections_and_quantizes_o_proj():
    arch = resolve_model("nvidia/DeepSeek-V3-0324-FP4", estimable=False)
    d = _dtypes(arch, Engine(8, 1, NVFP4, moe_ep=8, moe_tp=1))
    assert d == {Op.MLA_DOWN_GEMM: "bf16", Op.MLA_Q_UP_GEMM: "bf16", Op.ATTN_OUT_GEMM: "nvfp4",
                 Op.MLA_KV_UP_GEMM: "bf16"}


def test_kimi_nvfp4_keeps_all_attention_in_bf16_and_fp8_deepseek_is_fp8_throughout():
    kimi = resolve_model("nvidia/Kimi-K2.5-NVFP4", estimable=False)
    assert set(_dtypes(kimi, Engine(4, 1, NVFP4, moe_ep=4, moe_tp=1)).values()) == {"bf16"}
    dsv3 = resolve_model("deepseek-ai/DeepSeek-V3", estimable=False)
    assert set(_dtypes(dsv3, Engine(8, 1, FP8)).values()) == {"fp8_block"}


def test_the_bf16_projection_is_cheaper_at_decode_than_the_nvfp4_table():
    """Why it matters: at a few tokens the NVFP4 table's floor is above BF16's for these shapes."""
    db = load_perfdb("gb200", "trtllm")
    m = np.array([1, 4, 16])
    bf16, fp4 = (price(db, [OpGroup((Term(Gemm(m, 2112, 7168, q), 1, Op.MLA_DOWN_GEMM),))])[0].latency_s
                 for q in ("bf16", "nvfp4"))
    assert (bf16 < fp4).all()


@pytest.mark.parametrize("system,hierarchical", [("gb200", False), ("gb300", False), ("b200_sxm", True)])
def test_a_tp_group_wider_than_a_tray_is_one_collective_on_an_nvlink_rack(system, hierarchical):
    spec = load_system(system)
    tp = 2 * spec.gpus_per_node
    terms = all_reduce_terms(np.array([7168.0]), tp, spec, 58, Op.MOE_ALL_REDUCE)
    assert nvlink_rack(spec) is not hierarchical
    if hierarchical:
        assert any(isinstance(t.query, P2p) for t in terms)
        return
    assert len(terms) == 1 and isinstance(terms[0].query, AllReduce) and terms[0].query.scalars == (tp,)
    priced = price(load_perfdb(system, "trtllm"), [OpGroup(tuple(terms))])[0]
    assert priced.tier[0] >= Tier.EXTRAPOLATED  # beyond the tray's measured GPU count: said so
    within = all_reduce_terms(np.array([7168.0]), spec.gpus_per_node, spec, 58, Op.MOE_ALL_REDUCE)
    assert len(within) == 1 and within[0].query.scalars == (spec.gpus_per_node,)
