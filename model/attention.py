"""Attention: the attention component of a model, with the kind of every layer, read from config.json.

The estimators price each kind with its own tables (GQA attention, MLA modules, DSA sparse attention,
gated-DeltaNet) and the memory model stores each kind differently (per-head K/V, one compressed latent,
a window, or a fixed per-request state), so the kind is explicit per layer, not inferred from which
fields happen to be present.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from . import attention_sinks
from .hf_config import Fields, echo


class AttentionKind(str, Enum):
    """The attention design of the whole model."""

    GQA = "gqa"  # grouped-query (incl. MHA/MQA); layers full or sliding-window
    MLA = "mla"  # multi-head latent attention (DeepSeek-V3/R1, Kimi-K2)
    SPARSE_MLA = "sparse_mla"  # MLA whose keys a lightning indexer selects (DSA: DeepSeek-V3.2, GLM-5)
    HYBRID_LINEAR = "hybrid_linear"  # gated-DeltaNet linear layers between GQA layers (Qwen3.5)


class LayerAttention(str, Enum):
    """What one layer's attention keeps per request (this is what sizes its cache)."""

    FULL = "full"  # every past token (GQA K/V, or MLA's latent)
    SLIDING = "sliding"  # the last `window` tokens
    LINEAR = "linear"  # a fixed-size recurrent state, whatever the length


@dataclass(frozen=True)
class GqaGeometry:
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int = 0  # tokens a SLIDING layer keeps
    sinks: bool = False  # one learned sink logit per head (gpt-oss)
    bias: bool = False  # q/k/v/o biases (gpt-oss)
    output_gate: bool = False  # q_proj also emits a per-head gate (Qwen3.5: q_proj out = 2 * heads * head_dim)


@dataclass(frozen=True)
class MlaGeometry:
    num_heads: int
    q_lora_rank: int  # 0: queries projected straight from hidden (DeepSeek-V2-Lite)
    kv_lora_rank: int  # the compressed latent each token caches
    qk_nope_head_dim: int
    qk_rope_head_dim: int  # decoupled RoPE key, cached next to the latent, shared by all heads
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


@dataclass(frozen=True)
class IndexerGeometry:
    """DSA's lightning indexer: scores every past token with a few small FP8 heads, keeps the top k."""

    num_heads: int
    head_dim: int
    topk: int  # keys each query attends to


@dataclass(frozen=True)
class LinearGeometry:
    """Gated DeltaNet: a per-value-head dk x dv state updated per token, after a short causal conv."""

    num_k_heads: int
    num_v_heads: int
    head_k_dim: int
    head_v_dim: int
    conv_kernel: int
    state_bytes: int  # bytes per recurrent-state element (mamba_ssm_dtype: float32 -> 4)

    @property
    def key_dim(self) -> int:
        return self.num_k_heads * self.head_k_dim

    @property
    def value_dim(self) -> int:
        return self.num_v_heads * self.head_v_dim

    @property
    def conv_dim(self) -> int:
        return 2 * self.key_dim + self.value_dim


@dataclass(frozen=True)
class Attention:
    kind: AttentionKind
    layers: tuple[LayerAttention, ...]  # one per decoder layer
    gqa: GqaGeometry | None = None  # GQA and the full layers of HYBRID_LINEAR
    mla: MlaGeometry | None = None  # MLA and SPARSE_MLA
    indexer: IndexerGeometry | None = None  # SPARSE_MLA
    linear: LinearGeometry | None = None  # the linear layers of HYBRID_LINEAR

    def count(self, kind: LayerAttention) -> int:
        return sum(1 for k in self.layers if k is kind)

    @property
    def window(self) -> int:
        return self.gqa.window if self.gqa else 0

    @property
    def summary(self) -> str:
        if self.mla:
            s = f"MLA {self.mla.num_heads} heads, latent {self.mla.kv_lora_rank}+{self.mla.qk_rope_head_dim}"
            return s + (f", sparse top-{self.indexer.topk}" if self.indexer else "")
        g = self.gqa
        s = f"GQA {g.num_heads}/{g.num_kv_heads} heads of {g.head_dim}"
        if self.count(LayerAttention.SLIDING):
            s += f", {self.count(LayerAttention.SLIDING)} sliding-window ({g.window}) layers"
        if self.linear:
            s += f", {self.count(LayerAttention.LINEAR)} of {len(self.layers)} layers gated-DeltaNet"
        return s + (f", {attention_sinks.note(g.head_dim, g.window or 1)}" if g.sinks else "")

    @property
    def kernel_notes(self) -> tuple[str, ...]:
        """Costs held inside the attention kernel's measured time rather than priced as ops of their own,
        said with every estimate (model/attention_sinks.py)."""
        g = self.gqa
        return (attention_sinks.note(g.head_dim, g.window or 1),) if g is not None and g.sinks else ()


