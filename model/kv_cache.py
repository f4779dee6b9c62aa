"""KV cache per GPU of any model: bytes per token of context, and per request for recurrent state.

What a layer keeps depends on its kind: GQA layers K and V per KV head (heads replicated when TP exceeds
them); MLA one compressed latent plus the shared RoPE key per token, on every attention-TP rank (not
split by TP: each rank attends with all of it, peer §1.4); DSA layers also the indexer's FP8 key (with
one FP32 scale per 128); sliding-window layers at most `window` tokens; gated-DeltaNet layers no
per-token cache but a fixed state per request (dk x dv per value head, plus the causal conv's last
kernel-1 inputs). Attention DP does not change bytes per token per GPU: each rank caches its own requests.
"""
from __future__ import annotations

from dataclasses import dataclass

from .arch import ModelArch
from .attention import LayerAttention
from .quant import KvDtype
from .weights import Sharding, stage_layers

_CONV_STATE_BYTES = 2  # the conv window is kept in the activation dtype (BF16)


@dataclass(frozen=True)
class KvFootprint:
    """Cache bytes per GPU for the heaviest pipeline stage."""

    full_bytes_per_token: float  # layers that keep every token
    window_bytes_per_token: float  # sliding-window layers, for each of at most `window_tokens` tokens
    window_tokens: int
    state_bytes_per_request: float  # linear-attention layers, whatever the length

    def bytes_for(self, tokens: float) -> float:
        """One request holding `tokens` tokens of context."""
        return (self.full_bytes_per_token * tokens + self.state_bytes_per_request
                + self.window_bytes_per_token * min(tokens, self.window_tokens))

    @property
    def bytes_per_token(self) -> float:
        """Per token before any window fills (the dense memory model's kv_bytes_per_token)."""
        return self.full_bytes_per_token + self.window_bytes_per_token


def layer_kv(arch: ModelArch, kind: LayerAttention, tp: int, kv: KvDtype) -> tuple[float, float]:
    """(bytes per token, bytes per request) one layer of `kind` caches on one GPU."""
    att = arch.attention
    if kind is LayerAttention.LINEAR:
        g = att.linear
        v_heads = -(-g.num_v_heads // tp)
        state = v_heads * g.head_k_dim * g.head_v_dim * g.state_bytes
        conv = g.conv_dim / tp * (g.conv_kernel - 1) * _CONV_STATE_BYTES
        return 0.0, state + conv
    if att.mla:
        per_token = (att.mla.kv_lora_rank + att.mla.qk_rope_head_dim) * kv.bytes
        if att.indexer:
            per_token += att.indexer.head_dim + 4 * -(-att.indexer.head_dim // 128)
        return float(per_token), 0.0
    g = att.gqa
    return float(2 * -(-g.num_kv_heads // tp) * g.head_dim * kv.bytes), 0.0


def kv_footprint(arch: ModelArch, sharding: Sharding, kv: KvDtype) -> KvFootprint:
    """Component-wise the largest stage (exact when stages hold the same mix of layer kinds)."""
    costs = {k: layer_kv(arch, k, sharding.tp, kv) for k in set(arch.attention.layers)}
    best = [0.0, 0.0, 0.0]
    for layers in stage_layers(arch.num_layers, sharding.pp):
        full = window = state = 0.0
        for i in layers:
            kind = arch.attention.layers[i]
            per_token, per_request = costs[kind]
            if kind is LayerAttention.SLIDING:
                window += per_token
            else:
                full += per_token
            state += per_request
        best = [max(b, x) for b, x in zip(best, (full, window, state))]
    return KvFootprint(best[0], best[1], arch.attention.window, best[2])
