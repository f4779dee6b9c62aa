"""The MoE table's TensorRT-LLM kernel lanes (perfdb/moe.py KERNEL_LANES): trtllm-gen's fused MoE
(moe_config.backend TRTLLM), collected as kernel_source moe_torch_flow_min_latency beside the default CUTLASS
lane. A query on MoeKernel.TRTLLM reads that lane at every token count where it collected the shape, the
default lane elsewhere; a CUTLASS query, or a dtype the lane has no rows of, is priced as before. The engine
carries the kernel (Engine.moe_kernel), only TensorRT-LLM's expert terms read it. The values are the table's
own rows."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from sloplan.model.engine import Engine
from sloplan.model.framework import Backend
from sloplan.model.moe_ops import moe_kernel
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import Tier, load_perfdb
from sloplan.perfdb.families_common import family_table
from sloplan.perfdb.source import system_data_dir
from sloplan.perfdb.queries import Moe, MoeKernel

DSV3_EP8 = (7168, 2048, 8, 256, 1, 8)  # hidden, inter, topk, experts, moe_tp, moe_ep
DIST = "power_law_1.2"


@pytest.fixture(scope="module")
def db():
    return load_perfdb("b200_sxm", "trtllm", "1.3.0rc20")


def _rows(db, source: str, dtype: str) -> dict[int, float]:
    """num_tokens -> seconds of the table's rows of one kernel_source at DSV3_EP8."""
    root = system_data_dir(db.system.silicon_dir, db.system.name)
    path, _ = family_table(root, "moe", "trtllm", "moe_perf.parquet", "1.3.0rc20")
    t = pq.read_table(path).to_pandas()
    h, inter, k, e, tp, ep = DSV3_EP8
    t = t[(t.kernel_source == source) & (t.moe_dtype == dtype) & (t.distribution == DIST) & (t.hidden_size == h)
          & (t.inter_size == inter) & (t.topk == k) & (t.num_experts == e) & (t.moe_tp_size == tp)
          & (t.moe_ep_size == ep)]
    return {int(n): lat * 1e-3 for n, lat in zip(t.num_tokens, t.latency)}


def _lookup(db, tokens, dtype="nvfp4", kernel=MoeKernel.CUTLASS):
    return db.latency(Moe(np.asarray(tokens), *DSV3_EP8, dtype, DIST, kernel))


def test_the_trtllm_kernel_reads_the_trtllm_gen_rows_at_every_token_count(db):
    fast, default = _rows(db, "moe_torch_flow_min_latency", "nvfp4"), _rows(db, "moe_torch_flow_cutlass", "nvfp4")
    tokens = sorted(set(fast) & set(default))
    assert len(tokens) >= 10 and tokens[0] <= 4 and tokens[-1] >= 8192  # small and prefill-sized batches
    lane = _lookup(db, tokens, kernel=MoeKernel.TRTLLM)
    assert np.allclose(lane.latency_s, [fast[n] for n in tokens], rtol=1e-6)
    assert np.all(lane.tier == Tier.MEASURED)
    plain = _lookup(db, tokens)
    assert np.allclose(plain.latency_s, [default[n] for n in tokens], rtol=1e-6)
    # trtllm-gen is the faster kernel here: the CUTLASS price would over-price an engine launched on it
    assert np.all(plain.latency_s > lane.latency_s)


def test_a_dtype_the_lane_did_not_collect_prices_from_the_default_lane_less_trusted(db):
    """Per-tensor FP8 (at a shape its default lane collected): neither TRT-LLM's table nor a kernel donor
    times trtllm-gen in it (block-FP8's lane is SGLang's table of the same kernels:
    tests/test_moe_kernel_donors.py)."""
    assert not _rows(db, "moe_torch_flow_min_latency", "fp8")
    tokens, shape = np.array([1, 16, 64, 512]), (4096, 1536, 8, 128, 1, 8)
    with_lane = db.latency(Moe(tokens, *shape, "fp8", DIST, MoeKernel.TRTLLM))
    without = db.latency(Moe(tokens, *shape, "fp8", DIST))
    assert np.array_equal(with_lane.latency_s, without.latency_s)  # the default lane's price ...
    assert np.all(without.tier == Tier.MEASURED) and np.all(with_lane.tier >= Tier.EXTRAPOLATED)  # ... not its tier


def test_the_engine_carries_the_kernel_and_only_trtllm_reads_it():
    plain = Engine(8, 1, Quant.default_for(GemmQuant.NVFP4), dp=1, moe_tp=1, moe_ep=8)
    gen = Engine(8, 1, Quant.default_for(GemmQuant.NVFP4), dp=1, moe_tp=1, moe_ep=8, moe_kernel=MoeKernel.TRTLLM)
    assert plain.moe_kernel is MoeKernel.CUTLASS  # TensorRT-LLM's own default (llmapi MoeConfig.backend)
    assert plain.label == "tp8pp1ep8 nvfp4" and gen.label == "tp8pp1ep8 nvfp4 moe:TRTLLM"
    assert moe_kernel(Backend.TRTLLM, gen) is MoeKernel.TRTLLM and moe_kernel(None, gen) is MoeKernel.TRTLLM
    assert moe_kernel(Backend.VLLM, gen) is MoeKernel.CUTLASS and moe_kernel(Backend.SGLANG, gen) is MoeKernel.CUTLASS
    assert moe_kernel(Backend.TRTLLM, plain) is MoeKernel.CUTLASS


def test_kernels_no_table_times_price_from_the_default_lane_less_trusted(db):
    tokens = [1, 16, 64, 512]
    plain = _lookup(db, tokens)
    dsl, wide = _lookup(db, tokens, kernel=MoeKernel.CUTEDSL), _lookup(db, tokens, kernel=MoeKernel.WIDEEP)
    assert np.array_equal(dsl.latency_s, plain.latency_s) and np.all(dsl.tier >= Tier.EXTRAPOLATED)
    assert np.all(plain.tier == Tier.MEASURED)
    assert np.array_equal(wide.latency_s, plain.latency_s) and np.array_equal(wide.tier, plain.tier)  # CUTLASS kernels
