"""Typed queries: one frozen record per kind of question perfdb answers, `db.latency(query) -> Lookup`.

A query holds its arguments exactly as the matching PerfDB method takes them (same names, same defaults:
`db.gemm(m, n, k, dtype)` is `db.latency(Gemm(m, n, k, dtype))`) and names the `Family` whose tables
answer it (`family`; None for the analytic ops, priced from bytes alone). Its answer is the function the
family's module registered for the query's type (`family.answers`), so `PerfDB.latency` dispatches on the
type through the registry — no chain of kind names. Array arguments (token counts, batches) stay arrays:
one query is one vectorized lookup. A leaf: imports nothing from perfdb, so every family module can.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

Arr = Any  # a scalar or numpy array of sizes; vectorized over


@dataclass(frozen=True, slots=True)
class Gemm:
    """[m,k]×[k,n] GEMM; m an array of token counts (≥1). dtype "fp8_static" → `GemmFp8Static`."""
    family: ClassVar[str] = "gemm"
    m: Arr
    n: int
    k: int
    dtype: str


@dataclass(frozen=True, slots=True)
class ContextAttention:
    """Prefill attention of `new_tokens` queries over `prefix + new_tokens` keys, per layer."""
    family: ClassVar[str] = "attention"
    batch: Arr
    new_tokens: Arr
    prefix: Arr
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int
    kv_dtype: str


@dataclass(frozen=True, slots=True)
class GenerationAttention:
    """One decode step of `batch` requests with `kv_len` cached tokens each, per layer."""
    family: ClassVar[str] = "attention"
    batch: Arr
    kv_len: Arr
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int
    kv_dtype: str


@dataclass(frozen=True, slots=True)
class AllReduce:
    """bf16 all-reduce of `message_elems` elements over `num_gpus` GPUs (custom AR, else NCCL)."""
    family: ClassVar[str] = "ar"
    message_elems: Arr
    num_gpus: int


@dataclass(frozen=True, slots=True)
class P2p:
    """Point-to-point send (pipeline stage hop): bytes / link bandwidth + per-hop latency."""
    family: ClassVar[str | None] = None
    nbytes: Arr
    cross_node: bool


@dataclass(frozen=True, slots=True)
class MemoryOp:
    """Element-wise / memory-bound kernel moving `nbytes`."""
    family: ClassVar[str | None] = None
    nbytes: Arr


@dataclass(frozen=True, slots=True)
class Embedding:
    """Embedding gather of `tokens` rows of width `hidden` (reads and writes the touched rows only)."""
    family: ClassVar[str | None] = None
    tokens: Arr
    hidden: int
    dtype_bytes: float = 2.0


@dataclass(frozen=True, slots=True)
class Nccl:
    """NCCL `op` (all_gather / reduce_scatter / alltoall / all_reduce) over `num_gpus` GPUs."""
    family: ClassVar[str] = "nccl"
    op: str
    message_elems: Arr
    num_gpus: int
    dtype: str = "bf16"


@dataclass(frozen=True, slots=True)
class MoeA2a:
    """MoE expert-parallel all-to-all (`phase` dispatch / combine) of `num_tokens` tokens per rank."""
    family: ClassVar[str] = "a2a"
    num_tokens: Arr
    hidden: int
    topk: int
    num_experts: int
    ep_size: int
    phase: str = "dispatch"
    dtype: str = "bf16"
    kernel: str = "ll"


@dataclass(frozen=True, slots=True)
class Moe:
    """Expert compute of one MoE layer on one GPU for `num_tokens` tokens entering the layer."""
    family: ClassVar[str] = "moe"
    num_tokens: Arr
    hidden: int
    inter: int
    topk: int
    num_experts: int
    moe_tp: int
    moe_ep: int
    dtype: str = "bf16"
    distribution: str = "power_law_1.2"


@dataclass(frozen=True, slots=True)
class ContextMla:
    """MLA prefill of `new_tokens` over `prefix + new_tokens` keys, per layer per GPU."""
    family: ClassVar[str] = "mla"
    batch: Arr
    new_tokens: Arr
    prefix: Arr
    num_heads: int
    kv_dtype: str = "bf16"


@dataclass(frozen=True, slots=True)
class GenerationMla:
    """One MLA decode step of `batch` requests with `kv_len` cached tokens, per layer per GPU."""
    family: ClassVar[str] = "mla"
    batch: Arr
    kv_len: Arr
    num_heads: int
    kv_dtype: str = "bf16"


@dataclass(frozen=True, slots=True)
class MlaModule:
    """Whole DeepSeek-V3 attention module (projections + kernel) of one phase."""
    family: ClassVar[str] = "mla"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "bf16"
    gemm_dtype: str = "fp8_block"


@dataclass(frozen=True, slots=True)
class MlaBmm:
    """Decode absorption BMM, `phase` "pre" (q_nope·W_UK) or "post" (out·W_UV), per layer per GPU."""
    family: ClassVar[str] = "mla"
    num_tokens: Arr
    num_heads: int
    dtype: str = "bf16"
    phase: str = "pre"


@dataclass(frozen=True, slots=True)
class DsaModule:
    """Whole DSA attention module per layer per GPU (DeepSeek-V3.2 / GLM-5)."""
    family: ClassVar[str] = "sparse"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "bf16"
    gemm_dtype: str = "fp8_block"
    model: str = "dsv32"
    prefix: Arr = 0


@dataclass(frozen=True, slots=True)
class Glm5Kernel:
    """GLM-5 DSA kernel `op` (dsa_attn / mqa_logits / topk), 64 heads per GPU."""
    family: ClassVar[str] = "sparse"
    op: str
    batch: Arr
    isl: Arr
    kv_len: Arr
    score_mode: str = "flat"


@dataclass(frozen=True, slots=True)
class Gdn:
    """One Gated DeltaNet layer's kernels per GPU: conv1d + gated delta rule."""
    family: ClassVar[str] = "linear"
    phase: str
    batch: Arr
    seq_len: Arr
    num_k_heads: int
    num_v_heads: int
    head_k_dim: int = 128
    head_v_dim: int = 128