_LAYER_TYPES = {"full_attention": LayerAttention.FULL, "sliding_attention": LayerAttention.SLIDING,
                "linear_attention": LayerAttention.LINEAR}
_STATE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def gqa_geometry(f: Fields, sinks: bool = False, bias: bool = False) -> GqaGeometry:
    heads = f.int("num_attention_heads")
    kv = f.int("num_key_value_heads", default=heads, required=False)
    if kv > heads or heads % kv:
        raise f.fail("num_key_value_heads", f"must divide num_attention_heads (got {kv} and {heads}); "
                                            f"accepted: a divisor of {heads}")
    head_dim = f.int("head_dim", required=False)
    if head_dim is None:
        hidden = f.int("hidden_size")
        if hidden % heads:
            raise f.fail("hidden_size", f"must be a multiple of num_attention_heads when head_dim is absent "
                                        f"(got {hidden} and {heads}); accepted: a multiple of {heads}, or set head_dim")
        head_dim = hidden // heads
    window = f.int("sliding_window", required=False) or 0
    if not f.bool("use_sliding_window", default=True):
        window = 0
    return GqaGeometry(heads, kv, head_dim, window, sinks, bias or f.bool("attention_bias", default=False),
                       f.bool("attn_output_gate", default=False))


def mla_geometry(f: Fields) -> MlaGeometry:
    return MlaGeometry(f.int("num_attention_heads"), f.int("q_lora_rank", default=0, required=False),
                       f.int("kv_lora_rank"), f.int("qk_nope_head_dim"), f.int("qk_rope_head_dim"),
                       f.int("v_head_dim"))


def linear_geometry(f: Fields) -> LinearGeometry:
    dtype = f.obj.get("mamba_ssm_dtype", "bfloat16")
    if not isinstance(dtype, str) or dtype not in _STATE_BYTES:
        raise f.fail("mamba_ssm_dtype", f"got {echo(dtype)}; accepted: {', '.join(_STATE_BYTES)}")
    return LinearGeometry(f.int("linear_num_key_heads"), f.int("linear_num_value_heads"),
                          f.int("linear_key_head_dim"), f.int("linear_value_head_dim"),
                          f.int("linear_conv_kernel_dim"), _STATE_BYTES[dtype])


def layer_kinds(f: Fields, kind: AttentionKind, num_layers: int, window: int) -> tuple[LayerAttention, ...]:
    """Per layer: from `layer_types` where the config lists them, else the family's rule."""
    named = f.choices("layer_types", tuple(_LAYER_TYPES), num_layers)
    if named is not None:
        layers = tuple(_LAYER_TYPES[n] for n in named)
        if LayerAttention.LINEAR in layers and kind is not AttentionKind.HYBRID_LINEAR:
            raise f.fail("layer_types", "names linear_attention layers; accepted for this architecture: "
                                        "full_attention, sliding_attention")
        if LayerAttention.SLIDING in layers and not window:
            raise f.fail("sliding_window", "missing for the sliding_attention layers; accepted: an integer ≥ 1")
        return layers
    if kind is AttentionKind.HYBRID_LINEAR:
        every = f.int("full_attention_interval")
        return tuple(LayerAttention.FULL if (i + 1) % every == 0 else LayerAttention.LINEAR for i in range(num_layers))
    return tuple((LayerAttention.SLIDING if window else LayerAttention.FULL) for _ in range(num_layers))


def parse_attention(f: Fields, kind: AttentionKind, num_layers: int, sinks: bool = False) -> Attention:
    """The attention component of a config whose family says `kind`."""
    if kind in (AttentionKind.MLA, AttentionKind.SPARSE_MLA):
        mla = mla_geometry(f)
        indexer = None
        if kind is AttentionKind.SPARSE_MLA:
            indexer = IndexerGeometry(f.int("index_n_heads"), f.int("index_head_dim"), f.int("index_topk"))
        return Attention(kind, (LayerAttention.FULL,) * num_layers, mla=mla, indexer=indexer)
    gqa = gqa_geometry(f, sinks=sinks)
    max_pos = f.int("max_position_embeddings", default=1 << 27, required=False)
    if gqa.window >= max_pos:  # a window as long as the context is full attention (Qwen2.5 configs)
        gqa = GqaGeometry(gqa.num_heads, gqa.num_kv_heads, gqa.head_dim, 0, gqa.sinks, gqa.bias, gqa.output_gate)
    layers = layer_kinds(f, kind, num_layers, gqa.window)
    if LayerAttention.SLIDING not in layers and gqa.window:
        gqa = GqaGeometry(gqa.num_heads, gqa.num_kv_heads, gqa.head_dim, 0, gqa.sinks, gqa.bias, gqa.output_gate)
    linear = linear_geometry(f) if kind is AttentionKind.HYBRID_LINEAR else None
    return Attention(kind, layers, gqa=gqa, linear=linear)
