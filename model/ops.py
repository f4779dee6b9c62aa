"""Op decomposition of a GQA transformer step (dense, or MoE through model/moe_ops.py), from perfdb primitives.

A forward step is the sum of its ops, but for one overlap the frameworks' sources fix: where a framework
runs a MoE layer's shared expert on a second CUDA stream beside the routed path (capabilities
.shared_expert_stream, model/frameworks/*.yaml), its terms carry Stream.SHARED / Stream.ROUTED and the
group's `overlap` mask marks the step shapes it applies to (decode under CUDA graphs); there the pair
costs max(routed, shared), written as the sum less an overlap credit min(routed, shared) so the per-op
breakdown stays the kernels' own (OpGroup.overlap_credit). Every
function takes whole arrays of step shapes at once and returns latency for *all* layers, so an
estimator prices a full batch grid with a handful of vectorized table lookups.

Each op group is data first (OpGroup: the lookups it needs, model/lookups.py) and priced second
(`price`), so the option table prices the groups of every engine and mode together, one table
lookup per distinct shape.

Pipeline parallelism: a token still crosses every layer in sequence, so one full pass costs
`pp * layers_per_stage` layers plus `pp - 1` activation hand-offs; the micro-batching that lets
`pp` batches overlap is the estimators' business (model/aggregated.py).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from sloplan.perfdb import Lookup, PerfDB, SystemSpec, Tier
from sloplan.perfdb.queries import AllReduce, ContextAttention, Gemm, GenerationAttention, MemoryOp, P2p, Query

from .arch import ModelArch
from .attention import AttentionKind, LayerAttention
from .engine import Engine
from .framework import Backend
from .layers import WeightRole
from .lookups import chunks, lookup_all
from .mlp import LayerMlp


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
    ROUTER_GEMM = 10
    SHARED_EXPERT_GEMM = 11
    MOE_EXPERTS = 12
    MOE_ALL_REDUCE = 13
    MOE_DISPATCH = 14
    MOE_COMBINE = 15
    # MLA / DSA / gated-DeltaNet attention (model/mla_ops.py, sparse_attention_ops.py, linear_attention_ops.py);
    # numbered from 40 so other blocks can be appended before them without renumbering
    MLA_DOWN_GEMM = 40
    MLA_Q_UP_GEMM = 41
    MLA_KV_UP_GEMM = 42
    CONTEXT_MLA = 43
    GENERATION_MLA = 44
    MLA_BMM_PRE = 45
    MLA_BMM_POST = 46
    MLA_CONTEXT_MODULE = 47
    MLA_GENERATION_MODULE = 48
    DSA_CONTEXT_MODULE = 49
    DSA_GENERATION_MODULE = 50
    DSA_INDEXER_GEMM = 51
    DSA_INDEXER_LOGITS = 52
    DSA_TOPK = 53
    DSA_SPARSE_ATTENTION = 54
    GDN_IN_GEMM = 55
    GDN_OUT_GEMM = 56
    GDN_CONTEXT = 57
    GDN_GENERATION = 58

    @property
    def label(self) -> str:
        return _OP_LABELS[self]


_OP_LABELS = {Op.QKV_GEMM: "QKV projection GEMM", Op.ATTN_OUT_GEMM: "attention output GEMM",
              Op.GATE_UP_GEMM: "MLP gate/up GEMM", Op.DOWN_GEMM: "MLP down GEMM",
              Op.ALL_REDUCE: "tensor-parallel all-reduce", Op.ELEMENTWISE: "element-wise ops",
              Op.LM_HEAD_GEMM: "LM-head GEMM", Op.PP_HANDOFF: "pipeline hand-off",
              Op.CONTEXT_ATTENTION: "context attention", Op.GENERATION_ATTENTION: "generation attention",
              Op.ROUTER_GEMM: "MoE router GEMM", Op.SHARED_EXPERT_GEMM: "MoE shared-expert GEMM",
              Op.MOE_EXPERTS: "MoE experts", Op.MOE_ALL_REDUCE: "MoE all-reduce",
              Op.MOE_DISPATCH: "MoE dispatch", Op.MOE_COMBINE: "MoE combine",
              Op.MLA_DOWN_GEMM: "MLA q_a/kv_a down-projection GEMM", Op.MLA_Q_UP_GEMM: "MLA q_b up-projection GEMM",
              Op.MLA_KV_UP_GEMM: "MLA kv_b up-projection GEMM", Op.CONTEXT_MLA: "context MLA kernel",
              Op.GENERATION_MLA: "generation MLA kernel", Op.MLA_BMM_PRE: "MLA absorbed BMM (pre)",
              Op.MLA_BMM_POST: "MLA absorbed BMM (post)", Op.MLA_CONTEXT_MODULE: "MLA context module",
              Op.MLA_GENERATION_MODULE: "MLA generation module", Op.DSA_CONTEXT_MODULE: "DSA context module",
              Op.DSA_GENERATION_MODULE: "DSA generation module", Op.DSA_INDEXER_GEMM: "DSA indexer projection GEMM",
              Op.DSA_INDEXER_LOGITS: "DSA indexer logits", Op.DSA_TOPK: "DSA top-k selection",
              Op.DSA_SPARSE_ATTENTION: "DSA sparse attention kernel",
              Op.GDN_IN_GEMM: "gated-DeltaNet input projection GEMM", Op.GDN_OUT_GEMM: "gated-DeltaNet output GEMM",
              Op.GDN_CONTEXT: "gated-DeltaNet context (conv + delta rule)",
              Op.GDN_GENERATION: "gated-DeltaNet generation (conv + state update)"}


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


def _priced(lk: Lookup, count: float, op: Op, floor: int = 0) -> Priced:
    tier = np.asarray(lk.tier, dtype=np.int8)
    if floor:
        tier = np.maximum(tier, np.int8(floor))
    return Priced(np.asarray(lk.latency_s, dtype=float) * count, tier, np.full(tier.shape, op, dtype=np.int8))


def _analytic(lk: Lookup, count: float, op: Op, floor: int = 0) -> Priced:
    """Analytic ops (element-wise, p2p) are modelled, not measured; they do not lower a plan's tier."""
    p = _priced(lk, count, op)
    return Priced(p.latency_s, np.zeros_like(p.tier), p.source)


