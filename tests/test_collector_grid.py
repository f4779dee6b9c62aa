"""Collector grids: the shipped tables' key grids, ordering, x/x+1 pairs, quick ⊂ full, memory budget."""
import pytest

from sloplan.perfdb.collector import grid as g
from sloplan.perfdb.collector.timing import QUICK_TIMING, TimingConfig, fixed_plan, plan_timing


def test_gemm_m_list_matches_the_shipped_tables():
    m = g.gemm_m_values()
    assert len(m) == 74 and m[0] == 1 and m[-1] == 32768
    assert list(m) == sorted(set(m))
    assert set(range(1, 18)) <= set(m)
    for x in (32, 48, 64, 128, 160, 256, 512, 1024, 2048, 4096, 4352):
        assert x in m and x + 1 in m, x                       # wave-quantization pairs
    assert {8192, 16384, 32768} <= set(m) and 8193 not in m


def test_gemm_grid_size_order_and_budget():
    full = g.gemm_grid(("bfloat16", "fp8"), budget_bytes=1 << 60)
    assert len(full) == 2 * 74 * 22 * 22
    assert [c.dtype for c in full[:3]] == ["bfloat16"] * 3 and full[-1].dtype == "fp8"
    first = full[:74]                                            # one weight shape's m-sweep is contiguous
    assert {(c.n, c.k) for c in first} == {(32, 32)} and [c.m for c in first] == list(g.gemm_m_values())
    small = g.gemm_grid(("bfloat16",), budget_bytes=1 << 30)
    assert small and all(g.gemm_bytes(c) <= 1 << 30 for c in small) and len(small) < 74 * 22 * 22


def test_quick_grids_are_small_subsets_of_the_full_ones():
    pairs = [(g.gemm_grid(("bfloat16", "fp8"), quick=True), g.gemm_grid(("bfloat16", "fp8"))),
             (g.context_grid(quick=True), g.context_grid()),
             (g.generation_grid(quick=True), g.generation_grid()),
             (g.nccl_grid(8, quick=True), g.nccl_grid(8))]
    for quick, full in pairs:
        assert quick and set(quick) <= set(full)
        assert len(quick) * 4 < len(full)
    assert len(g.gemm_grid(("bfloat16",), quick=True)) <= 150


def test_attention_grids_follow_the_shipped_caps():
    ctx = g.context_grid()
    assert all(c.batch * c.seq <= g.MAX_CONTEXT_TOKENS and c.heads % c.kv_heads == 0 for c in ctx)
    assert {c.seq for c in ctx} == set(g.ATTN_ISL) and {c.batch for c in ctx} == set(g.ATTN_BATCH)
    assert {c.head_dim for c in ctx} == set(g.HEAD_DIMS)
    gen = g.generation_grid()
    assert all(c.phase == "generation" and c.batch * c.seq <= g.MAX_GEN_TOKENS for c in gen)
    assert {c.seq - 1 for c in gen} == {2 ** e - 1 for e in range(1, 18)}    # the tables' step values
    assert max(c.heads for c in gen) == 128
    assert all(g.attention_bytes(c) <= g.DEFAULT_BUDGET_BYTES for c in ctx + gen)


def test_head_pairs_are_mha_and_gqa():
    pairs = g.head_pairs((8, 12, 3))
    assert pairs == ((3, 1), (3, 3), (8, 1), (8, 2), (8, 4), (8, 8), (12, 1), (12, 2), (12, 4), (12, 12))


def test_nccl_grid_uses_only_visible_gpus():
    assert g.nccl_grid(1) == ()
    four = g.nccl_grid(4)
    assert {c.num_gpus for c in four} == {2, 4} and {c.op for c in four} == {"all_reduce", "all_gather"}
    assert [c.message_size for c in four[:21]] == [2 ** e for e in range(8, 29)]
    assert all(c.dtype == "half" for c in four)


@pytest.mark.parametrize("first_s, graph, reps, iters", [(5e-6, True, 20, 30), (1e-3, False, 1, 30),
                                                          (1.0, False, 1, 3)])
def test_timing_plan(first_s, graph, reps, iters):
    plan = plan_timing(first_s, TimingConfig())
    assert (plan.use_graph, plan.reps, plan.iterations) == (graph, reps, iters)
    assert 1 <= plan.warmup <= TimingConfig().warmup
    assert not plan_timing(first_s, QUICK_TIMING, allow_graph=False).use_graph


def test_collective_plan_is_fixed_by_the_case_alone():
    cfg = TimingConfig()
    small, big = fixed_plan(cfg, 1 << 20), fixed_plan(cfg, 1 << 28)
    assert not small.use_graph and small.reps == 1 and small.iterations == cfg.iterations
    assert big.iterations == max(5, cfg.iterations // 3) and big.warmup == small.warmup == cfg.warmup
