"""Launch commands carry the plan's parallelism, batch, token budget, memory fraction and KV dtype."""
import itertools
import os
import shlex
from pathlib import Path

from sloplan.generators import launch_command
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, profile
from sloplan.model.memory import memory_plan
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system


def _cmd(backend, gemm, tp=2, pp=1, model="Qwen/Qwen3-32B"):
    arch, system = resolve_model(model), load_system("h200_sxm")
    e = Engine(tp, pp, Quant.default_for(gemm))
    fw = profile(backend)
    mem = memory_plan(arch, e, system, fw)
    return launch_command(backend, arch, e, mem, fw, Workload(4000, 500), 37), fw


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


def _prepare_and_serve(cmd: str) -> tuple[str, list[str]]:
    """The ModelOpt step before the server (or ""), and the server's argv."""
    parts = [p.strip() for p in cmd.split("&&")]
    prepare = next((p for p in parts if "hf_ptq.py" in p), "")
    return prepare, shlex.split(parts[-1])


def test_trtllm_serves_a_bf16_checkpoint_in_fp8_after_quantizing_it_offline():
    """TRT-LLM does not quantize on load: the plan's FP8 weights come from a ModelOpt export first."""
    prepare, argv = _prepare_and_serve(_cmd(Backend.TRTLLM, GemmQuant.FP8)[0])
    ptq = dict(a.split("=", 1) for a in shlex.split(prepare)[2:])
    assert ptq == {"--pyt_ckpt_path": "Qwen/Qwen3-32B", "--qformat": "fp8", "--export_path": "./Qwen3-32B-fp8"}
    assert argv[:2] == ["trtllm-serve", "./Qwen3-32B-fp8"]


def test_vllm_quantizes_fp8_on_load_but_nvfp4_offline():
    prepare, argv = _prepare_and_serve(_cmd(Backend.VLLM, GemmQuant.FP8)[0])
    assert prepare == "" and argv[2] == "Qwen/Qwen3-32B" and "--quantization" in argv
    prepare, argv = _prepare_and_serve(_cmd(Backend.VLLM, GemmQuant.NVFP4)[0])
    assert "--qformat=nvfp4" in prepare and argv[2] == "./Qwen3-32B-nvfp4" and "--quantization" not in argv


def test_a_checkpoint_in_the_planned_format_is_served_as_it_is():
    for backend in Backend:
        prepare, argv = _prepare_and_serve(_cmd(backend, GemmQuant.FP8_BLOCK, model="Qwen/Qwen3-32B-FP8")[0])
        assert prepare == "" and "Qwen/Qwen3-32B-FP8" in argv and "--quantization" not in argv


def test_quantized_weights_are_never_planned_back_to_a_wider_format():
    assert GemmQuant.FP8.derivable_from(GemmQuant.BF16) and GemmQuant.NVFP4.derivable_from(GemmQuant.BF16)
    assert not GemmQuant.BF16.derivable_from(GemmQuant.FP8_BLOCK)
    assert not GemmQuant.NVFP4.derivable_from(GemmQuant.FP8)


# --------------------------------------------------------------------------- the commands, byte for byte as recorded
GOLDEN = Path(__file__).parent / "golden" / "launch_commands.txt"


def _every_command() -> list[str]:
    """One line per reachable (model, backend, format, KV dtype, parallelism, prefix): its command."""
    system, out = load_system("h200_sxm"), []
    for model in ("Qwen/Qwen3-32B", "Qwen/Qwen3-32B-FP8"):
        arch = resolve_model(model)
        for backend, gemm, kv, (tp, pp), prefix in itertools.product(
                Backend, GemmQuant, KvDtype, [(1, 1), (4, 2)], [0, 128]):
            if not gemm.derivable_from(arch.checkpoint_quant):
                continue  # refused by build_context before any command is written
            e, fw, wl = Engine(tp, pp, Quant(gemm, kv)), profile(backend), Workload(4000, 500, prefix)
            key = f"{model} {backend.value} {gemm.value} kv={kv.value} tp{tp}pp{pp} prefix={prefix}"
            out.append(f"{key}\t{launch_command(backend, arch, e, memory_plan(arch, e, system, fw), fw, wl, 37)}")
    return out


def test_every_command_is_byte_identical_to_the_recorded_one():
    """The golden file was written by the launch code before its flag names moved to model/frameworks/
    (regenerate it with SLOPLAN_WRITE_GOLDEN=1 only for a deliberate change, and review the diff)."""
    got = _every_command()
    if os.environ.get("SLOPLAN_WRITE_GOLDEN"):
        GOLDEN.write_text("\n".join(got) + "\n")
    assert len(got) == 3 * (4 + 1) * 2 * 2 * 2
    assert got == GOLDEN.read_text().splitlines()
