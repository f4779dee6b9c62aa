"""Speed of light (roofline) of each primitive: max(compute time, memory time), in seconds, vectorized.

Interpolation works in utilization space, util = SOL / measured latency, because util is smooth where
latency is not (latency of attention grows ~s², GEMM latency has a launch floor). Every formula here is
evaluated identically for table rows and for queries, so an exact hit round-trips to the measured value.
"""
from __future__ import annotations

import numpy as np

from .system_spec import SystemSpec

GEMM_BYTES = {"bf16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 9.0 / 16.0}  # nvfp4: one fp8 scale per 16
KV_BYTES = {"bf16": 2.0, "fp8": 1.0}


def gemm_sol_s(spec: SystemSpec, m, n, k, dtype: str) -> np.ndarray:
    """[m,k]·[k,n] GEMM: 2mnk FLOP at the dtype's tensor rate; reads A and B in the dtype, writes C in bf16."""
    m, n, k = (np.asarray(x, dtype=np.float64) for x in (m, n, k))
    compute = 2.0 * m * n * k / spec.compute_flops_per_s(dtype)
    nbytes = GEMM_BYTES.get(dtype, 2.0) * (m * k + n * k) + 2.0 * m * n
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def causal_pairs(seq, window) -> np.ndarray:
    """(query, key) pairs of causal attention over `seq` tokens; window > 0 caps keys per query at `window`."""
    s = np.asarray(seq, dtype=np.float64)
    full = s * (s + 1.0) / 2.0
    w = np.asarray(window, dtype=np.float64)
    capped = w * (w + 1.0) / 2.0 + (s - w) * w
    return np.where((w > 0) & (s > w), capped, full)


def context_attention_sol_s(spec: SystemSpec, batch, new_tokens, prefix, num_heads, num_kv_heads,
                            head_dim, window, kv_bytes: float, attn_dtype: str = "bf16") -> np.ndarray:
    """Prefill attention of `new_tokens` queries against `prefix + new_tokens` keys (QK and PV: 4 FLOP/pair/dim).

    Bytes: Q and O in bf16 for the new tokens, K and V in the KV dtype for the whole sequence.
    """
    b, s, p = (np.asarray(x, dtype=np.float64) for x in (batch, new_tokens, prefix))
    full = s + p
    pairs = causal_pairs(full, window) - causal_pairs(p, window)
    flops = 4.0 * b * num_heads * head_dim * pairs
    nbytes = 2.0 * b * 2.0 * num_heads * s * head_dim + kv_bytes * b * 2.0 * num_kv_heads * full * head_dim
    compute = flops / spec.compute_flops_per_s(attn_dtype)
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def generation_attention_sol_s(spec: SystemSpec, batch, kv_len, num_heads, num_kv_heads, head_dim,
                               window, kv_bytes: float) -> np.ndarray:
    """One decode step: each of `batch` queries reads its KV cache (capped at the window); compute in bf16."""
    b, kv = (np.asarray(x, dtype=np.float64) for x in (batch, kv_len))
    w = np.asarray(window, dtype=np.float64)
    kv_eff = np.where(w > 0, np.minimum(kv, w), kv)
    flops = 4.0 * b * num_heads * head_dim * kv_eff
    nbytes = b * (4.0 * num_heads * head_dim + 2.0 * num_kv_heads * kv_eff * head_dim * kv_bytes)
    compute = flops / spec.compute_flops_per_s("bf16")
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def all_reduce_sol_s(message_elems, num_gpus, bw_bytes_per_s: float) -> np.ndarray:
    """Ring all-reduce of bf16 elements: each GPU sends and receives 2·(n−1)/n of the message."""
    nbytes = 2.0 * np.asarray(message_elems, dtype=np.float64)
    n = np.asarray(num_gpus, dtype=np.float64)
    return 2.0 * nbytes * (n - 1.0) / n / bw_bytes_per_s
