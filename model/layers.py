"""Layer weights: every weight tensor of each kind of decoder layer, with its role, shape, split and format.

One table serves three users: parameter counts (total, active per token), memory per GPU under any
parallel layout (model/weights.py), and, next, the op decomposition (each GEMM weight is one GEMM's
N x K). Names follow the Hugging Face module names, so a checkpoint's exclusion list (modules left in
BF16) is matched against them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from .attention import Attention, LayerAttention
from .mlp import LayerMlp, Mlp
from .weight_format import WeightFormat, excluded


class WeightRole(str, Enum):
    """Which part of the model a weight belongs to; each part is split by its own parallel degree."""

    ATTENTION = "attention"  # attention TP (replicated across attention-DP ranks)
    DENSE_MLP = "dense_mlp"
    ROUTER = "router"  # replicated, BF16
    SHARED_EXPERT = "shared_expert"
    EXPERT = "expert"  # routed experts: spread over moe_ep, each split over moe_tp


class Split(str, Enum):
    """How a weight divides over its role's tensor-parallel degree."""

    COLUMN = "column"  # output features cut over TP (q/k/v, gate/up): the GEMM's N / tp
    ROW = "row"  # input features cut over TP (o_proj, down_proj): the GEMM's K / tp, then an all-reduce
    KV_HEADS = "kv_heads"  # K/V projections: ceil(heads/tp) heads per GPU (replicated when tp > heads)
    REPLICATED = "replicated"  # every GPU holds it (MLA's down-projections, the DSA indexer, routers)


@dataclass(frozen=True)
class Weight:
    name: str  # module name inside a layer, e.g. "self_attn.q_b_proj"
    role: WeightRole
    out_features: int
    in_features: int
    split: Split = Split.COLUMN
    count: int = 1  # copies per layer (routed experts)
    bias: bool = False
    gemm: bool = True  # False: a small non-GEMM tensor (sinks, conv1d, A_log), always BF16
    heads: int = 0  # KV_HEADS split: heads the out_features hold
    fmt: WeightFormat = WeightFormat.BF16  # as stored in the checkpoint

    @property
    def params(self) -> int:
        return self.count * (self.out_features * self.in_features + (self.out_features if self.bias else 0))


@dataclass(frozen=True)
class LayerKind:
    attention: LayerAttention
    mlp: LayerMlp


@dataclass(frozen=True)
class LayerGroup:
    """All layers of one kind: how many, which, and the weights each of them holds."""

    kind: LayerKind
    indices: tuple[int, ...]
    weights: tuple[Weight, ...]

    @property
    def params_per_layer(self) -> int:
        return sum(w.params for w in self.weights)


def attention_weights(att: Attention, kind: LayerAttention, h: int) -> list[Weight]:
    a = WeightRole.ATTENTION
    if kind is LayerAttention.LINEAR:
        g = att.linear
        return [Weight("linear_attn.in_proj_qkv", a, g.conv_dim, h),
                Weight("linear_attn.in_proj_z", a, g.value_dim, h),
                Weight("linear_attn.in_proj_b", a, g.num_v_heads, h),
                Weight("linear_attn.in_proj_a", a, g.num_v_heads, h),
                Weight("linear_attn.conv1d", a, g.conv_dim, g.conv_kernel, gemm=False),
                Weight("linear_attn.A_log", a, g.num_v_heads, 1, gemm=False),
                Weight("linear_attn.dt_bias", a, g.num_v_heads, 1, gemm=False),
                Weight("linear_attn.out_proj", a, h, g.value_dim, Split.ROW)]
    if att.mla:
        m, rep = att.mla, Split.REPLICATED
        q = ([Weight("self_attn.q_a_proj", a, m.q_lora_rank, h, rep),
              Weight("self_attn.q_b_proj", a, m.num_heads * m.qk_head_dim, m.q_lora_rank)] if m.q_lora_rank
             else [Weight("self_attn.q_proj", a, m.num_heads * m.qk_head_dim, h)])
        out = q + [Weight("self_attn.kv_a_proj_with_mqa", a, m.kv_lora_rank + m.qk_rope_head_dim, h, rep),
                   Weight("self_attn.kv_b_proj", a, m.num_heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank),
                   Weight("self_attn.o_proj", a, h, m.num_heads * m.v_head_dim, Split.ROW)]
        if att.indexer:
            i = att.indexer
            out += [Weight("self_attn.indexer.wq_b", a, i.num_heads * i.head_dim, m.q_lora_rank or h, rep),
                    Weight("self_attn.indexer.wk", a, i.head_dim, h, rep),
                    Weight("self_attn.indexer.weights_proj", a, i.num_heads, h, rep)]
        return out
    g = att.gqa
    q_out = g.num_heads * g.head_dim * (2 if g.output_gate else 1)
    kv = dict(split=Split.KV_HEADS, heads=g.num_kv_heads, bias=g.bias)
    out = [Weight("self_attn.q_proj", a, q_out, h, bias=g.bias),
           Weight("self_attn.k_proj", a, g.num_kv_heads * g.head_dim, h, **kv),
           Weight("self_attn.v_proj", a, g.num_kv_heads * g.head_dim, h, **kv),
           Weight("self_attn.o_proj", a, h, g.num_heads * g.head_dim, Split.ROW, bias=g.bias)]
    return out + ([Weight("self_attn.sinks", a, g.num_heads, 1, gemm=False)] if g.sinks else [])