@dataclass(frozen=True, slots=True)
class Mamba2:
    """Mamba2 layer's causal conv1d per GPU (the SSM scan was not collected)."""
    family: ClassVar[str] = "linear"
    phase: str
    batch: Arr
    seq_len: Arr
    nheads: int
    head_dim: int = 64
    n_groups: int = 8
    d_state: int = 128


@dataclass(frozen=True, slots=True)
class Quantize:
    """Quantizing an [m, k] bf16 activation: `op` "compute_scale" or "scale_matrix"."""
    family: ClassVar[str] = "quantize"
    m: Arr
    k: int
    op: str = "compute_scale"
    dtype: str = "fp8"


@dataclass(frozen=True, slots=True)
class GemmFp8Static:
    """fp8 GEMM with a static activation scale (fp8 GEMM − the quantize kernels it skips)."""
    family: ClassVar[str] = "quantize"
    m: Arr
    n: int
    k: int
    fp8_input: bool = False


@dataclass(frozen=True, slots=True)
class EncoderAttention:
    """Bidirectional attention of `batch` images of `seq` patches each, per layer per GPU."""
    family: ClassVar[str] = "encoder"
    batch: Arr
    seq: Arr
    num_heads: int
    head_dim: int
    dtype: str = "bf16"


@dataclass(frozen=True, slots=True)
class Mhc:
    """mHC `op` "pre" or "post" for `num_tokens` tokens of width `hidden`, per layer per GPU."""
    family: ClassVar[str] = "mhc"
    op: str
    num_tokens: Arr
    hidden: int
    hc_mult: int = 4


@dataclass(frozen=True, slots=True)
class WideEpMoe:
    """WideEP expert compute of one MoE layer on one GPU (moe_tp = 1)."""
    family: ClassVar[str] = "wideep"
    num_tokens: Arr
    hidden: int
    inter: int
    topk: int
    num_experts: int
    moe_ep: int
    dtype: str = "fp8_block"
    distribution: str = "power_law_1.2"
    num_slots: int | None = None
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class WideEpMla:
    """DeepSeek-V3 attention module under DP attention (SGLang WideEP tables), per layer per GPU."""
    family: ClassVar[str] = "wideep"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "fp8"
    gemm_dtype: str = "fp8_block"


@dataclass(frozen=True, slots=True)
class WideEpMlp:
    """Dense gated MLP of a DeepSeek-V3 dense layer (SGLang WideEP table), per GPU."""
    family: ClassVar[str] = "wideep"
    phase: str
    num_tokens: Arr
    hidden: int = 7168
    inter: int = 2048
    dtype: str = "fp8_block"


@dataclass(frozen=True, slots=True)
class DeepEp:
    """DeepEP `phase` (dispatch / combine) of `num_tokens` tokens per rank over `num_nodes` 8-GPU nodes."""
    family: ClassVar[str] = "deepep"
    num_tokens: Arr
    hidden: int
    topk: int
    num_experts: int
    phase: str = "dispatch"
    kernel: str = "ll"
    num_nodes: int = 1
    sms: int | None = None


QUERIES: tuple[type, ...] = (
    Gemm, ContextAttention, GenerationAttention, AllReduce, P2p, MemoryOp, Embedding, Nccl, MoeA2a, Moe,
    ContextMla, GenerationMla, MlaModule, MlaBmm, DsaModule, Glm5Kernel, Gdn, Mamba2, Quantize, GemmFp8Static,
    EncoderAttention, Mhc, WideEpMoe, WideEpMla, WideEpMlp, DeepEp)
