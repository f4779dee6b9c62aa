"""Weight bytes per GPU of any model under a parallel layout (tp, pp, attention dp, moe_tp, moe_ep).

Each part of a MoE model is split its own way: attention over attention TP (and copied on every
attention-DP rank), routed experts spread over expert parallelism with each expert cut by MoE TP, the
router replicated, MLA's down-projections and the DSA indexer replicated on every attention-TP rank.
Frameworks choose the dense-MLP and shared-expert TP differently (SGLang's moe_dense_tp_size, TRT-LLM's
shared-expert TP), so those two are explicit here and default to the attention TP, as the peer's model
does (peer §1.3). What the framework rules allow is the engines' business, not this file's.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .arch import ModelArch
from .layers import WeightRole, Split, Weight
from .weight_format import WeightFormat


@dataclass(frozen=True)
class Sharding:
    """One engine's parallel degrees, as the weight and KV-cache arithmetic needs them."""

    tp: int = 1  # attention tensor parallel
    pp: int = 1
    dp: int = 1  # attention data parallel (each rank its own requests, its own copy of attention)
    moe_tp: int = 1
    moe_ep: int = 1
    dense_tp: int | None = None  # the dense MLP layers' TP (None: tp)
    shared_tp: int | None = None  # the shared experts' TP (None: tp)

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (v is None and f.name in ("dense_tp", "shared_tp")) and (type(v) is not int or v < 1):
                raise ValueError(f"{f.name}: must be a positive integer (got {v!r})")

    def degree(self, role: WeightRole) -> int:
        """The tensor-parallel degree a weight of `role` is cut by."""
        return {WeightRole.ATTENTION: self.tp, WeightRole.DENSE_MLP: self.dense_tp or self.tp, WeightRole.ROUTER: 1,
                WeightRole.SHARED_EXPERT: self.shared_tp or self.tp, WeightRole.EXPERT: self.moe_tp}[role]


@dataclass(frozen=True)
class WeightBytes:
    """Per GPU, bytes, of the heaviest pipeline stage."""

    attention: float
    dense_mlp: float
    router: float
    shared_experts: float
    experts: float
    embeddings: float  # input embedding (first stage) and LM head (last stage), BF16

    @property
    def total(self) -> float:
        return self.attention + self.dense_mlp + self.router + self.shared_experts + self.experts + self.embeddings


_FIELD = {WeightRole.ATTENTION: "attention", WeightRole.DENSE_MLP: "dense_mlp", WeightRole.ROUTER: "router",
          WeightRole.SHARED_EXPERT: "shared_experts", WeightRole.EXPERT: "experts"}


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """Contiguous layers per pipeline stage; the first `num_layers % pp` stages hold one more."""
    base, extra = divmod(num_layers, pp)
    out, start = [], 0
    for s in range(pp):
        n = base + (1 if s < extra else 0)
        out.append(range(start, start + n))
        start += n
    return out


def weight_bytes_on_gpu(w: Weight, sharding: Sharding, fmt: WeightFormat | None = None) -> float:
    """One layer's copy of `w` on one GPU, in `fmt` (None: as the checkpoint stores it)."""
    t = sharding.degree(w.role)
    share = {Split.COLUMN: 1.0 / t, Split.ROW: 1.0 / t, Split.REPLICATED: 1.0,
             Split.KV_HEADS: -(-w.heads // t) / w.heads if w.heads else 1.0 / t}[w.split]
    count = experts_on_gpu(w, sharding)
    elem = (fmt or w.fmt).weight_bytes if w.gemm and w.role is not WeightRole.ROUTER else 2.0
    per_copy = w.out_features * w.in_features * elem + (w.out_features * 2.0 if w.bias else 0.0)
    return count * per_copy * share


def experts_on_gpu(w: Weight, sharding: Sharding) -> int:
    """Copies of `w` one GPU holds: routed experts spread over EP (rounded up), anything else as is."""
    return -(-w.count // sharding.moe_ep) if w.role is WeightRole.EXPERT else w.count


def gemm_shape_on_gpu(w: Weight, sharding: Sharding) -> tuple[int, int, int]:
    """(copies, N, K) of the GEMM `w` runs on one GPU: what the op decomposition looks up in the
    GEMM / MoE tables (N = out_features, K = in_features, each cut the way the weight is split)."""
    t = sharding.degree(w.role)
    n, k = w.out_features, w.in_features
    if w.split is Split.COLUMN:
        n = -(-n // t)
    elif w.split is Split.ROW:
        k = -(-k // t)
    elif w.split is Split.KV_HEADS:
        n = -(-w.heads // t) * (n // w.heads)
    return experts_on_gpu(w, sharding), n, k


def stage_weight_bytes(arch: ModelArch, sharding: Sharding,
                       formats: dict[WeightRole, WeightFormat] | None = None) -> list[WeightBytes]:
    """Per pipeline stage. `formats` serves a role in another format than the checkpoint's (e.g. the
    sample's gemm_quant_mode for attention and moe_quant_mode for experts); absent roles as stored."""
    formats = formats or {}
    per_layer: dict[int, dict[str, float]] = {}
    for g in arch.groups:
        parts = dict.fromkeys(_FIELD.values(), 0.0)
        for w in g.weights:
            parts[_FIELD[w.role]] += weight_bytes_on_gpu(w, sharding, formats.get(w.role))
        per_layer.update({i: parts for i in g.indices})
    table = 2.0 * arch.vocab_size * arch.hidden_size / sharding.tp
    out = []
    stages = stage_layers(arch.num_layers, sharding.pp)
    for s, layers in enumerate(stages):
        parts = dict.fromkeys(_FIELD.values(), 0.0)
        for i in layers:
            for k, v in per_layer[i].items():
                parts[k] += v
        first, last = s == 0, s == len(stages) - 1
        copies = (1 if arch.tie_word_embeddings else 2) if first and last else int(first) + int(last)
        out.append(WeightBytes(embeddings=copies * table, **parts))
    return out


def weight_bytes_per_gpu(arch: ModelArch, sharding: Sharding,
                         formats: dict[WeightRole, WeightFormat] | None = None) -> WeightBytes:
    """The heaviest stage's weights per GPU (the one that decides whether the engine fits)."""
    return max(stage_weight_bytes(arch, sharding, formats), key=lambda b: b.total)