class Stream(IntEnum):
    """Which stream a term runs on where the framework overlaps a MoE layer's shared expert with its routed
    path (model/moe_ops.py tags them; elsewhere the tag is inert and the terms are summed as any)."""

    MAIN = 0
    ROUTED = 1
    SHARED = 2


@dataclass(frozen=True)
class Term:
    """One op of a step: the lookup that prices it (a perfdb typed query), how often a full pass runs it,
    whether it is modelled (analytic: does not lower the tier) rather than measured, and `floor`, the least
    trusted tier its answer may claim (EXTRAPOLATED where the model's geometry is not the one the table was
    collected for; below ROOFLINE, so model/lookups.py's borrowing sees the table's own tier)."""

    query: Query
    count: float
    op: Op
    analytic: bool = False
    floor: int = 0
    stream: Stream = Stream.MAIN


@dataclass(frozen=True)
class OpGroup:
    """Ops priced over one grid of step shapes and summed in order; where `active` is False the group is
    absent (a step without decode requests runs no generation attention); where `overlap` is True the
    SHARED-stream terms run beside the ROUTED ones (the module docstring)."""

    terms: tuple[Term, ...]
    active: np.ndarray | None = None
    overlap: np.ndarray | None = None

    def overlap_credit(self, lookups: list[Lookup]) -> np.ndarray:
        """Seconds per step shape the shared/routed overlap saves: min(routed, shared) where `overlap`, else 0.
        A pair that both run under one latency is max(a, b) = a + b - min(a, b)."""
        if self.overlap is None:
            return np.zeros(np.shape(lookups[0].latency_s) if lookups else ())
        sums = {s: sum(np.asarray(lk.latency_s, dtype=float) * t.count
                       for t, lk in zip(self.terms, lookups) if t.stream is s) for s in (Stream.ROUTED, Stream.SHARED)}
        return np.where(self.overlap, np.minimum(sums[Stream.ROUTED], sums[Stream.SHARED]), 0.0)

    @property
    def queries(self) -> list[Query]:
        return [t.query for t in self.terms]

    def priced(self, lookups: list[Lookup]) -> Priced:
        """The group's latency from its terms' lookups (same order as `queries`)."""
        parts = [(_analytic if t.analytic else _priced)(lk, t.count, t.op, t.floor)
                 for t, lk in zip(self.terms, lookups)]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        if self.overlap is not None:
            out = Priced(out.latency_s - self.overlap_credit(lookups), out.tier, out.source)
        if self.active is None:
            return out
        return Priced(np.where(self.active, out.latency_s, 0.0),
                      np.where(self.active, out.tier, Tier.MEASURED).astype(np.int8), out.source)


def price(db: PerfDB, groups: list[OpGroup]) -> list[Priced]:
    """Each group priced, with one table lookup per distinct query shape among all of them."""
    lookups = lookup_all(db, [q for g in groups for q in g.queries])
    return [g.priced(part) for g, part in zip(groups, chunks(lookups, [len(g.terms) for g in groups]))]


def _layers(arch: ModelArch, engine: Engine) -> int:
    return engine.layers_per_stage(arch) * engine.pp


