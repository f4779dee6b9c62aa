"""Shape grids the collector measures: the key grids of the shipped aiconfigurator-core tables.

Measuring on the same grid points as the shipped tables is what makes a collected table comparable row by
row with the wheel's (and lets perfdb's interpolator treat both the same way). All builders are pure
functions of their arguments; `quick=True` returns a small subset of the full grid (every quick case is also
a full-grid case) for a run of a few minutes. Shapes whose tensors would not fit a memory budget are
dropped up front, so a run never depends on catching out-of-memory errors.
"""
from __future__ import annotations

from dataclasses import dataclass

from sloplan.core.enums import Phase

GIB = 1 << 30
DEFAULT_BUDGET_BYTES = 16 * GIB

#: GEMM n and k (output and input features) of the shipped tables.
GEMM_NK = (32, 64, 128, 256, 512, 768, 1024, 1536, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
           10240, 12288, 16384, 51200, 65536)
GEMM_BIG_M = (8192, 16384, 32768)
QUICK_GEMM_M = (1, 8, 16, 17, 64, 128, 129, 1024, 1025, 4096, 8192)
QUICK_GEMM_NK = (1024, 4096, 8192)

ATTN_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ATTN_ISL = (1, 16, 32, 64, 128, 256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 10240, 12288, 16384)
ATTN_HEADS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96)
GEN_HEADS = ATTN_HEADS + (128,)
KV_HEAD_CHOICES = (1, 2, 4, 8)
HEAD_DIMS = (64, 128, 192, 256)
MAX_CONTEXT_TOKENS = 131072            # batch × isl cap of the shipped tables
GEN_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
GEN_KV_LEN = tuple(2 ** e for e in range(1, 18))        # 2 … 131072 (table step = kv_len − 1)
MAX_GEN_TOKENS = 1 << 23               # batch × kv_len cap of the shipped tables
QUICK_ATTN = dict(batch=(1, 8), isl=(128, 1024, 4096), heads=((32, 8), (64, 8)), head_dim=(128,))
QUICK_GEN = dict(batch=(1, 16, 128), kv_len=(1024, 4096), heads=((32, 8), (64, 8)), head_dim=(128,))

NCCL_GPUS = (2, 4, 8)
NCCL_MESSAGES = tuple(2 ** e for e in range(8, 29))     # elements: 256 … 268435456 (fp16: 512 B … 512 MiB)
QUICK_NCCL_MESSAGES = (1024, 65536, 1048576, 16777216)
NCCL_OPS = ("all_reduce", "all_gather")


@dataclass(frozen=True)
class GemmCase:
    """C[m, n] = A[m, k] · W[n, k]ᵀ: m tokens, n output features, k input features."""
    dtype: str          # table spelling: "bfloat16" | "fp8"
    m: int
    n: int
    k: int


@dataclass(frozen=True)
class AttentionCase:
    """Context (causal, isl new tokens) or generation (1 query token against kv_len cached keys)."""
    phase: str          # "context" | "generation"
    batch: int
    seq: int            # context: isl; generation: kv_len (keys attended, incl. the new token)
    heads: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class NcclCase:
    """One collective: message_size = elements of the full tensor (all_gather: the gathered output)."""
    op: str
    num_gpus: int
    message_size: int
    dtype: str = "half"


def gemm_m_values(quick: bool = False) -> tuple[int, ...]:
    """Tokens: 1…17, then pairs x, x+1 (wave-quantization sawtooth) up to 4353, then 8192/16384/32768."""
    if quick:
        return QUICK_GEMM_M
    base = list(range(16, 129, 16)) + list(range(160, 257, 32)) + list(range(512, 4353, 256))
    values = set(range(1, 16)) | {v for x in base for v in (x, x + 1)} | set(GEMM_BIG_M)
    return tuple(sorted(values))


def gemm_bytes(case: GemmCase) -> int:
    """A and W in the GEMM dtype, C in bf16."""
    width = 1 if case.dtype == "fp8" else 2
    return width * (case.m * case.k + case.n * case.k) + 2 * case.m * case.n


def gemm_grid(dtypes=("bfloat16",), quick: bool = False, budget_bytes: int = DEFAULT_BUDGET_BYTES):
    """Every (dtype, m, n, k), ordered dtype-major then n, k, m (one weight shape's m-sweep is contiguous)."""
    nk = QUICK_GEMM_NK if quick else GEMM_NK
    cases = [GemmCase(d, m, n, k) for d in dtypes for n in nk for k in nk for m in gemm_m_values(quick)]
    return tuple(c for c in cases if gemm_bytes(c) <= budget_bytes)


def head_pairs(heads=ATTN_HEADS) -> tuple[tuple[int, int], ...]:
    """(query heads, KV heads): MHA plus GQA/MQA with 1, 2, 4 or 8 KV heads that divide the head count."""
    pairs = {(h, kv) for h in heads for kv in KV_HEAD_CHOICES + (h,) if kv <= h and h % kv == 0}
    return tuple(sorted(pairs))


def attention_bytes(case: AttentionCase) -> int:
    """Q and output (q tokens × heads) plus K and V (seq × kv_heads), bf16."""
    q_tokens = case.seq if case.phase == Phase.CONTEXT else 1
    return 2 * case.batch * case.head_dim * (2 * q_tokens * case.heads + 2 * case.seq * case.kv_heads)


def context_grid(quick: bool = False, budget_bytes: int = DEFAULT_BUDGET_BYTES):
    """batch × isl × (heads, kv_heads) × head_dim, batch·isl ≤ 131072 like the shipped tables."""
    if quick:
        batch, isl, pairs, dims = QUICK_ATTN["batch"], QUICK_ATTN["isl"], QUICK_ATTN["heads"], QUICK_ATTN["head_dim"]
    else:
        batch, isl, pairs, dims = ATTN_BATCH, ATTN_ISL, head_pairs(ATTN_HEADS), HEAD_DIMS
    cases = (AttentionCase("context", b, s, h, kv, d) for h, kv in pairs for d in dims for b in batch for s in isl
             if b * s <= MAX_CONTEXT_TOKENS)
    return tuple(c for c in cases if attention_bytes(c) <= budget_bytes)


def generation_grid(quick: bool = False, budget_bytes: int = DEFAULT_BUDGET_BYTES):
    """batch × kv_len × (heads, kv_heads) × head_dim, batch·kv_len ≤ 2²³ and the KV cache within budget."""
    if quick:
        batch, kv_len, pairs, dims = QUICK_GEN["batch"], QUICK_GEN["kv_len"], QUICK_GEN["heads"], QUICK_GEN["head_dim"]
    else:
        batch, kv_len, pairs, dims = GEN_BATCH, GEN_KV_LEN, head_pairs(GEN_HEADS), HEAD_DIMS
    cases = (AttentionCase("generation", b, s, h, kv, d) for h, kv in pairs for d in dims for b in batch
             for s in kv_len if b * s <= MAX_GEN_TOKENS)
    return tuple(c for c in cases if attention_bytes(c) <= budget_bytes)


def nccl_grid(gpu_count: int, quick: bool = False, ops=NCCL_OPS):
    """(op, num_gpus, message) for every shipped GPU count that fits the visible GPUs; empty below 2 GPUs."""
    counts = [g for g in NCCL_GPUS if g <= gpu_count]
    messages = QUICK_NCCL_MESSAGES if quick else NCCL_MESSAGES
    return tuple(NcclCase(op, g, msg) for op in ops for g in counts for msg in messages)
