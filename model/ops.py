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

import numpy as np

from sloplan.perfdb import Lookup, PerfDB, Tier

from .arch import ModelArch
from .engine import Engine


@dataclass(frozen=True)
class Priced:
    """Latency of some op group over a grid, with the least-trusted tier of the table lookups."""

    latency_s: np.ndarray
    tier: np.ndarray

    def __add__(self, other: "Priced") -> "Priced":
        return Priced(self.latency_s + other.latency_s, np.maximum(self.tier, other.tier))

    def scale(self, factor) -> "Priced":
        return Priced(self.latency_s * factor, self.tier)

    def split(self, parts: int) -> list["Priced"]:
        """Undo a concatenation of `parts` equal-length grids priced in one call (one lookup per table)."""
        return [Priced(lat, tier) for lat, tier in zip(np.split(self.latency_s, parts), np.split(self.tier, parts))]


def _priced(lk: Lookup, count: float) -> Priced:
    return Priced(np.asarray(lk.latency_s, dtype=float) * count, np.asarray(lk.tier, dtype=np.int8))


def _analytic(lk: Lookup, count: float) -> Priced:
    """Analytic ops (element-wise, p2p) are modelled, not measured; they do not lower a plan's tier."""
    return Priced(np.asarray(lk.latency_s, dtype=float) * count, np.zeros_like(lk.tier, dtype=np.int8))


def _layers(arch: ModelArch, engine: Engine) -> int:
    return engine.layers_per_stage(arch) * engine.pp


def linear_ops(arch: ModelArch, engine: Engine, db: PerfDB, tokens: np.ndarray, logits: np.ndarray) -> Priced:
    """GEMMs, all-reduces, norms and activations for `tokens` tokens, plus the LM head for `logits` rows."""
    tokens = np.maximum(np.asarray(tokens, dtype=np.int64), 1)
    h, d, tp, q = arch.hidden_size, arch.head_dim, engine.tp, engine.quant.gemm.value
    heads, kvh = arch.num_heads // tp, engine.kv_heads_per_gpu(arch)
    inter = arch.intermediate_size // tp
    L = _layers(arch, engine)
    out = _priced(db.gemm(tokens, (heads + 2 * kvh) * d, h, q), L)
    out = out + _priced(db.gemm(tokens, h, heads * d, q), L)
    out = out + _priced(db.gemm(tokens, 2 * inter, h, q), L)
    out = out + _priced(db.gemm(tokens, h, inter, q), L)
    if tp > 1:
        out = out + _priced(db.all_reduce(tokens * h, tp), 2 * L)
    # two add+norm, one SiLU-gate, rope/KV write: BF16 bytes in + out per token
    ew_bytes = tokens * 2.0 * (2 * (2 * h + 2 * h) + (2 * inter + inter) + 2 * (heads + 2 * kvh) * d)
    out = out + _analytic(db.memory_op(ew_bytes), L)
    logits = np.maximum(np.asarray(logits, dtype=np.int64), 1)
    out = out + _priced(db.gemm(logits, arch.vocab_size // tp, h, "bf16"), 1)
    if engine.pp > 1:
        cross = engine.gpus > db.system.gpus_per_node
        out = out + _analytic(db.p2p(tokens * h * 2.0, cross_node=cross), engine.pp - 1)
    return out


def context_attention(arch: ModelArch, engine: Engine, db: PerfDB, batch, new_tokens, prefix) -> Priced:
    """Prefill attention of `batch` requests of `new_tokens` each on top of `prefix` cached tokens."""
    lk = db.context_attention(np.asarray(batch), np.asarray(new_tokens), np.asarray(prefix),
                              arch.num_heads // engine.tp, engine.kv_heads_per_gpu(arch), arch.head_dim,
                              arch.sliding_window, engine.quant.kv.value)
    return _priced(lk, _layers(arch, engine))


def generation_attention(arch: ModelArch, engine: Engine, db: PerfDB, batch, kv_len) -> Priced:
    """One decode step of attention for `batch` requests holding `kv_len` cached tokens each."""
    batch = np.asarray(batch)
    lk = db.generation_attention(np.maximum(batch, 1), np.asarray(kv_len), arch.num_heads // engine.tp,
                                 engine.kv_heads_per_gpu(arch), arch.head_dim, arch.sliding_window,
                                 engine.quant.kv.value)
    p = _priced(lk, _layers(arch, engine))
    return Priced(np.where(batch > 0, p.latency_s, 0.0), np.where(batch > 0, p.tier, Tier.MEASURED).astype(np.int8))
