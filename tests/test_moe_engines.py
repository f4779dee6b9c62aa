"""MoE engine enumeration under each framework's parallel rules (model/parallel_rules.py + frameworks/*.yaml)."""
import itertools
from pathlib import Path

import pytest

from sloplan.core.enums import Backend, Parallelism
from sloplan.model.catalog import list_models, resolve_model
from sloplan.model.engine import Engine, candidate_engines
from sloplan.model.framework import framework, load_framework
from sloplan.model.parallel_rules import engine_problem, engines_for
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.perfdb import load_system

FOLDER = Path(__file__).parents[1] / "model" / "frameworks"
H200, GB200 = load_system("h200_sxm"), load_system("gb200")
FP8 = Quant(GemmQuant.FP8, KvDtype.FP8)


def arch(name):
    return resolve_model(name, estimable=False)


def brute_force(a, rules, system, max_gpus):
    """Every combination of the sizes, kept by the rules as the tests restate them."""
    s = rules.sizes
    out = set()
    for tp, pp, dp, mt, me in itertools.product(*(s[p] for p in (Parallelism.TP, Parallelism.PP, Parallelism.DP,
                                                                  Parallelism.MOE_TP, Parallelism.MOE_EP))):
        e = Engine(tp, pp, FP8, dp, mt, me)
        node = None if system.inter_node_bw_bytes_per_s >= system.intra_node_bw_bytes_per_s else system.gpus_per_node
        ok = (mt * me == tp * dp and e.gpus <= max_gpus and a.mlp.moe.num_experts % me == 0
              and a.mlp.moe.expert_intermediate % mt == 0 and a.num_heads % tp == 0
              and (node is None or (e.gpus <= rules.max_nodes * node and (tp <= node or tp == 2 * node)))
              and not any(all(getattr(e, d.value) > 1 for d in x.degrees) for x in rules.exclusive))
        if ok:
            out.add(e)
    return out


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("model,system,gpus", [("Qwen/Qwen3-30B-A3B", H200, 16), ("deepseek-ai/DeepSeek-V3", H200, 16),
                                               ("openai/gpt-oss-120b", GB200, 32)])
def test_enumeration_equals_brute_force(backend, model, system, gpus):
    a, rules = arch(model), framework(backend).parallel_rules
    got = engines_for(a, [FP8], system, rules, gpus)
    assert len(got) == len(set(got)) and set(got) == brute_force(a, rules, system, gpus) and got


def test_framework_rules():
    a = arch("deepseek-ai/DeepSeek-V3")
    trt = engines_for(a, [FP8], H200, framework("trtllm").parallel_rules, 16)
    vll = engines_for(a, [FP8], H200, framework("vllm").parallel_rules, 16)
    sgl = engines_for(a, [FP8], H200, framework("sglang").parallel_rules, 16)
    assert not any(e.tp > 1 and e.dp > 1 for e in trt) and any(e.dp == 8 and e.moe_ep == 8 for e in trt)
    assert not any(e.moe_tp > 1 and e.moe_ep > 1 for e in vll) and any(e.tp > 1 and e.dp > 1 for e in vll)
    assert any(e.tp > 1 and e.dp > 1 and e.moe_tp > 1 and e.moe_ep > 1 for e in sgl)
    assert all(e.pp == 1 for e in trt + vll + sgl)  # MoE: no pipeline stages by default


def test_engines_span_two_nodes_and_nvlink_racks_further():
    a = arch("deepseek-ai/DeepSeek-V3")
    rules = framework("trtllm").parallel_rules
    h200 = engines_for(a, [FP8], H200, rules, 64)
    assert Engine(1, 1, FP8, 16, 1, 16) in h200  # DP16 / EP16 over two 8-GPU nodes
    assert max(e.gpus for e in h200) == 16  # at most two nodes
    gb = engines_for(a, [FP8], GB200, rules, 64)
    assert Engine(1, 1, FP8, 32, 1, 32) in gb  # wide EP inside one NVL72 rack (4-GPU trays)


