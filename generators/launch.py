"""Launch commands for a planned replica, consistent with the memory the plan assumed.

Flag names follow each framework's own CLI (reference/framework-flags.md) for the versions with
data in this release; the memory knob is written with the framework's own semantics (vLLM and
SGLang: fraction of total memory; TRT-LLM: fraction of memory free after weights), so the KV
budget the server allocates is the one the plan's capacity figures came from.
"""
from __future__ import annotations

import shlex

from sloplan.model.arch import ModelArch
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, FrameworkProfile
from sloplan.model.memory import MemoryPlan
from sloplan.model.quant import GemmQuant, KvDtype
from sloplan.model.workload import Workload


def _join(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


_ONLINE = {GemmQuant.FP8, GemmQuant.FP8_BLOCK}  # what vLLM/SGLang make from BF16 weights on load
_MODELOPT_QFORMAT = {GemmQuant.FP8: "fp8", GemmQuant.FP8_BLOCK: "fp8", GemmQuant.NVFP4: "nvfp4"}


def _online_fp8(engine: Engine, ckpt: GemmQuant) -> list[str]:
    """vLLM and SGLang quantize a BF16 checkpoint to FP8 on load when asked to (per-tensor scales:
    a planned fp8_block engine then runs FP8 with the same weight memory)."""
    return ["--quantization", "fp8"] if engine.quant.gemm in _ONLINE and ckpt is GemmQuant.BF16 else []


def offline_quantization(backend: Backend, model: str, engine: Engine, ckpt: GemmQuant) -> tuple[str, str]:
    """(command that writes the checkpoint the plan needs, model path to serve).

    A BF16 checkpoint planned in a lower precision the framework cannot make on load (TRT-LLM: any;
    vLLM/SGLang: NVFP4) is quantized first with NVIDIA Model Optimizer's PTQ script into a folder the
    server then loads (all three read its Hugging Face export). Its FP8 is per-tensor, so a planned
    fp8_block engine runs FP8 with the same weight memory. Otherwise nothing to run."""
    gemm = engine.quant.gemm
    if gemm is ckpt or (backend is not Backend.TRTLLM and gemm in _ONLINE):
        return "", model
    qformat = _MODELOPT_QFORMAT[gemm]
    folder = f"./{model.rstrip('/').split('/')[-1]}-{qformat}"
    args = _join([f"--pyt_ckpt_path={model}", f"--qformat={qformat}", f"--export_path={folder}"])
    return f'python "$MODELOPT_ROOT/examples/llm_ptq/hf_ptq.py" {args} && ', folder


def vllm_command(model: str, engine: Engine, fw: FrameworkProfile, wl: Workload, max_seqs: int, ckpt: GemmQuant) -> str:
    argv = ["vllm", "serve", model,
            "--tensor-parallel-size", str(engine.tp), "--pipeline-parallel-size", str(engine.pp),
            "--max-num-seqs", str(max_seqs), "--max-num-batched-tokens", str(fw.token_budget),
            "--gpu-memory-utilization", f"{fw.kv_fraction:.2f}",
            "--kv-cache-dtype", "fp8" if engine.quant.kv is KvDtype.FP8 else "auto",
            "--max-model-len", str(wl.isl + wl.osl), *_online_fp8(engine, ckpt)]
    if wl.prefix == 0:
        argv += ["--no-enable-prefix-caching"]
    return _join(argv)


def sglang_command(model: str, engine: Engine, fw: FrameworkProfile, wl: Workload, max_seqs: int, ckpt: GemmQuant) -> str:
    argv = ["python3", "-m", "sglang.launch_server", "--model-path", model,
            "--tp-size", str(engine.tp), "--pp-size", str(engine.pp),
            "--max-running-requests", str(max_seqs), "--chunked-prefill-size", str(fw.token_budget),
            "--mem-fraction-static", f"{fw.kv_fraction:.2f}",
            "--kv-cache-dtype", "fp8_e4m3" if engine.quant.kv is KvDtype.FP8 else "auto",
            "--context-length", str(wl.isl + wl.osl), *_online_fp8(engine, ckpt)]
    return _join(argv)


def trtllm_command(model: str, engine: Engine, fw: FrameworkProfile, wl: Workload, max_seqs: int, ckpt: GemmQuant) -> str:
    argv = ["trtllm-serve", model, "--backend", "pytorch",
            "--tp_size", str(engine.tp), "--pp_size", str(engine.pp),
            "--max_batch_size", str(max_seqs), "--max_num_tokens", str(fw.token_budget),
            "--max_seq_len", str(wl.isl + wl.osl),
            "--kv_cache_free_gpu_memory_fraction", f"{fw.kv_fraction:.2f}"]
    cmd = _join(argv)
    if engine.quant.kv is KvDtype.FP8:
        cmd = ("printf 'kv_cache_config:\\n  dtype: fp8\\nenable_chunked_prefill: true\\n' > extra.yaml && "
               + cmd + " --extra_llm_api_options extra.yaml")
    return cmd


_BUILDERS = {Backend.VLLM: vllm_command, Backend.SGLANG: sglang_command, Backend.TRTLLM: trtllm_command}


def launch_command(backend: Backend, arch: ModelArch, engine: Engine, memory: MemoryPlan, fw: FrameworkProfile,
                   wl: Workload, max_seqs: int) -> str:
    """The command that starts one replica of `engine` serving up to `max_seqs` requests at once,
    preceded by the checkpoint conversion the plan's quantization needs, if any (build_context has
    already refused formats the checkpoint cannot give).

    It loads `arch.checkpoint` (the resolved Hugging Face id or local folder), never the user's
    spelling of the model: `qwen3-32b` resolves to an architecture, but only `Qwen/Qwen3-32B` downloads."""
    backend, ckpt = Backend(backend), arch.checkpoint_quant
    prepare, served = offline_quantization(backend, arch.checkpoint, engine, ckpt)
    return prepare + _BUILDERS[backend](served, engine, fw, wl, max_seqs, ckpt)