def linear_ops(arch: ModelArch, engine: Engine, system: SystemSpec, tokens: np.ndarray, logits: np.ndarray,
               backend: Backend | None = None, group_tokens: np.ndarray | None = None,
               gemm_swaps: tuple[tuple[str, str], ...] | None = None, decode: np.ndarray | None = None) -> OpGroup:
    """GEMMs, all-reduces, norms and activations for `tokens` tokens, plus the LM head for `logits` rows.

    A MoE model's step is composed by its layers' MLP kinds (`_component_linear_terms`); `tokens` are then one
    attention-DP rank's, `group_tokens` those of every rank the experts serve (None: dp times `tokens`,
    every rank as loaded as this one) and `backend` picks the framework's expert communication
    (model/moe_ops.py); `gemm_swaps` the host-bound GEMM tables the served version does not pay
    (FrameworkProfile.gemm_swaps; None: the framework's newest behaviour); `decode` 1 where a shape is a
    decode-only step (model/moe_ops.py moe_layer_terms)."""
    tokens = np.maximum(np.asarray(tokens, dtype=np.int64), 1)
    logits = np.maximum(np.asarray(logits, dtype=np.int64), 1)
    if arch.mlp.moe is not None or _design_ops(arch) is not None:
        from .moe_ops import kernel_gemms, shared_overlap

        return OpGroup(tuple(kernel_gemms(_component_linear_terms(arch, engine, system, tokens, backend, group_tokens,
                                                                  decode), backend, gemm_swaps)
                             + _tail(arch, engine, system, tokens, logits)),
                       overlap=shared_overlap(arch, backend, tokens, decode))
    h, d, tp, q = arch.hidden_size, arch.head_dim, engine.tp, engine.quant.gemm.value
    heads, kvh = arch.num_heads // tp, engine.kv_heads_per_gpu(arch)
    inter = arch.intermediate_size // tp
    L = _layers(arch, engine)
    terms = [Term(_gemm(tokens, (heads + 2 * kvh) * d, h, q), L, Op.QKV_GEMM),
             Term(_gemm(tokens, h, heads * d, q), L, Op.ATTN_OUT_GEMM),
             Term(_gemm(tokens, 2 * inter, h, q), L, Op.GATE_UP_GEMM),
             Term(_gemm(tokens, h, inter, q), L, Op.DOWN_GEMM)]
    if tp > 1:
        terms.append(Term(AllReduce(tokens * h, tp), 2 * L, Op.ALL_REDUCE))
    # two add+norm, one SiLU-gate, rope/KV write: BF16 bytes in + out per token
    ew_bytes = tokens * 2.0 * (2 * (2 * h + 2 * h) + (2 * inter + inter) + 2 * (heads + 2 * kvh) * d)
    terms.append(Term(MemoryOp(ew_bytes), L, Op.ELEMENTWISE, analytic=True))
    return OpGroup(tuple(terms + _tail(arch, engine, system, tokens, logits)))


def _gemm(m, n: int, k: int, dtype: str) -> Query:
    return Gemm(m, n, k, dtype)


