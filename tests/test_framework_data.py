"""Framework knowledge is data (model/frameworks/*.yaml): it loads strictly, the launch commands take
every name from it, and the rules it now states answer what the code used to hard-wire."""
import ast
import itertools
import re
import shlex
from pathlib import Path

import pytest

from sloplan.generators import launch_command
from sloplan.generators.launch import offline_quantization
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import (GIB, Backend, FrameworkDataError, KvFractionOf, Setting, framework,
                                     load_framework, load_quantizer, offline_quantizer)
from sloplan.model.memory import memory_plan
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "model" / "frameworks"

# What model/framework.py's PROFILES held before the data moved to YAML.
OLD_PROFILES = {
    Backend.TRTLLM: (8192, 0.90, KvFractionOf.FREE_AFTER_WEIGHTS, 1.0, 3.0 * GIB),
    Backend.VLLM: (8192, 0.90, KvFractionOf.TOTAL, 0.5, 2.5 * GIB),
    Backend.SGLANG: (8192, 0.88, KvFractionOf.TOTAL, 0.5, 2.5 * GIB),
}


def test_each_shipped_file_loads_and_is_the_framework_it_is_named_after():
    expected = [f"{b.value}.yaml" for b in Backend] + ["modelopt.yaml"]
    assert sorted(p.name for p in FOLDER.glob("*.yaml")) == sorted(expected)
    for b in Backend:
        spec = framework(b)
        assert spec.backend is b and spec.profile.backend is b
        p = spec.profile
        assert (p.token_budget, p.kv_fraction, p.kv_fraction_of, p.reserve_per_request_osl,
                p.runtime_reserve_bytes) == OLD_PROFILES[b]
    assert set(offline_quantizer().qformats) == {GemmQuant.FP8, GemmQuant.FP8_BLOCK, GemmQuant.NVFP4}


