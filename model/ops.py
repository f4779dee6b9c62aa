"""Op decomposition of a dense GQA transformer step, composed from perfdb primitives.

A forward step is the sum of its ops (the peer tool also sums; overlap is not modelled). Every
function takes whole arrays of step shapes at once and returns latency for *all* layers, so an
estimator prices a full batch grid with a handful of vectorized table lookups.

Pipeline parallelism: a token still crosses every layer in sequence, so one full pass costs
`pp * layers_per_stage` layers plus `pp - 1` activation hand-offs; the micro-batching that lets
`pp` batches overlap is the estimators' business (model/aggregated.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from sloplan.perfdb import Lookup, PerfDB, Tier

from .arch import ModelArch
from .engine import Engine


class Op(IntEnum):
    """The ops a step is priced from, so a plan can say which lookup set its tier."""

    QKV_GEMM = 0
    ATTN_OUT_GEMM = 1
    GATE_UP_GEMM = 2
    DOWN_GEMM = 3
    ALL_REDUCE = 4
    ELEMENTWISE = 5
    LM_HEAD_GEMM = 6
    PP_HANDOFF = 7
    CONTEXT_ATTENTION = 8
    GENERATION_ATTENTION = 9

    @property
    def label(self) -> str:
        return _OP_LABELS[self]


_OP_LABELS = {Op.QKV_GEMM: "QKV projection GEMM", Op.ATTN_OUT_GEMM: "attention output GEMM",
              Op.GATE_UP_GEMM: "MLP gate/up GEMM", Op.DOWN_GEMM: "MLP down GEMM",
              Op.ALL_REDUCE: "tensor-parallel all-reduce", Op.ELEMENTWISE: "element-wise ops",
              Op.LM_HEAD_GEMM: "LM-head GEMM", Op.PP_HANDOFF: "pipeline hand-off",
              Op.CONTEXT_ATTENTION: "context attention", Op.GENERATION_ATTENTION: "generation attention"}


@dataclass(frozen=True)
class Priced:
    """Latency of some op group over a grid, with the least-trusted tier of the table lookups and
    `source`, the Op whose lookup set that tier (the first one, on ties)."""

    latency_s: np.ndarray
    tier: np.ndarray
    source: np.ndarray

    def __add__(self, other: "Priced") -> "Priced":
        return Priced(self.latency_s + other.latency_s, *weakest(self, other))

    def scale(self, factor) -> "Priced":
        return Priced(self.latency_s * factor, self.tier, self.source)

    def split(self, parts: int) -> list["Priced"]:
        """Undo a concatenation of `parts` equal-length grids priced in one call (one lookup per table)."""
        return [Priced(*cols) for cols in zip(*(np.split(a, parts) for a in (self.latency_s, self.tier, self.source)))]


def source_label(tier: int, source: int) -> str | None:
    """What to distrust: the op whose lookup left the measured range (EXTRAPOLATED) or had no data
    (ROOFLINE); None when every lookup was measured or interpolated inside the measured range."""
    return Op(int(source)).label if int(tier) >= Tier.EXTRAPOLATED else None


def weakest(*parts: Priced) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise least-trusted tier among `parts`, and the Op that set it."""
    tier, source = parts[0].tier, parts[0].source
    for p in parts[1:]:
        tier, source = np.maximum(tier, p.tier), np.where(p.tier > tier, p.source, source)
    return tier, source


def _priced(lk: Lookup, count: float, op: Op) -> Priced:
    tier = np.asarray(lk.tier, dtype=np.int8)
    return Priced(np.asarray(lk.latency_s, dtype=float) * count, tier, np.full(tier.shape, op, dtype=np.int8))


def _analytic(lk: Lookup, count: float, op: Op) -> Priced:
    """Analytic ops (element-wise, p2p) are modelled, not measured; they do not lower a plan's tier."""
    p = _priced(lk, count, op)
    return Priced(p.latency_s, np.zeros_like(p.tier), p.source)


def _layers(arch: ModelArch, engine: Engine) -> int:
    return engine.layers_per_stage(arch) * engine.pp


def linear_ops(arch: ModelArch, engine: Engine, db: PerfDB, tokens: np.ndarray, logits: np.ndarray) -> Priced:
    """GEMMs, all-reduces, norms and activations for `tokens` tokens, plus the LM head for `logits` rows."""
    tokens = np.maximum(np.asarray(tokens, dtype=np.int64), 1)
    h, d, tp, q = arch.hidden_size, arch.head_dim, engine.tp, engine.quant.gemm.value
    heads, kvh = arch.num_heads // tp, engine.kv_heads_per_gpu(arch)
    inter = arch.intermediate_size // tp
    L = _layers(arch, engine)
    out = _priced(db.gemm(tokens, (heads + 2 * kvh) * d, h, q), L, Op.QKV_GEMM)
    out = out + _priced(db.gemm(tokens, h, heads * d, q), L, Op.ATTN_OUT_GEMM)
    out = out + _priced(db.gemm(tokens, 2 * inter, h, q), L, Op.GATE_UP_GEMM)
    out = out + _priced(db.gemm(tokens, h, inter, q), L, Op.DOWN_GEMM)
    if tp > 1:
        out = out + _priced(db.all_reduce(tokens * h, tp), 2 * L, Op.ALL_REDUCE)
    # two add+norm, one SiLU-gate, rope/KV write: BF16 bytes in + out per token
    ew_bytes = tokens * 2.0 * (2 * (2 * h + 2 * h) + (2 * inter + inter) + 2 * (heads + 2 * kvh) * d)
    out = out + _analytic(db.memory_op(ew_bytes), L, Op.ELEMENTWISE)
    logits = np.maximum(np.asarray(logits, dtype=np.int64), 1)
    out = out + _priced(db.gemm(logits, arch.vocab_size // tp, h, "bf16"), 1, Op.LM_HEAD_GEMM)
    if engine.pp > 1:
        cross = engine.gpus > db.system.gpus_per_node
        out = out + _analytic(db.p2p(tokens * h * 2.0, cross_node=cross), engine.pp - 1, Op.PP_HANDOFF)
    return out


def context_attention(arch: ModelArch, engine: Engine, db: PerfDB, batch, new_tokens, prefix) -> Priced:
    """Prefill attention of `batch` requests of `new_tokens` each on top of `prefix` cached tokens."""
    lk = db.context_attention(np.asarray(batch), np.asarray(new_tokens), np.asarray(prefix),
                              arch.num_heads // engine.tp, engine.kv_heads_per_gpu(arch), arch.head_dim,
                              arch.sliding_window, engine.quant.kv.value)
    return _priced(lk, _layers(arch, engine), Op.CONTEXT_ATTENTION)


def generation_attention(arch: ModelArch, engine: Engine, db: PerfDB, batch, kv_len) -> Priced:
    """One decode step of attention for `batch` requests holding `kv_len` cached tokens each."""
    batch = np.asarray(batch)
    lk = db.generation_attention(np.maximum(batch, 1), np.asarray(kv_len), arch.num_heads // engine.tp,
                                 engine.kv_heads_per_gpu(arch), arch.head_dim, arch.sliding_window,
                                 engine.quant.kv.value)
    p = _priced(lk, _layers(arch, engine), Op.GENERATION_ATTENTION)
    return Priced(np.where(batch > 0, p.latency_s, 0.0), np.where(batch > 0, p.tier, Tier.MEASURED).astype(np.int8),
                  p.source)
