"""Mlp: the feed-forward component of a model (dense, or mixture-of-experts), with every layer's kind.

MoE configs spell the same numbers three ways (DeepSeek: n_routed_experts / moe_intermediate_size /
n_shared_experts; Qwen: num_experts / shared_expert_intermediate_size; Mixtral, MiniMax, gpt-oss:
num_local_experts with the expert width in intermediate_size). They are read here into one shape, so the
op decomposition and the memory model see experts, top-k, expert width, shared experts and which layers
stay dense, whatever the family.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .hf_config import Fields


class MlpKind(str, Enum):
    DENSE = "dense"
    MOE = "moe"


class LayerMlp(str, Enum):
    DENSE = "dense"  # one SwiGLU MLP of `dense_intermediate`
    MOE = "moe"  # router + routed experts (+ shared experts)


@dataclass(frozen=True)
class MoeGeometry:
    num_experts: int  # routed experts per MoE layer
    top_k: int  # routed experts each token visits
    expert_intermediate: int
    shared_intermediate: int = 0  # all shared experts together (n_shared x width); 0 = none
    shared_gate: bool = False  # a sigmoid gate scales the shared expert (Qwen); DeepSeek adds it ungated
    expert_bias: bool = False  # gate_up/down biases on every expert (gpt-oss)
    router_bias: bool = False

    @property
    def summary(self) -> str:
        s = f"{self.num_experts} experts top-{self.top_k} of width {self.expert_intermediate}"
        return s + (f" + shared {self.shared_intermediate}" if self.shared_intermediate else "")


@dataclass(frozen=True)
class Mlp:
    kind: MlpKind
    layers: tuple[LayerMlp, ...]
    dense_intermediate: int  # width of the DENSE layers (0 when there are none)
    moe: MoeGeometry | None = None

    def count(self, kind: LayerMlp) -> int:
        return sum(1 for k in self.layers if k is kind)

    @property
    def summary(self) -> str:
        if not self.moe:
            return f"dense MLP {self.dense_intermediate}"
        dense = self.count(LayerMlp.DENSE)
        plural = "s" if dense > 1 else ""
        return self.moe.summary + (f", {dense} dense layer{plural} first ({self.dense_intermediate})" if dense else "")


_EXPERTS = ("n_routed_experts", "num_experts", "num_local_experts")
_TOP_K = ("num_experts_per_tok", "experts_per_token")


def moe_layers(f: Fields, num_layers: int) -> tuple[LayerMlp, ...]:
    """Which layers route to experts: DeepSeek's first_k_dense_replace and moe_layer_freq, Qwen's
    mlp_only_layers and decoder_sparse_step (all default to every layer being MoE)."""
    first_dense = f.int("first_k_dense_replace", default=0, required=False)
    freq = f.int("moe_layer_freq", default=1, required=False)
    step = f.int("decoder_sparse_step", default=1, required=False)
    only_dense = set(f.int_list("mlp_only_layers"))
    if first_dense >= num_layers:
        raise f.fail("first_k_dense_replace", f"leaves no MoE layer (got {first_dense} of {num_layers} layers); "
                                              f"accepted: 0..{num_layers - 1}")
    return tuple(LayerMlp.MOE if i >= first_dense and i % freq == 0 and (i + 1) % step == 0 and i not in only_dense
                 else LayerMlp.DENSE for i in range(num_layers))


def parse_mlp(f: Fields, kind: MlpKind, num_layers: int, expert_bias: bool = False) -> Mlp:
    """The MLP component of a config whose family says `kind`."""
    if kind is MlpKind.DENSE:
        return Mlp(kind, (LayerMlp.DENSE,) * num_layers, f.int("intermediate_size"))
    experts = f.first_int(_EXPERTS)
    top_k = f.first_int(_TOP_K)
    if top_k > experts:
        raise f.fail(_TOP_K[0], f"exceeds the {experts} experts (got {top_k}); accepted: 1..{experts}")
    has_moe_width = f.obj.get("moe_intermediate_size") is not None
    width = f.int("moe_intermediate_size") if has_moe_width else f.int("intermediate_size")
    n_shared = f.int("n_shared_experts", default=0, required=False)
    shared = n_shared * width
    gated = False
    for key in ("shared_expert_intermediate_size", "shared_intermediate_size"):
        if f.obj.get(key) is not None:
            shared, gated = f.int(key), key == "shared_expert_intermediate_size"
    layers = moe_layers(f, num_layers)
    dense = f.int("intermediate_size") if LayerMlp.DENSE in layers else 0
    moe = MoeGeometry(experts, top_k, width, shared, gated and shared > 0, expert_bias, expert_bias)
    return Mlp(kind, layers, dense, moe)
