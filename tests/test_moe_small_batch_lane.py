"""The MoE table's small-batch kernel lane (perfdb/moe.py SMALL_BATCH_LANES): TRT-LLM's trtllm-gen fused MoE,
collected as kernel_source moe_torch_flow_min_latency beside the default CUTLASS lane. A query naming the lane
reads it at up to SMALL_BATCH_TOKENS tokens where it collected the shape, the default lane elsewhere; a query
naming none, or a dtype the lane has no rows of, is priced as before. The values are the table's own rows."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from sloplan.model.framework import Backend
from sloplan.model.moe_ops import small_batch_kernel
from sloplan.perfdb import Tier, load_perfdb
from sloplan.perfdb.families_common import family_table
from sloplan.perfdb.moe import SMALL_BATCH_TOKENS
from sloplan.perfdb.source import system_data_dir
from sloplan.perfdb.queries import TRTLLM_GEN, Moe

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


def _lookup(db, tokens, dtype="nvfp4", kernel=""):
    return db.latency(Moe(np.asarray(tokens), *DSV3_EP8, dtype, DIST, kernel))


def test_small_batches_read_the_trtllm_gen_rows_larger_ones_the_default_lane(db):
    fast, default = _rows(db, "moe_torch_flow_min_latency", "nvfp4"), _rows(db, "moe_torch_flow_cutlass", "nvfp4")
    small = [n for n in sorted(fast) if n <= SMALL_BATCH_TOKENS and n in default]
    large = [n for n in sorted(default) if n > SMALL_BATCH_TOKENS][:4]
    assert len(small) >= 4 and large
    lane = _lookup(db, small + large, kernel=TRTLLM_GEN)
    assert np.allclose(lane.latency_s[:len(small)], [fast[n] for n in small], rtol=1e-6)
    assert np.allclose(lane.latency_s[len(small):], [default[n] for n in large], rtol=1e-6)
    assert np.all(lane.tier == Tier.MEASURED)
    # the lane is the faster kernel at small batches: what the query without it would have overpriced
    plain = _lookup(db, small)
    assert np.allclose(plain.latency_s, [default[n] for n in small], rtol=1e-6)
    assert np.all(plain.latency_s > lane.latency_s[:len(small)])


def test_a_dtype_the_lane_did_not_collect_is_unchanged(db):
    assert not _rows(db, "moe_torch_flow_min_latency", "fp8_block")
    tokens = [1, 16, 64, 512]
    with_lane, without = _lookup(db, tokens, "fp8_block", TRTLLM_GEN), _lookup(db, tokens, "fp8_block")
    assert np.array_equal(with_lane.latency_s, without.latency_s) and np.array_equal(with_lane.tier, without.tier)


def test_the_framework_file_decides_which_dtypes_take_the_lane():
    from sloplan.model.framework import framework

    table = dict(framework(Backend.TRTLLM).capabilities.small_batch_moe)
    assert small_batch_kernel(Backend.TRTLLM, "nvfp4") == table.get("nvfp4", "")
    assert small_batch_kernel(Backend.TRTLLM, "fp8_block") == table.get("fp8_block", "")
    assert small_batch_kernel(Backend.VLLM, "nvfp4") == ""
