"""SGLang wide-EP (DeepEP) MoE pricing: the framework's rule (model/frameworks/sglang.yaml
capabilities.wide_ep, model/wide_ep.py) decides both the launch flag and the op decomposition
(model/deepep_ops.py); the expert compute and the dispatch / combine read SGLang's own DeepEP tables
(perfdb/wideep.py DeepEpMoe, perfdb/deepep.py DeepEpStep), decode steps the generation / low-latency
ones and prefill steps the context / normal ones, checked against the tables' rows."""
from __future__ import annotations

import shlex

import numpy as np
import pytest

from sloplan.generators import launch_command
from sloplan.model.aggregated import step_grid
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, FrameworkDataError, framework, load_framework
from sloplan.model.memory import memory_plan
from sloplan.model.moe_ops import moe_layer_terms
from sloplan.model.ops import Op, OpGroup
from sloplan.model.lookups import lookup_all
from sloplan.model.quant import Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import Tier, load_perfdb, load_system
from sloplan.perfdb.queries import DeepEp, DeepEpMoe, DeepEpStep, Moe, WideEpMoe
from sloplan.perfdb.source import read_columns, system_data_dir

pytestmark = pytest.mark.usefixtures("isolated_perfdb_cache")
H200 = load_system("h200_sxm")


@pytest.fixture(scope="module")
def sg(isolated_perfdb_cache):
    return load_perfdb("h200_sxm", "sglang")


@pytest.fixture(scope="module")
def dsv3():
    return resolve_model("deepseek-ai/DeepSeek-V3", estimable=False)


def _geo(values, scale):
    return float(np.exp(np.mean(np.log(np.asarray(values) * scale))))


def _moe_rows(phase: str, ep: int, dist: str):
    c = read_columns(system_data_dir("h200_sxm") / f"moe/sglang/0.5.10/wideep_{phase}_moe_perf.parquet",
                     ["moe_ep_size", "num_tokens", "latency"], ["distribution"])
    sel = (c["moe_ep_size"] == ep) & (c["distribution"] == dist)
    toks = np.unique(c["num_tokens"][sel])
    return toks, np.array([_geo(c["latency"][sel & (c["num_tokens"] == t)], 1e-3) for t in toks])


def test_expert_compute_reads_the_generation_table_for_decode_and_the_context_table_else(sg):
    gen_t, gen_s = _moe_rows("generation", 32, "power_law_1.2")
    ctx_t, ctx_s = _moe_rows("context", 32, "power_law_1.2")
    toks = np.concatenate([gen_t, ctx_t])
    decode = np.concatenate([np.ones(gen_t.shape), np.zeros(ctx_t.shape)])
    lk = sg.latency(DeepEpMoe(toks, decode, 7168, 2048, 8, 256, 32, "fp8_block", "power_law_1.2"))
    assert np.all(lk.tier == Tier.MEASURED)
    np.testing.assert_allclose(lk.latency_s, np.concatenate([gen_s, ctx_s]), rtol=1e-9)
    # the two tables differ at the same token count (DeepEP's low-latency vs normal layouts)
    both = np.intersect1d(gen_t, ctx_t)
    g = sg.latency(DeepEpMoe(both, 1, 7168, 2048, 8, 256, 32)).latency_s
    c = sg.latency(DeepEpMoe(both, 0, 7168, 2048, 8, 256, 32)).latency_s
    assert both.size and not np.allclose(g, c)


def test_a_dtype_the_deepep_tables_lack_is_roofline_not_measured(sg):
    lk = sg.latency(DeepEpMoe(np.array([256.0, 4096.0]), np.array([1, 0]), 7168, 2048, 8, 256, 32, "nvfp4"))
    assert np.all(lk.tier == Tier.ROOFLINE) and np.all(lk.latency_s > 0)


def test_dispatch_and_combine_use_low_latency_kernels_for_decode_only(sg):
    t = np.array([8.0, 128.0, 8.0, 128.0])
    decode = np.array([1, 1, 0, 0])
    for phase in ("dispatch", "combine"):
        lk = sg.latency(DeepEpStep(t, decode, 7168, 8, 256, phase, 1))
        ll = sg.latency(DeepEp(t[:2], 7168, 8, 256, phase, "ll", 1))
        normal = sg.latency(DeepEp(t[2:], 7168, 8, 256, phase, "normal", 1))
        np.testing.assert_array_equal(lk.latency_s, np.concatenate([ll.latency_s, normal.latency_s]))
        np.testing.assert_array_equal(lk.tier, np.concatenate([ll.tier, normal.tier]))
    c = read_columns(system_data_dir("h200_sxm") / "comm/sglang/0.5.12/wideep_deepep_ll_perf.parquet",
                     ["hidden_size", "num_topk", "num_experts", "num_token", "dispatch_avg_t_us"], [])
    sel = (c["hidden_size"] == 7168) & (c["num_topk"] == 8) & (c["num_experts"] == 256) & (c["num_token"] == 128)
    got = sg.latency(DeepEpStep(np.array([128.0]), np.array([1]), 7168, 8, 256, "dispatch", 1))
    assert got.tier[0] == Tier.MEASURED
    np.testing.assert_allclose(got.latency_s[0], _geo(c["dispatch_avg_t_us"][sel], 1e-6), rtol=1e-9)


def _kinds(terms):
    return {type(t.query) for t in terms if t.op in (Op.MOE_EXPERTS, Op.MOE_DISPATCH, Op.MOE_COMBINE)}


