"""An engine's MoE backend (Engine.moe_kernel) in the TensorRT-LLM launch: `moe_config.backend` in the options
file where it is not CUTLASS (TensorRT-LLM's default), aggregated and disaggregated alike, so a plan priced on
trtllm-gen starts on it; nothing written for CUTLASS (the launch text of every default engine unchanged)."""
from dataclasses import replace

from sloplan.core.enums import Backend, Role
from sloplan.generators import launch_command
from sloplan.generators.disagg_launch import WorkerSpec, disagg_launch
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import framework, prefill_profile
from sloplan.model.memory import memory_plan
from sloplan.model.quant import Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system
from sloplan.perfdb.queries import MoeKernel

from disagg_helpers import written

B200 = load_system("b200_sxm")
MODEL = "nvidia/DeepSeek-R1-NVFP4"
WL = Workload(1024, 1024, 0)


def _engine(kernel: MoeKernel, dp: int = 1) -> tuple:
    arch = resolve_model(MODEL, estimable=False)
    tp = 8 // dp
    return arch, Engine(tp, 1, Quant.default_for(arch.checkpoint_quant), dp=dp, moe_tp=1, moe_ep=8, moe_kernel=kernel)


def _agg(kernel: MoeKernel) -> str:
    arch, e = _engine(kernel)
    fw = framework(Backend.TRTLLM).profile
    return launch_command(Backend.TRTLLM, arch, e, memory_plan(arch, e, B200, fw), fw, WL, 8)


def test_aggregated_launch_writes_the_engines_moe_backend():
    gen_text, default_text = _agg(MoeKernel.TRTLLM), _agg(MoeKernel.CUTLASS)
    gen, default = written(gen_text), written(default_text)
    assert gen.pop("moe_config") == {"backend": "TRTLLM"} and "moe_config" not in default
    assert gen == default  # nothing else in the file differs by kernel, nor on the command line
    assert gen_text.split(" && ")[-1] == default_text.split(" && ")[-1]


def test_disaggregated_workers_write_each_their_own_backend():
    arch, decode = _engine(MoeKernel.TRTLLM)
    _, prefill = _engine(MoeKernel.CUTLASS, dp=8)
    fw = framework(Backend.TRTLLM).profile
    pf = prefill_profile(fw, 1, WL.isl)
    p = WorkerSpec(prefill, memory_plan(arch, prefill, B200, pf), 1, 1, "b200_sxm")
    d = WorkerSpec(decode, memory_plan(arch, decode, B200, fw), 8, 1, "b200_sxm")
    steps = {s.role: s for s in disagg_launch(Backend.TRTLLM, arch, fw, WL, p, d).steps}
    dec = written(steps[Role.DECODE].setup + " && x")
    pre = written(steps[Role.PREFILL].setup + " && x")
    assert dec["moe_config"] == {"backend": "TRTLLM"} and "moe_config" not in pre
    assert "moe:TRTLLM" in steps[Role.DECODE].note
    gen_prefill = replace(p, engine=replace(prefill, moe_kernel=MoeKernel.TRTLLM))
    both = disagg_launch(Backend.TRTLLM, arch, fw, WL, gen_prefill, d)
    assert written({s.role: s for s in both.steps}[Role.PREFILL].setup + " && x")["moe_config"] == {"backend": "TRTLLM"}


def test_estimate_prices_the_named_backend_and_refuses_it_where_it_does_not_apply():
    import pytest

    from sloplan.errors import InputError
    from sloplan.estimation import estimate

    kw = dict(tp=8, moe_ep=8, concurrency=4, isl=1024, osl=1024)
    default = estimate(MODEL, "b200_sxm", "trtllm", **kw)
    gen = estimate(MODEL, "b200_sxm", "trtllm", moe_backend="TRTLLM", **kw)
    assert gen.engine.endswith("moe:TRTLLM") and not default.engine.endswith("moe:TRTLLM")
    assert gen.tpot_ms < default.tpot_ms  # trtllm-gen's rows are the faster kernel at these batches
    for model, backend in ((MODEL, "vllm"), ("Qwen/Qwen3-32B-FP8", "trtllm")):
        with pytest.raises(InputError) as err:
            estimate(model, "b200_sxm", backend, moe_backend="TRTLLM", tp=8)
        assert err.value.field == "moe_backend"
    with pytest.raises(InputError) as err:
        estimate(MODEL, "b200_sxm", "trtllm", moe_backend="FAST", **kw)
    assert err.value.field == "moe_backend" and "CUTLASS" in str(err.value)
