"""The shared expert beside the routed path (model/moe_ops.py shared_overlap, model/ops.py OpGroup.overlap):
TRT-LLM runs DeepSeek-V3's shared expert on an auxiliary stream in CUDA-graph decode steps, so such a step
pays max(routed, shared) for the pair; prefill steps, frameworks whose file says nothing, and models
without shared experts keep the plain sum."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sloplan.model import framework as framework_mod
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, SharedExpertStream, framework
from sloplan.model.lookups import lookup_all
from sloplan.model.ops import Op, Stream, linear_ops
from sloplan.model.quant import GemmQuant, Quant
from sloplan.perfdb import load_perfdb, load_system

NVFP4 = Quant.default_for(GemmQuant.NVFP4)
FP8 = Quant.default_for(GemmQuant.FP8)
TOKENS = np.array([1, 8, 1, 8])
DECODE = np.array([1, 1, 0, 0])  # the same shapes as decode-only and as prefill steps


@pytest.fixture(scope="module")
def dsv3():
    return resolve_model("deepseek-ai/DeepSeek-V3", estimable=False)


def _stream_sums(group, lookups) -> dict[Stream, np.ndarray]:
    out = {s: np.zeros(len(TOKENS)) for s in Stream}
    for t, lk in zip(group.terms, lookups):
        out[t.stream] = out[t.stream] + np.asarray(lk.latency_s, dtype=float) * t.count
    return out


def test_framework_data_says_which_framework_overlaps():
    assert framework(Backend.TRTLLM).capabilities.shared_expert_stream == SharedExpertStream(None, decode_only=True)
    assert framework(Backend.VLLM).capabilities.shared_expert_stream == SharedExpertStream(256, decode_only=False)
    assert framework(Backend.SGLANG).capabilities.shared_expert_stream is None


def test_streams_are_the_routed_path_and_the_shared_expert(dsv3):
    g = linear_ops(dsv3, Engine(8, 1, NVFP4), load_system("gb200"), TOKENS, TOKENS, Backend.TRTLLM, decode=DECODE)
    by_stream = {s: {t.op for t in g.terms if t.stream is s} for s in Stream}
    assert by_stream[Stream.SHARED] == {Op.SHARED_EXPERT_GEMM, Op.ELEMENTWISE}
    assert by_stream[Stream.ROUTED] == {Op.ROUTER_GEMM, Op.MOE_EXPERTS}
    assert Op.MOE_ALL_REDUCE in by_stream[Stream.MAIN]  # the TP all-reduce of the summed output follows both
    assert g.overlap.tolist() == [True, True, False, False]


def test_a_decode_step_pays_the_longer_stream_and_prefill_the_sum(dsv3):
    system = load_system("gb200")
    g = linear_ops(dsv3, Engine(8, 1, NVFP4), system, TOKENS, TOKENS, Backend.TRTLLM, decode=DECODE)
    lookups = lookup_all(load_perfdb("gb200", "trtllm"), g.queries)
    sums = _stream_sums(g, lookups)
    plain = sum(sums.values())
    priced = g.priced(lookups).latency_s
    serial = sums[Stream.MAIN] + np.maximum(sums[Stream.ROUTED], sums[Stream.SHARED])
    assert np.allclose(priced[:2], serial[:2])
    assert np.allclose(priced[2:], plain[2:])
    assert (sums[Stream.SHARED] > 0).all() and (priced[:2] < plain[:2]).all()


def test_vllm_overlaps_any_step_up_to_its_token_threshold(dsv3):
    tokens = np.array([1, 256, 257, 1, 256, 257])
    g = linear_ops(dsv3, Engine(8, 1, FP8), load_system("h200_sxm"), tokens, tokens, Backend.VLLM,
                   decode=np.array([1, 1, 1, 0, 0, 0]))
    assert g.overlap.tolist() == [True, True, False, True, True, False]


def test_no_overlap_without_the_capability_or_shared_experts(dsv3):
    system = load_system("h200_sxm")
    assert linear_ops(dsv3, Engine(8, 1, FP8), system, TOKENS, TOKENS, Backend.SGLANG, decode=DECODE).overlap is None
    qwen = resolve_model("Qwen/Qwen3-30B-A3B-FP8", estimable=False)
    assert linear_ops(qwen, Engine(2, 1, FP8), system, TOKENS, TOKENS, Backend.TRTLLM, decode=DECODE).overlap is None
    assert linear_ops(dsv3, Engine(8, 1, FP8), system, TOKENS, TOKENS, Backend.TRTLLM).overlap is None  # no decode


def test_a_token_threshold_limits_the_overlap(dsv3, monkeypatch):
    fw = framework(Backend.TRTLLM)
    caps = dataclasses.replace(fw.capabilities, shared_expert_stream=SharedExpertStream(max_tokens=4))
    monkeypatch.setattr(framework_mod, "framework", lambda backend: dataclasses.replace(fw, capabilities=caps))
    g = linear_ops(dsv3, Engine(8, 1, FP8), load_system("h200_sxm"), TOKENS, TOKENS, Backend.TRTLLM, decode=DECODE)
    assert g.overlap.tolist() == [True, False, False, False]
