"""Speed of light (roofline) of each primitive: max(compute time, memory time), in seconds, vectorized.

Interpolation works in utilization space, util = SOL / measured latency, because util is smooth where
latency is not (latency of attention grows ~s², GEMM latency has a launch floor). Every formula here is
evaluated identically for table rows and for queries, so an exact hit round-trips to the measured value.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.dtypes import Kernel, sol_kernels
from sloplan.core.enums import Phase

from .system_spec import SystemSpec

# Bytes per element each family's SOL counts: views of the one dtype table (core/dtypes.py `storage_bytes`, block
# scales included, the same count the model's weight memory uses). Unlisted dtypes count 2.0.
GEMM_BYTES = sol_kernels(Kernel.GEMM)
KV_BYTES = sol_kernels(Kernel.KV)


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


def link_bw_bytes_per_s(spec: SystemSpec, num_gpus: int) -> float:
    """Bandwidth a collective over `num_gpus` GPUs runs at: NVLink within a node, else the inter-node link."""
    return spec.intra_node_bw_bytes_per_s if num_gpus <= spec.gpus_per_node else spec.inter_node_bw_bytes_per_s


def all_reduce_sol_s(message_elems, num_gpus, bw_bytes_per_s: float) -> np.ndarray:
    """Ring all-reduce of bf16 elements: each GPU sends and receives 2·(n−1)/n of the message."""
    nbytes = 2.0 * np.asarray(message_elems, dtype=np.float64)
    n = np.asarray(num_gpus, dtype=np.float64)
    return 2.0 * nbytes * (n - 1.0) / n / bw_bytes_per_s


# ----------------------------------------------------------------------------- families added for MoE/MLA/comm
NCCL_BYTES = sol_kernels(Kernel.NCCL)
COMM_BYTES = sol_kernels(Kernel.A2A)
MOE_BYTES = sol_kernels(Kernel.MOE)
# DeepSeek-V3 MLA geometry (the only model the MLA tables were collected for): q/k head dim 128 + 64 rope,
# v head dim 128, latent KV 512 + 64 rope.
MLA_QK_DIM, MLA_V_DIM, MLA_LATENT, MLA_ROPE = 192.0, 128.0, 512.0, 64.0


def nccl_sol_s(op: str, message_elems, num_gpus, dtype_bytes: float, bw_bytes_per_s: float) -> np.ndarray:
    """NCCL ring SOL (peer §1.5): all_reduce moves 2·bytes·(n−1)/n per GPU, the others bytes·(n−1)/n."""
    nbytes = dtype_bytes * np.asarray(message_elems, dtype=np.float64)
    n = np.asarray(num_gpus, dtype=np.float64)
    factor = 2.0 if op == "all_reduce" else 1.0
    return factor * nbytes * (n - 1.0) / n / bw_bytes_per_s


def moe_sol_s(spec: SystemSpec, tokens, hidden, inter, topk, num_experts, moe_tp, moe_ep, dtype: str,
              gated: bool = True) -> np.ndarray:
    """Grouped expert GEMMs of one MoE layer on one GPU (peer §2.5): routed token-expert pairs split over EP,
    inter over TP; weights are read only for experts actually hit, min(E/ep, tokens·topk/ep)."""
    t = np.asarray(tokens, dtype=np.float64)
    g = 3.0 if gated else 2.0
    routed = t * topk / moe_ep
    flops = 2.0 * routed * hidden * inter * g / moe_tp
    wb = MOE_BYTES.get(dtype, 2.0)
    experts_hit = np.minimum(num_experts / moe_ep, routed)
    nbytes = wb * (2.0 * routed * hidden + routed * inter * g / moe_tp + hidden * inter * g / moe_tp * experts_hit)
    compute = flops / spec.compute_flops_per_s(dtype)  # weight-only formats: bf16 math (flops_key)
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def moe_a2a_sol_s(tokens, hidden, topk, ep_size, dtype_bytes: float, bw_bytes_per_s: float) -> np.ndarray:
    """Expert-parallel dispatch/combine: each token goes to its topk experts, (ep−1)/ep of them remote."""
    t = np.asarray(tokens, dtype=np.float64)
    ep = np.asarray(ep_size, dtype=np.float64)
    return t * topk * hidden * dtype_bytes * (ep - 1.0) / np.maximum(ep, 1.0) / bw_bytes_per_s


def context_mla_sol_s(spec: SystemSpec, batch, seq, num_heads, kv_bytes: float) -> np.ndarray:
    """Causal MLA prefill per GPU (heads already split by TP): QK over 192 dims, PV over 128."""
    b, s, h = (np.asarray(x, dtype=np.float64) for x in (batch, seq, num_heads))
    flops = 2.0 * b * h * causal_pairs(s, 0) * (MLA_QK_DIM + MLA_V_DIM)
    nbytes = b * s * h * (2.0 * MLA_QK_DIM + kv_bytes * (MLA_QK_DIM + MLA_V_DIM) + 2.0 * MLA_V_DIM)
    return np.maximum(flops / spec.compute_flops_per_s("bf16"), nbytes / spec.mem_bw_bytes_per_s)


def generation_mla_sol_s(spec: SystemSpec, batch, kv_len, num_heads, kv_bytes: float) -> np.ndarray:
    """Absorbed MLA decode step: every query head attends over the shared latent cache (512 + 64 per token)."""
    b, kv, h = (np.asarray(x, dtype=np.float64) for x in (batch, kv_len, num_heads))
    latent = MLA_LATENT + MLA_ROPE
    flops = 2.0 * b * h * kv * (latent + MLA_LATENT)
    nbytes = b * kv * latent * kv_bytes + b * h * (latent + MLA_LATENT) * 2.0
    return np.maximum(flops / spec.compute_flops_per_s("bf16"), nbytes / spec.mem_bw_bytes_per_s)


def mla_bmm_sol_s(spec: SystemSpec, tokens, num_heads, dtype: str) -> np.ndarray:
    """Per-head absorption BMM ([t,128]×[128,512] pre, [t,512]×[512,128] post): same FLOPs and weights."""
    t, h = (np.asarray(x, dtype=np.float64) for x in (tokens, num_heads))
    flops = 2.0 * t * h * 128.0 * MLA_LATENT
    nbytes = GEMM_BYTES.get(dtype, 2.0) * h * 128.0 * MLA_LATENT + 2.0 * t * h * (128.0 + MLA_LATENT)
    return np.maximum(flops / spec.compute_flops_per_s(dtype), nbytes / spec.mem_bw_bytes_per_s)


# ----------------------------------------------------------------------------- lazily read families
# DeepSeek-V3.2 / GLM-5 sparse attention (DSA): a lightning indexer (64 heads × 128 dims, fp8) scores every
# (query, key) pair, then MLA attends only the top-2048 keys of each query.
DSA_TOPK, DSA_INDEX_HEADS, DSA_INDEX_DIM = 2048.0, 64.0, 128.0


def dsa_module_sol_s(spec: SystemSpec, phase: str, batch, seq, num_heads, kv_bytes: float) -> np.ndarray:
    """Whole DSA attention module per GPU. context: `seq` new tokens, causal; generation: one query per
    request over `seq` cached tokens. Compute = indexer over all pairs (fp8) + MLA over ≤ top-k keys (bf16);
    bytes = latent cache (576 per token, KV dtype) + indexer keys (128 B per token) + per-head Q/O."""
    b, s, h = (np.asarray(x, dtype=np.float64) for x in (batch, seq, num_heads))
    latent = MLA_LATENT + MLA_ROPE
    if phase == Phase.CONTEXT:
        sparse_pairs, index_pairs, queries = causal_pairs(s, DSA_TOPK), causal_pairs(s, 0), s
        cache_tokens = s
    else:
        sparse_pairs, index_pairs, queries = np.minimum(s, DSA_TOPK), s, np.ones_like(s)
        cache_tokens = s
    compute = (2.0 * b * h * sparse_pairs * (latent + MLA_LATENT) / spec.compute_flops_per_s("bf16")
               + 2.0 * b * DSA_INDEX_HEADS * DSA_INDEX_DIM * index_pairs / spec.compute_flops_per_s("fp8"))
    nbytes = (b * cache_tokens * (latent * kv_bytes + DSA_INDEX_DIM)
              + b * queries * h * (MLA_QK_DIM + MLA_V_DIM) * 2.0)
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def glm5_kernel_sol_s(spec: SystemSpec, op: str, batch, isl, kv_len, num_heads=64.0) -> np.ndarray:
    """GLM-5 DSA kernels (kernel-level tables, `isl` queries over `kv_len` keys): `mqa_logits` (indexer
    scores, fp8, fp32 logits written), `topk` (reads the logits), `dsa_attn` (sparse MLA over ≤ 2048 keys)."""
    b, q, kv = (np.asarray(x, dtype=np.float64) for x in (batch, isl, kv_len))
    if op == "mqa_logits":
        compute = 2.0 * b * q * kv * DSA_INDEX_HEADS * DSA_INDEX_DIM / spec.compute_flops_per_s("fp8")
        nbytes = b * kv * DSA_INDEX_DIM + 4.0 * b * q * kv
    elif op == "topk":
        compute, nbytes = 0.0, 4.0 * b * q * kv
    else:
        keys = np.minimum(kv, DSA_TOPK)
        latent = MLA_LATENT + MLA_ROPE
        compute = 2.0 * b * num_heads * q * keys * (latent + MLA_LATENT) / spec.compute_flops_per_s("bf16")
        nbytes = b * q * keys * latent + 2.0 * b * q * num_heads * latent
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


def conv1d_sol_s(spec: SystemSpec, tokens, conv_dim) -> np.ndarray:
    """Short causal depthwise conv (GDN / Mamba2 in-projection): reads and writes tokens × conv_dim in bf16."""
    return 4.0 * np.asarray(tokens, dtype=np.float64) * np.asarray(conv_dim, dtype=np.float64) / spec.mem_bw_bytes_per_s


def gdn_core_sol_s(spec: SystemSpec, batch, tokens, num_k_heads, num_v_heads, dk=128.0, dv=128.0) -> np.ndarray:
    """Gated delta rule (chunked prefill or recurrent decode): q, k, v, o in bf16 per token, the fp32 dk×dv
    state of every v head read and written once per request; ~4·dk·dv FLOP per token and v head."""
    b, t = np.asarray(batch, dtype=np.float64), np.asarray(tokens, dtype=np.float64)
    nk, nv = np.asarray(num_k_heads, dtype=np.float64), np.asarray(num_v_heads, dtype=np.float64)
    nbytes = 2.0 * t * (2.0 * nk * dk + 2.0 * nv * dv) + 8.0 * b * nv * dk * dv
    compute = 4.0 * t * nv * dk * dv / spec.compute_flops_per_s("bf16")
    return np.maximum(compute, nbytes / spec.mem_bw_bytes_per_s)


QUANT_BYTES_PER_ELEM = {"compute_scale": 2.0, "scale_matrix": 3.0}  # read bf16 (+ write fp8)


def quantize_sol_s(spec: SystemSpec, op: str, m, k) -> np.ndarray:
    """Activation quantization of an [m, k] bf16 tensor: `compute_scale` reads it (amax reduction),
    `scale_matrix` reads it and writes the fp8 copy."""
    mk = np.asarray(m, dtype=np.float64) * np.asarray(k, dtype=np.float64)
    return QUANT_BYTES_PER_ELEM[op] * mk / spec.mem_bw_bytes_per_s


def encoder_attention_sol_s(spec: SystemSpec, batch, seq, num_heads, head_dim) -> np.ndarray:
    """Bidirectional (ViT) attention: 4·s²·heads·dim FLOP, Q, K, V, O in bf16."""
    b, s, h, d = (np.asarray(x, dtype=np.float64) for x in (batch, seq, num_heads, head_dim))
    compute = 4.0 * b * h * d * s * s / spec.compute_flops_per_s("bf16")
    return np.maximum(compute, 8.0 * b * h * s * d / spec.mem_bw_bytes_per_s)


def mhc_sol_s(spec: SystemSpec, tokens, hidden, hc_mult) -> np.ndarray:
    """Manifold hyper-connection pre/post: reads and writes hc_mult residual streams of `hidden` in bf16."""
    t, h = np.asarray(tokens, dtype=np.float64), np.asarray(hidden, dtype=np.float64)
    return 4.0 * t * h * np.asarray(hc_mult, dtype=np.float64) / spec.mem_bw_bytes_per_s
