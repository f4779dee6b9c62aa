"""Serving frameworks and the defaults of theirs that change performance or memory."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

GIB = 1024**3


class Backend(str, Enum):
    TRTLLM = "trtllm"
    VLLM = "vllm"
    SGLANG = "sglang"


class KvFractionOf(str, Enum):
    """What the framework's KV-memory fraction is a fraction *of* (their semantics differ)."""

    FREE_AFTER_WEIGHTS = "free"  # TRT-LLM kv_cache_config.free_gpu_memory_fraction
    TOTAL = "total"  # vLLM --gpu-memory-utilization, SGLang --mem-fraction-static


@dataclass(frozen=True)
class FrameworkProfile:
    """Per-framework scheduling and memory behaviour that the estimators rely on.

    token_budget: tokens one forward step may carry (max_num_tokens / max-num-batched-tokens /
    chunked-prefill-size); prefill is chunked to fit it. kv_fraction + kv_fraction_of: the memory
    knob as the framework defines it. reserve_per_request_osl: the share of the output length a
    running request holds in KV on average at admission time — TRT-LLM's default scheduler
    (GUARANTEED_NO_EVICT) reserves the whole sequence, vLLM and SGLang allocate pages as tokens
    are produced, so their running requests hold about half the output on average.
    """

    backend: Backend
    token_budget: int
    kv_fraction: float
    kv_fraction_of: KvFractionOf
    reserve_per_request_osl: float
    runtime_reserve_bytes: float  # CUDA context, graphs, allocator slack, sampler buffers


PROFILES = {
    Backend.TRTLLM: FrameworkProfile(Backend.TRTLLM, 8192, 0.90, KvFractionOf.FREE_AFTER_WEIGHTS, 1.0, 3.0 * GIB),
    Backend.VLLM: FrameworkProfile(Backend.VLLM, 8192, 0.90, KvFractionOf.TOTAL, 0.5, 2.5 * GIB),
    Backend.SGLANG: FrameworkProfile(Backend.SGLANG, 8192, 0.88, KvFractionOf.TOTAL, 0.5, 2.5 * GIB),
}


def profile(backend: Backend | str) -> FrameworkProfile:
    return PROFILES[Backend(backend)]