def _tail(arch: ModelArch, engine: Engine, system: SystemSpec, tokens: np.ndarray, logits: np.ndarray) -> list[Term]:
    """The LM head (BF16, vocabulary cut by TP) and the pipeline hand-offs."""
    h, tp = arch.hidden_size, engine.tp
    terms = [Term(_gemm(logits, arch.vocab_size // tp, h, "bf16"), 1, Op.LM_HEAD_GEMM)]
    if engine.pp > 1:
        cross = engine.gpus > system.gpus_per_node
        terms.append(Term(P2p(tokens * h * 2.0, cross), engine.pp - 1, Op.PP_HANDOFF, analytic=True))
    return terms


def _component_linear_terms(arch: ModelArch, engine: Engine, system: SystemSpec, tokens: np.ndarray,
                      backend: Backend | None, group_tokens: np.ndarray | None = None,
                      decode: np.ndarray | None = None) -> list[Term]:
    """Attention projections on every layer; the dense MLP on the dense layers; router, experts and their
    communication (model/moe_ops.py) on the MoE layers. Layer counts follow the busiest pipeline stage."""
    from .moe_ops import all_reduce_terms, gemm_dtype, moe_layer_terms

    h, d, tp = arch.hidden_size, arch.head_dim, engine.tp
    heads, kvh = arch.num_heads // tp, engine.kv_heads_per_gpu(arch)
    L = _layers(arch, engine)
    scale = L / arch.num_layers
    n_dense, n_moe = arch.mlp.count(LayerMlp.DENSE) * scale, arch.mlp.count(LayerMlp.MOE) * scale
    design = _design_ops(arch)
    if design is not None:  # MLA / DSA / gated-DeltaNet: the attention block of its own module (its all-reduce
        # included); here the post-attention add+norm and the dense layers' MLP all-reduce
        terms = list(design.linear_terms(arch, engine, tokens, **_design_options(design, backend)))
        if tp > 1 and n_dense:
            terms += all_reduce_terms(tokens * h, tp, system, n_dense, Op.ALL_REDUCE)
        terms.append(Term(MemoryOp(tokens * 2.0 * 4 * h), L, Op.ELEMENTWISE, analytic=True))
    else:
        qa = gemm_dtype(arch, engine, WeightRole.ATTENTION)
        terms = [Term(_gemm(tokens, (heads + 2 * kvh) * d, h, qa), L, Op.QKV_GEMM),
                 Term(_gemm(tokens, h, heads * d, qa), L, Op.ATTN_OUT_GEMM)]
        if tp > 1:
            terms += all_reduce_terms(tokens * h, tp, system, L + n_dense, Op.ALL_REDUCE)
        # two add+norm and rope/KV write on every layer, the SiLU-gate of the dense layers (BF16 in + out)
        ew_bytes = tokens * 2.0 * (2 * (2 * h + 2 * h) + 2 * (heads + 2 * kvh) * d)
        terms.append(Term(MemoryOp(ew_bytes), L, Op.ELEMENTWISE, analytic=True))
    if n_dense:
        inter, qd = arch.intermediate_size // tp, gemm_dtype(arch, engine, WeightRole.DENSE_MLP)
        terms += [Term(_gemm(tokens, 2 * inter, h, qd), n_dense, Op.GATE_UP_GEMM),
                  Term(_gemm(tokens, h, inter, qd), n_dense, Op.DOWN_GEMM),
                  Term(MemoryOp(tokens * 2.0 * 3 * inter), n_dense, Op.ELEMENTWISE, analytic=True)]
    return terms + (moe_layer_terms(arch, engine, system, tokens, n_moe, backend, group_tokens, decode)
                    if n_moe else [])


# The attention designs with an op module of their own (the GQA decomposition is this module's)
_DESIGN_MODULES = {AttentionKind.MLA: "mla_ops", AttentionKind.SPARSE_MLA: "sparse_attention_ops",
                   AttentionKind.HYBRID_LINEAR: "linear_attention_ops"}


def _design_ops(arch: ModelArch):
    """The op module of a non-GQA attention design (model/mla_ops.py, ...), None for GQA. Imported on use:
    a dense solve never loads them."""
    name = _DESIGN_MODULES.get(arch.attention.kind)
    return None if name is None else importlib.import_module(f"{__package__}.{name}")


def _design_options(design, backend: Backend | None) -> dict:
    """Whether the design is priced from whole-module tables on this framework (the module's own rule)."""
    return {"module": design.prefers_module(backend)} if hasattr(design, "prefers_module") else {}


def _attention_key(arch: ModelArch, engine: Engine, window: int | None = None) -> tuple:
    return (arch.num_heads // engine.tp, engine.kv_heads_per_gpu(arch), arch.head_dim,
            arch.sliding_window if window is None else window, engine.quant.kv.value)


def _attention_parts(arch: ModelArch, engine: Engine) -> list[tuple[tuple, float]]:
    """(lookup key, layer count) per kind of attention layer: one part when every layer is alike (dense
    models, Qwen3-MoE); gpt-oss's sliding layers priced with the window, its full layers at full length."""
    kinds = arch.attention.layers
    L = _layers(arch, engine)
    if len(set(kinds)) <= 1:
        return [(_attention_key(arch, engine), L)]
    scale = L / arch.num_layers
    return [(_attention_key(arch, engine, arch.attention.window if kind is LayerAttention.SLIDING else 0),
             arch.attention.count(kind) * scale) for kind in (LayerAttention.FULL, LayerAttention.SLIDING)
            if arch.attention.count(kind)]


def context_attention(arch: ModelArch, engine: Engine, batch, new_tokens, prefix,
                      backend: Backend | None = None) -> OpGroup:
    """Prefill attention of `batch` requests of `new_tokens` each on top of `prefix` cached tokens."""
    design = _design_ops(arch)
    if design is not None:
        return design.context_attention(arch, engine, batch, new_tokens, prefix, **_design_options(design, backend))
    return OpGroup(tuple(Term(ContextAttention(batch, new_tokens, prefix, *key), n, Op.CONTEXT_ATTENTION)
                         for key, n in _attention_parts(arch, engine)))


def generation_attention(arch: ModelArch, engine: Engine, batch, kv_len, backend: Backend | None = None) -> OpGroup:
    """One decode step of attention for `batch` requests holding `kv_len` cached tokens each."""
    design = _design_ops(arch)
    if design is not None:
        return design.generation_attention(arch, engine, batch, kv_len, **_design_options(design, backend))
    batch = np.asarray(batch)
    return OpGroup(tuple(Term(GenerationAttention(np.maximum(batch, 1), kv_len, *key), n,
                              Op.GENERATION_ATTENTION) for key, n in _attention_parts(arch, engine)),
                   active=batch > 0)
