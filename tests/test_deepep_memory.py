"""The DeepEP buffer SGLang allocates on a wide-EP engine is in its memory plan (model/deepep_memory.py): sized
as DeepEP's hints size it from SGLang's defaults (data: model/frameworks/sglang.yaml), charged only where the
engine is launched with DeepEP, and a layout it no longer leaves room for is refused with the usual reason."""
from __future__ import annotations

from dataclasses import replace

import pytest

from sloplan.context import resolve_arch
from sloplan.core.enums import GemmQuant
from sloplan.model.deepep_memory import deepep_buffer_bytes, low_latency_bytes, normal_buffer_bytes
from sloplan.model.engine import Engine
from sloplan.model.framework import framework, profile
from sloplan.model.memory import GIB, memory_plan
from sloplan.model.moe_memory import all_to_all_bytes
from sloplan.model.options import engine_slot
from sloplan.model.quant import Quant
from sloplan.model.workload import Workload
from sloplan.perfdb.catalog import load_system

V3 = "deepseek-ai/DeepSeek-V3"


@pytest.fixture(scope="module")
def buffers():
    return framework("sglang").capabilities.wide_ep.buffers


def _ep(dp: int, tp: int = 1) -> Engine:
    return Engine(tp, 1, Quant.default_for(GemmQuant.FP8_BLOCK), dp=dp, moe_tp=1, moe_ep=tp * dp)


def test_buffer_sizes_follow_deepeps_hints_for_deepseek_v3(buffers):
    """hidden 7168 (56 scale groups), 256 experts, 128 low-latency tokens per rank, EP 16 on 8-GPU nodes."""
    combine_msg = 56 * 4 + 7168 * 2  # larger than the dispatch message (16 + 7168 * 2), so it sizes every buffer
    assert low_latency_bytes(buffers, 7168, 256) == 4 * 256 * 128 * combine_msg + 2 * 1024 + 128
    record = 7168 * 2 + 8 + 128 * 12 + 128 * 4  # hidden, source meta, top-k slots, scales
    nvl, rdma = normal_buffer_bytes(buffers, 7168, 16)
    assert nvl == -(-(10 * 8 * ((2 * 2 + 3) * 4 + 288 * record)) // 128) * 128
    assert 0 < rdma < low_latency_bytes(buffers, 7168, 256)  # auto mode: the low-latency layout sizes RDMA
    assert normal_buffer_bytes(buffers, 7168, 8)[1] == 0  # one node: no RDMA buffer for the normal kernels
    assert deepep_buffer_bytes(buffers, 7168, 256, 16) / GIB == pytest.approx(2.16, abs=0.005)
    with pytest.raises(ValueError, match="no dispatch config for 12 EP ranks"):
        normal_buffer_bytes(buffers, 7168, 12)
    assert deepep_buffer_bytes(buffers, 7168, 256, 12) == float("inf")  # cannot be launched: holds nothing


def test_an_ep_group_deepep_has_no_config_for_is_refused_with_that_reason():
    """EP 24 over three H200 nodes is in DeepEP's table; a 12-rank group is not (DeepEP asserts)."""
    arch, h200, fw, wl = resolve_arch(V3), load_system("h200_sxm"), profile("sglang"), Workload(4000, 1000)
    assert not isinstance(engine_slot(arch, _ep(24), h200, fw, wl, 64), str)
    slot = engine_slot(arch, _ep(6, tp=2), h200, fw, wl, 64)  # tp 2 x dp 6: EP 12 over two nodes
    assert isinstance(slot, str) and slot.startswith("DeepEP has no dispatch config for 12 EP ranks")


def test_only_engines_launched_with_deepep_charge_it(buffers):
    arch, h200 = resolve_arch(V3), load_system("h200_sxm")
    wide, one_node = _ep(16), _ep(8)  # two H200 nodes (DeepEP), one node (the default gather path)
    plan = memory_plan(arch, wide, h200, profile("sglang"))
    assert plan.deepep == buffers and plan.all_to_all_bytes == deepep_buffer_bytes(buffers, 7168, 256, 16)
    proxy = all_to_all_bytes(arch, wide, profile("sglang").token_budget)
    assert plan.all_to_all_bytes > proxy  # V3: 2.16 GiB of DeepEP buffers against the 1.75 GiB assumed before
    for eng, fw in ((one_node, "sglang"), (wide, "trtllm"), (wide, "vllm")):
        other = memory_plan(arch, eng, h200, profile(fw))
        assert other.deepep is None and other.all_to_all_bytes == all_to_all_bytes(arch, eng, profile(fw).token_budget)


def test_a_layout_the_buffer_leaves_no_room_for_is_refused_naming_it(monkeypatch):
    """A GPU sized so the engine fits with the assumed buffers but not with DeepEP's: refused, and the
    reason names the DeepEP buffers; with them left out (as before) the same engine fits."""
    import sloplan.model.moe_memory as mm

    arch, fw, wl, engine = resolve_arch(V3), profile("sglang"), Workload(4000, 1000), _ep(16)
    real = load_system("h200_sxm")
    plan = memory_plan(arch, engine, real, fw)
    used = fw.kv_fraction * real.mem_capacity_bytes - plan.kv_budget_bytes  # weights + activations + runtime
    used_before = used - plan.all_to_all_bytes + all_to_all_bytes(arch, engine, fw.token_budget)
    small = replace(real, mem_capacity_bytes=(used_before + 0.2 * GIB) / fw.kv_fraction)
    slot = engine_slot(arch, engine, small, fw, wl, 64)
    assert isinstance(slot, str) and "GiB of DeepEP buffers" in slot and "\n" not in slot
    monkeypatch.setattr(mm, "deepep_settings", lambda *a: None)
    assert not isinstance(engine_slot(arch, engine, small, fw, wl, 64), str)