GB200 = load_system("gb200")


@pytest.mark.parametrize("system,engine,deepep", [
    (H200, dict(tp=1, dp=16, moe_tp=1, moe_ep=16), True),   # attention DP, pure EP over two 8-GPU nodes
    (H200, dict(tp=1, dp=8, moe_tp=1, moe_ep=8), False),    # the same on one node: the gather path
    (GB200, dict(tp=1, dp=8, moe_tp=1, moe_ep=8), True),    # EP 8 over two 4-GPU trays
    (GB200, dict(tp=2, dp=4, moe_tp=2, moe_ep=4), False),   # expert TP: DeepEP needs pure EP
    (GB200, dict(tp=8, dp=1, moe_tp=1, moe_ep=8), False),   # no attention DP
])
def test_the_rule_picks_the_pricing_and_the_launch_together(dsv3, system, engine, deepep):
    e = Engine(engine["tp"], 1, Quant.default_for(dsv3.checkpoint_quant), dp=engine["dp"], moe_tp=engine["moe_tp"],
               moe_ep=engine["moe_ep"])
    terms = moe_layer_terms(dsv3, e, system, np.array([4.0, 64.0]), 58, Backend.SGLANG, decode=np.array([1, 0]))
    kinds = _kinds(terms)
    assert kinds == {DeepEpMoe, DeepEpStep} if deepep else (Moe in kinds and not kinds & {DeepEpMoe, DeepEpStep})
    assert framework("sglang").capabilities.wide_ep.applies(e, system.gpus_per_node) is deepep
    fw = framework("sglang").profile
    cmd = launch_command(Backend.SGLANG, dsv3, e, memory_plan(dsv3, e, system, fw), fw, Workload(4000, 500, 0), 64,
                         gpus_per_node=system.gpus_per_node)
    args = [a for line in cmd.splitlines() for a in shlex.split(line.split(" && ")[-1])]
    assert ("--moe-a2a-backend" in args) is deepep
    if deepep:
        assert args[args.index("--moe-a2a-backend") + 1] == "deepep"
    # TRT-LLM has no such rule: the same engine keeps its generic experts
    trt = moe_layer_terms(dsv3, e, system, np.array([4.0, 64.0]), 58, Backend.TRTLLM, decode=np.array([1, 0]))
    assert DeepEpMoe not in _kinds(trt)


def test_a_deepep_decode_step_is_priced_from_the_table_and_faster_than_the_generic_path(dsv3, sg):
    e = Engine(1, 1, Quant.default_for(dsv3.checkpoint_quant), dp=32, moe_tp=1, moe_ep=32)
    tokens = np.array([16.0, 64.0, 128.0])  # decode tokens per rank; the experts see 32x that
    terms = moe_layer_terms(dsv3, e, H200, tokens, 58, Backend.SGLANG, decode=np.ones(3))
    (experts,) = [t for t in terms if t.op is Op.MOE_EXPERTS]
    np.testing.assert_array_equal(experts.query.num_tokens, tokens * 32)
    want = sg.latency(WideEpMoe(tokens * 32, 7168, 2048, 8, 256, 32, "fp8_block", phase="generation"))
    got = lookup_all(sg, [experts.query])[0]
    np.testing.assert_array_equal(got.latency_s, want.latency_s)
    deep = OpGroup(tuple(terms)).priced(lookup_all(sg, [t.query for t in terms])).latency_s
    generic = moe_layer_terms(dsv3, e, H200, tokens, 58, Backend.VLLM)  # the all-gather path, generic experts
    gen = OpGroup(tuple(generic)).priced(lookup_all(sg, [t.query for t in generic])).latency_s
    assert np.all(deep < gen)


def test_step_grid_marks_its_decode_shapes(dsv3):
    e = Engine(1, 1, Quant.default_for(dsv3.checkpoint_quant), dp=16, moe_tp=1, moe_ep=16)
    fw = framework("sglang").profile
    grid = step_grid(dsv3, e, H200, fw, Workload(1024, 256, 0), 16)
    (experts,) = [t for t in grid.groups[0].terms if t.op is Op.MOE_EXPERTS]
    n = grid.d.size
    np.testing.assert_array_equal(np.asarray(experts.query.decode), np.r_[np.ones(n), np.zeros(2 * n)])


def test_the_rule_is_strict_data(tmp_path):
    src = (framework.__wrapped__.__globals__["_FOLDER"] / "sglang.yaml").read_text()
    bad = tmp_path / "sglang.yaml"
    bad.write_text(src.replace("    min_nodes: 2", "    min_nodes: 2\n    when: always"))
    with pytest.raises(FrameworkDataError, match=r"wide_ep.when: unknown key"):
        load_framework(bad)
    bad.write_text(src.replace("    moe_a2a: --moe-a2a-backend", ""))
    with pytest.raises(FrameworkDataError, match=r"no flag for moe_a2a"):
        load_framework(bad)
    bad.write_text(src.replace("    min_nodes: 2", "    min_nodes: 3"))
    rule = load_framework(bad).capabilities.wide_ep
    e = Engine(1, 1, Quant.default_for(resolve_model("deepseek-ai/DeepSeek-V3", estimable=False).checkpoint_quant),
               dp=8, moe_tp=1, moe_ep=8)
    assert not rule.applies(e, 4) and rule.applies(e, 2) and not rule.applies(e, None)
