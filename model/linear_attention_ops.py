"""Op decomposition of hybrid linear attention (Qwen3.5): gated-DeltaNet layers between full GQA layers.

Same three entry points as model/ops.py; each layer kind is counted by how many of the pass's layers are
of that kind (model/attention_terms.layers).

* `linear_terms(arch, engine, tokens)`: for every layer the input add+norm and the output projection's
  all-reduce (tp > 1); for the gated-DeltaNet layers the input projections (q/k/v feeding the conv, the
  output gate z, the per-head beta and decay inputs b / a; N cut by tp), the gated RMSNorm and out_proj
  (K = value_dim / tp); for the full layers the fused q/k/v projection whose q half also emits the per-head
  output gate (N = (2 x heads/tp + 2 x kv_heads/tp) x head_dim), the q/k norms, RoPE, the sigmoid gate and
  o_proj.
* `context_attention(arch, engine, batch, new_tokens, prefix)`: gated-DeltaNet's causal conv + chunked
  delta rule over the new tokens (`PerfDB.gdn` context; a prefix is folded into the recurrent state, so
  it costs nothing here) plus GQA context attention for the full layers (the dense tables, window 0).
* `generation_attention(arch, engine, batch, kv_len)`: gated-DeltaNet's conv update + one recurrent state
  step per request (`PerfDB.gdn` generation, whatever kv_len) plus GQA generation attention.

Heads per GPU: k / v heads of the linear layers and attention / KV heads of the full ones, each / tp (KV heads
replicated past their count, model/engine.py). The state per request is model/kv_cache.py's.
"""
from __future__ import annotations

import numpy as np

from . import attention_terms as at
from .arch import ModelArch
from .attention import LayerAttention
from .engine import Engine
from sloplan.perfdb.queries import ContextAttention, Gdn, GenerationAttention
from .ops import Op, OpGroup, Term


def _check(arch: ModelArch) -> None:
    if arch.attention.linear is None or arch.attention.gqa is None:
        raise ValueError(f"{arch.name}: not a hybrid linear-attention model (attention {arch.attention.kind.value})")


def _linear_layer_terms(arch: ModelArch, engine: Engine, tokens, count: float) -> list[Term]:
    g, h, tp, q = arch.attention.linear, arch.hidden_size, engine.tp, engine.quant.gemm.value
    vd = g.value_dim // tp
    v_heads = at.heads_per_gpu(g.num_v_heads, engine)
    return [at.gemm(tokens, g.conv_dim // tp + vd, h, q, count, Op.GDN_IN_GEMM),  # in_proj_qkv + in_proj_z
            at.gemm(tokens, 2 * v_heads, h, "bf16", count, Op.GDN_IN_GEMM),  # in_proj_b + in_proj_a
            at.elementwise(tokens, 3 * vd, count),  # gated RMSNorm: o and z in, normed out
            at.gemm(tokens, h, vd, q, count, Op.GDN_OUT_GEMM)]


def _full_layer_terms(arch: ModelArch, engine: Engine, tokens, count: float) -> list[Term]:
    g, h, q = arch.attention.gqa, arch.hidden_size, engine.quant.gemm.value
    heads, kvh = at.heads_per_gpu(g.num_heads, engine), engine.kv_heads_per_gpu(arch)
    gate = 2 if g.output_gate else 1
    qkv_n = (gate * heads + 2 * kvh) * g.head_dim
    # q/k norms and RoPE in + out, the K/V write, the sigmoid output gate (o and gate in, gated out)
    ew = 2 * 2 * (heads + kvh) * g.head_dim + 2 * kvh * g.head_dim + (3 * heads * g.head_dim if g.output_gate else 0)
    return [at.gemm(tokens, qkv_n, h, q, count, Op.QKV_GEMM), at.elementwise(tokens, ew, count),
            at.gemm(tokens, h, heads * g.head_dim, q, count, Op.ATTN_OUT_GEMM)]


def linear_terms(arch: ModelArch, engine: Engine, tokens) -> tuple[Term, ...]:
    """The attention blocks' work for `tokens` tokens, whatever their phase (see the module docstring)."""
    _check(arch)
    tokens, L = at.tokens_of(tokens), at.layers(arch, engine)
    terms = [at.elementwise(tokens, at.add_norm_elems(arch.hidden_size), L)]
    terms += _linear_layer_terms(arch, engine, tokens, at.layers(arch, engine, LayerAttention.LINEAR))
    terms += _full_layer_terms(arch, engine, tokens, at.layers(arch, engine, LayerAttention.FULL))
    return tuple(terms + at.all_reduce(tokens, arch.hidden_size, engine, L))


def linear_ops(arch: ModelArch, engine: Engine, tokens) -> OpGroup:
    return OpGroup(linear_terms(arch, engine, tokens))


def _gdn_key(arch: ModelArch, engine: Engine, phase: str) -> tuple:
    g = arch.attention.linear
    return (phase, at.heads_per_gpu(g.num_k_heads, engine), at.heads_per_gpu(g.num_v_heads, engine),
            g.head_k_dim, g.head_v_dim)


def _gqa_key(arch: ModelArch, engine: Engine) -> tuple:
    g = arch.attention.gqa
    return at.heads_per_gpu(g.num_heads, engine), engine.kv_heads_per_gpu(arch), g.head_dim, 0, engine.quant.kv.value


def context_attention(arch: ModelArch, engine: Engine, batch, new_tokens, prefix) -> OpGroup:
    """Prefill of `batch` requests of `new_tokens` each over `prefix` cached tokens (module docstring)."""
    _check(arch)
    b, s, p = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(batch, new_tokens, prefix))
    lin, full = at.layers(arch, engine, LayerAttention.LINEAR), at.layers(arch, engine, LayerAttention.FULL)
    phase, k_heads, v_heads, k_dim, v_dim = _gdn_key(arch, engine, "context")
    return OpGroup((Term(Gdn(phase, b, s, k_heads, v_heads, k_dim, v_dim), lin, Op.GDN_CONTEXT),
                    Term(ContextAttention(b, s, p, *_gqa_key(arch, engine)), full, Op.CONTEXT_ATTENTION)))


def generation_attention(arch: ModelArch, engine: Engine, batch, kv_len) -> OpGroup:
    """One decode step for `batch` requests holding `kv_len` cached tokens each (module docstring)."""
    _check(arch)
    batch = np.asarray(batch)
    b = np.maximum(batch, 1)
    lin, full = at.layers(arch, engine, LayerAttention.LINEAR), at.layers(arch, engine, LayerAttention.FULL)
    phase, k_heads, v_heads, k_dim, v_dim = _gdn_key(arch, engine, "generation")
    return OpGroup((Term(Gdn(phase, b, 1.0, k_heads, v_heads, k_dim, v_dim), lin, Op.GDN_GENERATION),
                    Term(GenerationAttention(b, kv_len, *_gqa_key(arch, engine)), full, Op.GENERATION_ATTENTION)),
                   active=batch > 0)