def _edited(tmp_path: Path, backend: str, old: str, new: str) -> Path:
    text = (FOLDER / f"{backend}.yaml").read_text()
    assert old in text
    path = tmp_path / f"{backend}.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old, new, message", [
    ("  kv_fraction: 0.90", "  kv_fraction: 0.90\n  kv_fractoin: 0.9", "profile.kv_fractoin: unknown key"),
    ("  token_budget: 8192", '  token_budget: "8192"', "profile.token_budget: expected int, got str '8192'"),
    ("  token_budget: 8192", "  token_budget: true", "profile.token_budget: expected int, got bool True"),
    ("  memory_fraction_of: total", "  memory_fraction_of: all",
     "capabilities.memory_fraction_of: 'all' is not one of"),
    ("    tp: --tensor-parallel-size", "    tp: 4", "launch.flags.tp: expected str, got int 4"),
    ("    tp: --tensor-parallel-size", "    ep: --ep", "launch.flags.ep: 'ep' is not one of"),
    ("  parallelism: [tp, pp, dp, moe_tp, moe_ep]", "  parallelism: tp", "capabilities.parallelism: expected a list"),
    ("backend: vllm", "backend: sglang", "backend: sglang in a file named vllm.yaml"),
    ("  fixed: []\n", "", "launch.fixed: missing"),
    ("    quantization: --quantization", "", "launch.flags: no flag for quantization"),
    ("    tp: --tensor-parallel-size", "", "launch.flags: no flag for tp"),
    ("    memory_fraction: --gpu-memory-utilization", "", "launch.flags: no flag for memory_fraction"),
    ("    bf16: auto\n", "", "capabilities.kv_dtypes: no entry for bf16"),
    ("      fp8: fp8\n      fp8_block", "      fp8: [fp8]\n      fp8_block", "quantize_on_load.bf16.fp8: expected str"),
])
def test_an_unknown_key_or_a_wrong_type_is_an_error_naming_the_file_and_the_key(tmp_path, old, new, message):
    path = _edited(tmp_path, "vllm", old, new)
    with pytest.raises(FrameworkDataError) as err:
        load_framework(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_the_quantizer_file_is_as_strict(tmp_path):
    path = tmp_path / "modelopt.yaml"
    path.write_text((FOLDER / "modelopt.yaml").read_text() + "qformat_flags: x\n")
    with pytest.raises(FrameworkDataError, match=r"modelopt.yaml: qformat_flags: unknown key"):
        load_quantizer(path)


# --------------------------------------------------------------------------- every name comes from the data
def _command(backend: Backend, gemm=GemmQuant.FP8, kv=KvDtype.FP8, model="Qwen/Qwen3-32B", prefix=0, spec=None):
    arch, e = resolve_model(model), Engine(2, 2, Quant(gemm, kv))
    fw = (spec or framework(backend)).profile
    mem = memory_plan(arch, e, load_system("h200_sxm"), fw)
    return launch_command(backend, arch, e, mem, fw, Workload(4000, 500, prefix), 37, spec=spec)


@pytest.mark.parametrize("backend", list(Backend))
def test_renaming_any_flag_in_the_data_renames_it_in_the_command(tmp_path, backend):
    spec = framework(backend)
    moe_only = {Setting.DP, Setting.MOE_TP, Setting.MOE_EP, Setting.ATTENTION_DP, Setting.EXPERT_PARALLEL,
                Setting.MOE_A2A}
    names = {**{s: f for s, f in spec.launch.flags.items() if s not in moe_only},  # tests/test_moe_launch.py
             **({"options": spec.launch.options_file.flag} if spec.launch.options_file else {})}
    for setting, flag in names.items():
        text = (FOLDER / f"{backend.value}.yaml").read_text()
        path = tmp_path / f"{backend.value}.yaml"
        path.write_text(re.sub(re.escape(f": {flag}") + r"(?=\s)", f": {flag}-renamed", text, count=1))
        cmd = _command(backend, spec=load_framework(path))
        argv = shlex.split(cmd.replace("&&", " "))
        assert f"{flag}-renamed" in argv and flag not in argv, (setting, cmd)


def test_the_command_and_the_model_flag_come_from_the_data(tmp_path):
    path = _edited(tmp_path, "sglang", "model_flag: --model-path", "model_flag: --model")
    text = path.read_text().replace("command: [python3, -m, sglang.launch_server]", "command: [sglang, serve]")
    path.write_text(text)
    cmd = _command(Backend.SGLANG, spec=load_framework(path))
    assert cmd.startswith("sglang serve --model Qwen/Qwen3-32B ")


def test_every_flag_written_is_one_the_data_names():
    tool = offline_quantizer()
    for backend, gemm, kv, prefix in itertools.product(Backend, GemmQuant, KvDtype, (0, 64)):
        spec = framework(backend)
        known = {*spec.launch.flags.values(), *spec.launch.fixed, spec.launch.model_flag,
                 spec.launch.options_file and spec.launch.options_file.flag,
                 tool.checkpoint_flag, tool.qformat_flag, tool.export_flag}
        for arg in shlex.split(_command(backend, gemm, kv, prefix=prefix).replace("&&", " ")):
            if arg.startswith("--"):
                assert arg.split("=")[0] in known, (backend, arg)


def test_launch_py_holds_no_flag_or_command_name():
    """Structure only: no string literal in generators/launch.py is a flag, a command or a dtype spelling."""
    tree = ast.parse((ROOT / "generators" / "launch.py").read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    names = {"vllm", "trtllm-serve", "python3", "serve", "pytorch", "auto", "fp8", "fp8_e4m3", "extra.yaml"}
    assert not [s for s in literals if s.startswith("-") or s in names]


# --------------------------------------------------------------------------- the rules, as before
def _old_on_load(backend: Backend, ckpt: GemmQuant, planned: GemmQuant) -> bool:
    """launch.py's `_ONLINE` rule: vLLM/SGLang quantize BF16 to (per-tensor) FP8 on load."""
    return backend is not Backend.TRTLLM and planned in {GemmQuant.FP8, GemmQuant.FP8_BLOCK} and ckpt is GemmQuant.BF16


@pytest.mark.parametrize("backend, ckpt, planned", list(itertools.product(Backend, GemmQuant, GemmQuant)))
def test_online_quantization_answers_as_before(backend, ckpt, planned):
    caps = framework(backend).capabilities
    assert caps.quantizes_on_load(planned, ckpt) is _old_on_load(backend, ckpt, planned)
    assert (caps.load_quantization(planned, ckpt) == "fp8") is _old_on_load(backend, ckpt, planned)
    assert framework(backend).default_gemm_quants(ckpt) == (
        (GemmQuant.BF16, GemmQuant.FP8) if ckpt is GemmQuant.BF16 else (ckpt,))
    if planned.derivable_from(ckpt):  # build_context refuses the rest before any command is written
        e = Engine(1, 1, Quant.default_for(planned))
        online = backend is not Backend.TRTLLM and planned in {GemmQuant.FP8, GemmQuant.FP8_BLOCK}
        nothing_to_run = planned is ckpt or online
        assert (offline_quantization(framework(backend), "org/M", e, ckpt)[0] == "") is nothing_to_run


def test_every_default_format_can_be_made():
    """A default the framework can neither load, make on load nor get from the offline quantizer would
    plan a deployment no command can start."""
    for b in Backend:
        spec = framework(b)
        for ckpt, formats in spec.default_quantizations.items():
            for q in formats:
                assert q is ckpt or spec.capabilities.quantizes_on_load(q, ckpt) or q in offline_quantizer().qformats


def test_settings_in_the_options_file_are_written_there():
    """TRT-LLM's KV dtype has no CLI flag: it goes to the options file, with the data's spelling."""
    spec = framework(Backend.TRTLLM)
    assert spec.launch.options_file.keys[Setting.KV_DTYPE] == "kv_cache_config.dtype"
    cmd = _command(Backend.TRTLLM, GemmQuant.BF16, KvDtype.FP8)
    assert cmd.startswith("printf 'kv_cache_config:\\n  dtype: fp8\\nenable_chunked_prefill: true\\n' > extra.yaml && ")
    assert "extra.yaml" not in _command(Backend.TRTLLM, GemmQuant.BF16, KvDtype.BF16)


def test_a_setting_has_one_place(tmp_path):
    path = _edited(tmp_path, "trtllm", "    tp: --tp_size", "    tp: --tp_size\n    kv_dtype: --kv_cache_dtype")
    with pytest.raises(FrameworkDataError, match=r"trtllm.yaml: launch: kv_dtype both a flag and a file key"):
        load_framework(path)
