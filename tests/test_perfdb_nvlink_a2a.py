"""TensorRT-LLM's NVLink all-to-all table (perfdb/nvlink_a2a.py): values and tiers against the wheel's Parquet,
GB300 from GB200's table (table_donors), the kernels' missing ops, and a DEP32 decode step's dispatch."""
from __future__ import annotations

import numpy as np
import pytest

from sloplan.perfdb import Tier, load_perfdb
from sloplan.perfdb.coverage import READ_TABLES
from sloplan.perfdb.nvlink_a2a import TABLE
from sloplan.perfdb.queries import NvlinkA2a, NvlinkKernel, NvlinkOp
from sloplan.perfdb.source import system_data_dir

ONE, TWO = NvlinkKernel.ONE_SIDED, NvlinkKernel.TWO_SIDED
DTYPE = {"bfloat16": "bf16", "fp8": "fp8", "nvfp4": "nvfp4"}


@pytest.fixture(scope="module")
def rows():
    pq = pytest.importorskip("pyarrow.parquet")
    path = system_data_dir("gb200", "gb200") / "comm" / "trtllm" / "1.3.0rc10" / TABLE
    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module")
def gb200():
    return load_perfdb("gb200", "trtllm")


def test_every_measured_row_reads_back_exactly_and_measured(rows, gb200):
    assert len(rows) > 2000 and {r["hidden_size"] for r in rows} == {7168}
    for r in rows[::7]:
        q = NvlinkA2a(np.array([r["num_tokens"]]), 7168, 8, 256, r["moe_ep_size"], NvlinkOp(r["op_name"]),
                      DTYPE[r["moe_dtype"]], NvlinkKernel(r["kernel_source"]))
        lk = gb200.latency(q)
        assert lk.tier[0] == Tier.MEASURED, r
        assert lk.latency_s[0] == pytest.approx(r["latency"] * 1e-3, rel=1e-9), r


def test_between_and_beyond_the_measured_points(gb200):
    q = NvlinkA2a(np.array([24, 100_000]), 7168, 8, 256, 32, NvlinkOp.DISPATCH, "nvfp4", TWO)
    lk = gb200.latency(q)
    assert list(lk.tier) == [Tier.INTERPOLATED, Tier.EXTRAPOLATED]
    lo, hi = (gb200.latency(NvlinkA2a(np.array([t]), 7168, 8, 256, 32, NvlinkOp.DISPATCH, "nvfp4", TWO)).latency_s[0]
              for t in (16, 32))
    assert lo < lk.latency_s[0] < hi
    other_shape = gb200.latency(NvlinkA2a(np.array([8]), 2880, 4, 128, 32, NvlinkOp.DISPATCH, "nvfp4", TWO))
    assert other_shape.tier[0] == Tier.EXTRAPOLATED  # hidden / topk / experts off the table's one shape


def test_missing_slices_say_so(gb200):
    t = np.array([8, 1024])
    assert (gb200.latency(NvlinkA2a(t, 7168, 8, 256, 32, NvlinkOp.PREPARE, "nvfp4", ONE)).latency_s == 0).all()
    bf16 = gb200.latency(NvlinkA2a(t, 7168, 8, 256, 32, NvlinkOp.DISPATCH, "bf16", ONE))  # one-sided: nvfp4 rows
    fp4 = gb200.latency(NvlinkA2a(t, 7168, 8, 256, 32, NvlinkOp.DISPATCH, "nvfp4", ONE))
    assert (bf16.tier == Tier.ROOFLINE).all() and (bf16.latency_s > fp4.latency_s).all()
    lp = gb200.latency(NvlinkA2a(t, 7168, 8, 256, 32, NvlinkOp.COMBINE_LOW_PRECISION, "nvfp4", ONE))
    std = gb200.latency(NvlinkA2a(t, 7168, 8, 256, 32, NvlinkOp.COMBINE, "nvfp4", ONE))
    assert (lp.tier == Tier.EXTRAPOLATED).all() and (lp.latency_s <= std.latency_s).all()
    assert lp.latency_s[1] < std.latency_s[1]  # fewer bytes where the combine is bandwidth-bound


def test_gb300_reads_gb200s_table_extrapolated(gb200):
    gb300 = load_perfdb("gb300", "trtllm")
    q = NvlinkA2a(np.array([8]), 7168, 8, 256, 32, NvlinkOp.DISPATCH, "nvfp4", TWO)
    a, b = gb200.latency(q), gb300.latency(q)
    assert a.tier[0] == Tier.MEASURED and b.tier[0] == Tier.EXTRAPOLATED
    assert b.latency_s[0] == pytest.approx(a.latency_s[0], rel=1e-9)  # same NVLink5 bandwidth, same SOL
    assert gb300.lanes["nvlink_a2a"].startswith("gb200:trtllm@")


def test_coverage_lists_the_table():
    assert READ_TABLES[("comm", TABLE)] == "nvlink_a2a"


def test_dep32_decode_dispatch_is_in_the_measured_range(gb200):
    """DeepSeek-R1 FP8 on GB200, DEP32 decode at 8 tokens per rank: the all-to-all TRT-LLM runs there costs
    tens of microseconds per call (ep32, 8 tokens: one-sided dispatch 21 us, combine 35 us), not the ~217 us
    the ep4 DeepEP table extrapolated to."""
    from sloplan.context import build_context
    from sloplan.core.enums import Backend
    from sloplan.model.engine import Engine
    from sloplan.model.moe_ops import moe_layer_terms

    ctx = build_context("deepseek-ai/DeepSeek-R1", "gb200", Backend.TRTLLM, None, 1024, 1024, 0, None)
    engine = Engine(1, 1, ctx.quants[0], dp=32, moe_ep=32)
    terms = [t for t in moe_layer_terms(ctx.arch, engine, gb200.system, np.array([8]), 58, Backend.TRTLLM)
             if isinstance(t.query, NvlinkA2a)]
    assert [t.query.op for t in terms] == [NvlinkOp.DISPATCH, NvlinkOp.COMBINE]
    for t in terms:
        lk = gb200.latency(t.query)
        assert 10e-6 < lk.latency_s[0] < 60e-6 and lk.tier[0] <= Tier.ROOFLINE
    assert gb200.latency(terms[1].query).tier[0] == Tier.EXTRAPOLATED  # fp8 combine from the nvfp4 rows' bytes