def test_dense_models_keep_their_engines():
    for name in list_models(dense_only=True):
        a = resolve_model(name)
        for b in Backend:
            assert engines_for(a, [FP8], H200, framework(b).parallel_rules, 16) == candidate_engines(a, [FP8], 8, 16)


def test_rules_are_data(tmp_path):
    text = (FOLDER / "vllm.yaml").read_text()
    path = tmp_path / "vllm.yaml"
    old, new = "  exclusive:\n    - degrees: [moe_tp, moe_ep]", "  exclusive:\n    - degrees: [tp, dp]"
    assert old in text
    path.write_text(text.replace(old, new))
    a = arch("Qwen/Qwen3-30B-A3B")
    got = engines_for(a, [FP8], H200, load_framework(path).parallel_rules, 16)
    assert any(e.moe_tp > 1 and e.moe_ep > 1 for e in got) and not any(e.tp > 1 and e.dp > 1 for e in got)


@pytest.mark.parametrize("engine,backend,field,accepted", [
    (Engine(2, 1, FP8, 2, 1, 4), "trtllm", "dp", "accepted dp with the others as given: 1"),
    (Engine(2, 1, FP8, 2, 2, 2), "vllm", "moe_ep", "accepted moe_ep with the others as given: 1, 4"),
    (Engine(8, 1, FP8, 1, 1, 3), "sglang", "moe_tp", "must equal tp x dp"),
    (Engine(2, 1, FP8, 3, 1, 6), "sglang", "moe_ep", "do not spread evenly over moe_ep=6"),
    (Engine(1, 1, FP8, 32, 1, 32), "trtllm", "dp", "32 GPUs span more than 2 nodes of 8 GPUs"),
])
def test_engine_problem_names_the_flag_and_what_is_accepted(engine, backend, field, accepted):
    p = engine_problem(engine, arch("deepseek-ai/DeepSeek-V3"), H200, framework(backend).parallel_rules)
    assert p is not None and p.field == field and accepted in p.message and "\n" not in p.message


def test_engine_problem_for_dense_models_and_valid_engines():
    dense = resolve_model("Qwen/Qwen3-32B")
    assert engine_problem(Engine(2, 1, FP8, dp=2, moe_ep=2), dense, H200, None).field == "dp"
    assert engine_problem(Engine(3, 1, FP8), dense, H200, None).field == "tp"
    assert engine_problem(Engine(8, 1, FP8), dense, H200, None) is None
    ds = arch("deepseek-ai/DeepSeek-V3")
    assert engine_problem(Engine(1, 1, FP8, 8, 1, 8), ds, H200, framework("trtllm").parallel_rules) is None


def test_fp8_block_experts_cut_into_whole_blocks():
    a = arch("Qwen/Qwen3-30B-A3B-FP8")  # expert width 768: moe_tp 4 leaves 192, not whole 128-blocks
    q = Quant(GemmQuant.FP8_BLOCK, KvDtype.FP8)
    p = engine_problem(Engine(4, 1, q, moe_tp=4), a, H200, framework("sglang").parallel_rules)
    assert p.field == "moe_tp" and "128-wide FP8 blocks" in p.message
    assert all(768 // e.moe_tp % 128 == 0 for e in engines_for(a, [q], H200, framework("sglang").parallel_rules, 16))


def test_a_degree_the_framework_does_not_derive_needs_its_flag(tmp_path):
    from sloplan.model.framework import FrameworkDataError

    text = (FOLDER / "vllm.yaml").read_text()
    line = "    dp: --data-parallel-size         # only when > 1\n"
    assert line in text
    path = tmp_path / "vllm.yaml"
    path.write_text(text.replace(line, ""))
    with pytest.raises(FrameworkDataError, match="no flag for dp"):
        load_framework(path)
    path.write_text(text.replace(line, "").replace("implied: [moe_tp, moe_ep]", "implied: [dp, moe_tp, moe_ep]"))
    assert Parallelism.DP in load_framework(path).parallel_rules.implied
