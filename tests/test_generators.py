"""Launch commands carry the plan's parallelism, batch, token budget, memory fraction and KV dtype."""
import shlex

from sloplan.generators import launch_command
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, profile
from sloplan.model.memory import memory_plan
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system


def _cmd(backend, gemm, tp=2, pp=1, model="Qwen/Qwen3-32B"):
    arch, system = resolve_model(model), load_system("h200_sxm")
    e = Engine(tp, pp, Quant.default_for(gemm))
    fw = profile(backend)
    mem = memory_plan(arch, e, system, fw)
    return launch_command(backend, model, e, mem, fw, Workload(4000, 500), 37, arch.checkpoint_quant), fw


def _flags(cmd: str) -> dict:
    argv = shlex.split(cmd.split("&&")[-1])
    return {a: b for a, b in zip(argv, argv[1:] + [""]) if a.startswith("--")}


def test_vllm_flags_match_the_plan():
    cmd, fw = _cmd(Backend.VLLM, GemmQuant.FP8, tp=4, pp=2)
    f = _flags(cmd)
    assert cmd.startswith("vllm serve Qwen/Qwen3-32B ")
    assert f["--tensor-parallel-size"] == "4" and f["--pipeline-parallel-size"] == "2"
    assert f["--max-num-seqs"] == "37" and f["--max-num-batched-tokens"] == str(fw.token_budget)
    assert float(f["--gpu-memory-utilization"]) == fw.kv_fraction
    assert f["--kv-cache-dtype"] == "fp8" and f["--max-model-len"] == "4500"
    assert f["--quantization"] == "fp8"  # BF16 checkpoint served in FP8


def test_vllm_bf16_keeps_auto_kv_and_no_quantization():
    f = _flags(_cmd(Backend.VLLM, GemmQuant.BF16)[0])
    assert f["--kv-cache-dtype"] == "auto" and "--quantization" not in f


def test_trtllm_and_sglang_use_their_own_flag_names():
    trt = _flags(_cmd(Backend.TRTLLM, GemmQuant.BF16)[0])
    assert trt["--tp_size"] == "2" and trt["--max_batch_size"] == "37" and "--kv_cache_free_gpu_memory_fraction" in trt
    sgl = _flags(_cmd(Backend.SGLANG, GemmQuant.FP8)[0])
    assert sgl["--tp-size"] == "2" and sgl["--max-running-requests"] == "37" and sgl["--kv-cache-dtype"] == "fp8_e4m3"