def _swiglu(prefix: str, role: WeightRole, h: int, inter: int, count: int = 1, bias: bool = False) -> list[Weight]:
    return [Weight(f"{prefix}.gate_proj", role, inter, h, count=count, bias=bias),
            Weight(f"{prefix}.up_proj", role, inter, h, count=count, bias=bias),
            Weight(f"{prefix}.down_proj", role, h, inter, Split.ROW, count=count, bias=bias)]


def mlp_weights(mlp: Mlp, kind: LayerMlp, h: int) -> list[Weight]:
    if kind is LayerMlp.DENSE:
        return _swiglu("mlp", WeightRole.DENSE_MLP, h, mlp.dense_intermediate)
    m = mlp.moe
    out = [Weight("mlp.gate", WeightRole.ROUTER, m.num_experts, h, Split.REPLICATED, bias=m.router_bias)]
    out += _swiglu("mlp.experts.0", WeightRole.EXPERT, h, m.expert_intermediate, m.num_experts, m.expert_bias)
    if m.shared_intermediate:
        name = "mlp.shared_expert" if m.shared_gate else "mlp.shared_experts"
        out += _swiglu(name, WeightRole.SHARED_EXPERT, h, m.shared_intermediate)
        if m.shared_gate:
            out.append(Weight("mlp.shared_expert_gate", WeightRole.SHARED_EXPERT, 1, h, Split.REPLICATED))
    return out


def layer_groups(att: Attention, mlp: Mlp, hidden: int, fmt: WeightFormat = WeightFormat.BF16,
                 keep_bf16: tuple[str, ...] = ()) -> tuple[LayerGroup, ...]:
    """The model's layers grouped by kind, in order of first appearance. GEMM weights are in the
    checkpoint's format `fmt` unless `keep_bf16` (its exclusion list) names them for the group's first
    layer; routers and non-GEMM tensors stay BF16."""
    order: dict[LayerKind, list[int]] = {}
    for i, (a, m) in enumerate(zip(att.layers, mlp.layers, strict=True)):
        order.setdefault(LayerKind(a, m), []).append(i)
    groups = []
    for kind, idx in order.items():
        weights = attention_weights(att, kind.attention, hidden) + mlp_weights(mlp, kind.mlp, hidden)
        groups.append(LayerGroup(kind, tuple(idx), tuple(_stored(w, fmt, keep_bf16, idx[0]) for w in weights)))
    return tuple(groups)


def _stored(w: Weight, fmt: WeightFormat, keep_bf16: tuple[str, ...], layer: int) -> Weight:
    if not w.gemm or w.role is WeightRole.ROUTER or fmt is WeightFormat.BF16:
        return w
    if keep_bf16 and excluded(f"model.layers.{layer}.{w.name}", keep_bf16):
        return w
    return replace(w, fmt=fmt)
