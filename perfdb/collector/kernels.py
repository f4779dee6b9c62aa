"""The measured primitives, built with PyTorch on GPU 0: GEMM (bf16 matmul, fp8 _scaled_mm) and SDPA.

Each builder allocates its inputs once and returns a closure that launches exactly the kernel being
measured, so the timer sees no allocation or layout conversion. Only called after `probe.open_device`
succeeded; torch is passed in, never imported at module level.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sloplan.core.enums import Phase

from .grid import AttentionCase, GemmCase

GEMM_SOURCES = {"bfloat16": "torch.matmul", "fp8": "torch._scaled_mm"}
SDPA_SOURCE = "torch.nn.functional.scaled_dot_product_attention"
SDPA_EXPANDED_SOURCE = SDPA_SOURCE + "(kv_expanded)"


@dataclass(frozen=True)
class Built:
    """A ready-to-time call and the name written to the table's `kernel_source` column."""
    fn: object
    kernel_source: str


def gemm_call(torch, case: GemmCase) -> Built:
    """C = A · Wᵀ with W stored (n, k) row-major, the layout of a serving framework's linear layer."""
    dev = "cuda"
    a = torch.randn(case.m, case.k, device=dev, dtype=torch.bfloat16)
    w = torch.randn(case.n, case.k, device=dev, dtype=torch.bfloat16)
    if case.dtype == "bfloat16":
        wt = w.t()
        return Built(lambda: torch.matmul(a, wt), GEMM_SOURCES["bfloat16"])
    a8 = a.to(torch.float8_e4m3fn)
    w8t = w.to(torch.float8_e4m3fn).t()  # column-major, as _scaled_mm requires for its second operand
    one = torch.ones((), device=dev, dtype=torch.float32)
    return Built(lambda: torch._scaled_mm(a8, w8t, scale_a=one, scale_b=one, out_dtype=torch.bfloat16),
                 GEMM_SOURCES["fp8"])


def _fast_sdpa_only(torch):
    """Forbid SDPA's math fallback (it materializes the score matrix: not what a server runs)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return contextlib.nullcontext()
    allowed = [getattr(SDPBackend, n) for n in ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION")
               if hasattr(SDPBackend, n)]
    return sdpa_kernel(allowed)


def attention_call(torch, case: AttentionCase, expand_kv: bool = False) -> Built:
    """Context: causal self-attention over isl tokens. Generation: one query token, all kv_len keys visible.

    GQA runs natively (`enable_gqa`); where this torch or its fast kernels reject that (TypeError /
    "no available kernel"), the backend retries with `expand_kv`: KV heads repeated before timing, and the
    kernel_source says so, since that variant reads heads/kv_heads× more KV.
    """
    f = torch.nn.functional.scaled_dot_product_attention
    q_len = case.seq if case.phase == Phase.CONTEXT else 1
    shape = lambda heads, n: (case.batch, heads, n, case.head_dim)  # noqa: E731
    q = torch.randn(shape(case.heads, q_len), device="cuda", dtype=torch.bfloat16)
    k = torch.randn(shape(case.kv_heads, case.seq), device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)
    causal = case.phase == Phase.CONTEXT
    source, kwargs = SDPA_SOURCE, {}
    if case.kv_heads != case.heads:
        if expand_kv:
            rep = case.heads // case.kv_heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            source = SDPA_EXPANDED_SOURCE
        else:
            kwargs["enable_gqa"] = True

    def call():
        with _fast_sdpa_only(torch):
            return f(q, k, v, is_causal=causal, **kwargs)

    return Built(call, source)
