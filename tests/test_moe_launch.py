"""Launch commands of MoE engines: attention DP and expert parallelism in each framework's own flags (data)."""
import shlex

import pytest

from sloplan.generators import launch_command
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, framework
from sloplan.model.memory import memory_plan
from sloplan.model.quant import Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system

H200 = load_system("h200_sxm")


def command(backend, engine_of, model="deepseek-ai/DeepSeek-V3"):
    a = resolve_model(model, estimable=False)
    e = engine_of(Quant.default_for(a.checkpoint_quant))
    fw = framework(backend).profile
    return launch_command(Backend(backend), a, e, memory_plan(a, e, H200, fw), fw, Workload(4000, 500, 0), 64)


def argv(cmd):
    return shlex.split(cmd.split(" && ")[-1])


def after(args, flag):
    return args[args.index(flag) + 1]


def test_trtllm_attention_dp_and_ep():
    cmd = command("trtllm", lambda q: Engine(1, 1, q, dp=8, moe_tp=1, moe_ep=8))
    args = argv(cmd)
    assert after(args, "--tp_size") == "8" and after(args, "--ep_size") == "8"  # tp_size: every attention GPU
    assert "enable_attention_dp: true" in cmd.split(" && ")[0]
    assert after(args, "--extra_llm_api_options") == "extra.yaml"


def test_trtllm_tp_with_expert_tp_writes_no_ep():
    args = argv(command("trtllm", lambda q: Engine(8, 1, q, moe_tp=8)))
    assert after(args, "--tp_size") == "8" and "--ep_size" not in args
    assert "enable_attention_dp" not in command("trtllm", lambda q: Engine(8, 1, q, moe_tp=8))


def test_vllm_data_parallel_and_expert_parallel():
    args = argv(command("vllm", lambda q: Engine(2, 1, q, dp=4, moe_tp=1, moe_ep=8)))
    assert after(args, "--tensor-parallel-size") == "2" and after(args, "--data-parallel-size") == "4"
    assert "--enable-expert-parallel" in args
    args = argv(command("vllm", lambda q: Engine(8, 1, q, moe_tp=8)))
    assert "--enable-expert-parallel" not in args and "--data-parallel-size" not in args


def test_sglang_dp_attention_and_ep():
    args = argv(command("sglang", lambda q: Engine(2, 1, q, dp=4, moe_tp=2, moe_ep=4)))
    assert after(args, "--tp-size") == "8" and after(args, "--dp-size") == "4"  # --tp-size: every attention GPU
    assert "--enable-dp-attention" in args and after(args, "--ep-size") == "4"


@pytest.mark.parametrize("backend", list(Backend))
def test_dense_commands_have_no_moe_flags(backend):
    spec = framework(backend)
    moe_flags = [f for s, f in spec.launch.flags.items() if s.value in ("dp", "moe_ep", "attention_dp",
                                                                         "expert_parallel")]
    assert moe_flags  # every framework spells them
    cmd = command(backend, lambda q: Engine(4, 2, q), model="Qwen/Qwen3-32B")
    assert not any(f in argv(cmd) for f in moe_flags) and "attention_dp" not in cmd


@pytest.mark.parametrize("backend,flag,value", [("trtllm", "--max_batch_size", "8"), ("vllm", "--max-num-seqs", "16"),
                                                ("sglang", "--max-running-requests", "64")])
def test_running_limit_is_per_rank_where_the_framework_counts_it_so(backend, flag, value):
    """The plan's 64 running requests: 64 / dp per rank where each rank schedules its own."""
    dp = 8 if backend == "trtllm" else 4
    args = argv(command(backend, lambda q: Engine(8 // dp if backend != "trtllm" else 1, 1, q, dp=dp,
                                                  moe_tp=1, moe_ep=8 if backend != "trtllm" else 8)))
    assert after(args, flag) == value


@pytest.mark.parametrize("backend,flag,dp", [("trtllm", "--max_num_tokens", 8),
                                             ("vllm", "--max-num-batched-tokens", 4),
                                             ("sglang", "--chunked-prefill-size", 4),
                                             ("sglang", "--chunked-prefill-size", 1)])
def test_each_rank_gets_the_priced_token_budget(backend, flag, dp):
    """Every attention-DP rank steps at the profile's token budget (how model/aggregated.py prices a rank):
    SGLang divides --chunked-prefill-size by dp_size under --enable-dp-attention, so it is written x dp;
    TensorRT-LLM's and vLLM's flags are each rank's own, written as the budget."""
    budget = framework(backend).profile.token_budget
    args = argv(command(backend, lambda q: Engine(1 if dp > 1 else 8, 1, q, dp=dp, moe_tp=1, moe_ep=8)))
    split = dp if backend == "sglang" else 1
    assert int(after(args, flag)) == budget * split and int(after(args, flag)) // split == budget
