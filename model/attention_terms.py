"""Term builders shared by the non-GQA attention decompositions (model/mla_ops.py, sparse_attention_ops.py,
linear_attention_ops.py): layer counts per layer kind, GEMMs, the attention block's all-reduce and its
element-wise traffic, each as the Terms model/ops.py prices.

The contract with the estimators: a module's `linear_terms(arch, engine, tokens)` is the attention block of
every layer for all of a step's tokens (input add+norm, projections, o_proj and its TP all-reduce); the
MLP / MoE side adds its own terms (post-attention add+norm, experts, its reduction or all-to-all) and the LM
head into the same OpGroup, as model/ops.linear_ops holds both for a dense model. `context_attention` and
`generation_attention` are groups of their own, priced per phase as model/ops.py's are.

Why a module of its own: the three attention designs differ in their kernels, not in how a GEMM or a norm
is priced, and the dense decomposition (model/ops.py) must stay byte-identical, so it is not reused or
edited here.
"""
from __future__ import annotations

import numpy as np

from .arch import ModelArch
from .attention import LayerAttention
from .engine import Engine
from sloplan.perfdb.queries import AllReduce, Gemm, MemoryOp
from .ops import Op, Term

BF16_BYTES = 2.0


def layers(arch: ModelArch, engine: Engine, kind: LayerAttention | None = None) -> float:
    """Layers one full pass crosses (pp stages of the busiest stage's layer count, as model/ops.py), or the
    share of them that are of `kind` (a hybrid model's linear or full layers). Fractional when pp does
    not split the kinds evenly: the busiest stage then holds the average mix."""
    total = engine.layers_per_stage(arch) * engine.pp
    if kind is None:
        return float(total)
    return total * arch.attention.count(kind) / arch.num_layers


def heads_per_gpu(heads: int, engine: Engine) -> int:
    """Attention heads one TP rank runs (each attention-DP rank runs its own batch with all of its heads)."""
    return max(1, heads // engine.tp)


def tokens_of(tokens) -> np.ndarray:
    return np.maximum(np.asarray(tokens, dtype=np.int64), 1)


def gemm(tokens, n: int, k: int, dtype: str, count: float, op: Op) -> Term:
    """A (tokens x k) @ (k x n) GEMM per GPU, `count` times per pass."""
    return Term(Gemm(tokens, int(n), int(k), dtype), count, op)


def all_reduce(tokens, hidden: int, engine: Engine, count: float) -> list[Term]:
    """The row-parallel output projection's all-reduce of `hidden` BF16 values per token (none at tp 1,
    e.g. attention data parallelism)."""
    if engine.tp == 1:
        return []
    return [Term(AllReduce(tokens * hidden, engine.tp), count, Op.ALL_REDUCE)]


def elementwise(tokens, elems_per_token: float, count: float) -> Term:
    """Memory-bound element-wise work: `elems_per_token` BF16 values read plus written per token (analytic:
    does not lower the tier, as in model/ops.py)."""
    return Term(MemoryOp(tokens * BF16_BYTES * elems_per_token), count, Op.ELEMENTWISE,
                analytic=True)


def add_norm_elems(hidden: int) -> float:
    """The attention block's residual add + RMSNorm: residual and input in, residual and normed out."""
    return 4.0 * hidden
