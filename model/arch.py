"""ModelArch: the shape of a decoder-only transformer, read from a Hugging Face config.json.

The flat fields describe a dense GQA model, the one design the estimators price today; every model,
dense or not, also carries its components (`attention`, `mlp`) and `groups`, every kind of layer with
its weights, from which parameter counts, memory per GPU (model/weights.py) and KV-cache sizes
(model/kv_cache.py) are computed. `from_hf_config` is the door of solve/estimate: it refuses, in one line
naming `model`, a design it recognises but cannot estimate yet; `parse` describes any recognised design.
"""
from __future__ import annotations

from dataclasses import dataclass

from .attention import Attention, AttentionKind, GqaGeometry, LayerAttention, parse_attention
from .family import Family, estimated_architectures, families
from .hf_config import (InvalidModelConfig, arch_fields, architecture, checkpoint_format, checkpoint_quant,
                        decoder_fields, require_object)
from .layers import LayerGroup, WeightRole, layer_groups
from .mlp import LayerMlp, Mlp, MlpKind, parse_mlp
from .quant import GemmQuant
from .weight_format import WeightFormat

_MTP_KEYS = ("num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_modules")


class UnsupportedModel(ValueError):
    """The config describes an architecture this release cannot estimate (e.g. MoE, MLA)."""


@dataclass(frozen=True)
class ModelArch:
    """Everything the op decomposition and the memory model need about a model."""

    name: str  # as the user spelled it
    checkpoint: str  # what a server loads: the catalog's Hugging Face id (org/name) or the local folder
    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int  # MLA: its heads; hybrid: those of the full-attention layers
    num_kv_heads: int
    head_dim: int  # MLA: the q/k head (nope + rope)
    intermediate_size: int  # the dense layers' MLP width (0: every layer is MoE)
    vocab_size: int
    max_position_embeddings: int
    sliding_window: int  # a window every layer has; 0 = not every layer is windowed (see attention.layers)
    tie_word_embeddings: bool
    checkpoint_quant: GemmQuant  # the GEMM format of the quantized weights (BF16 when no GemmQuant stores them)
    attention: Attention
    mlp: Mlp
    groups: tuple[LayerGroup, ...]  # every layer, grouped by kind, with its weights as stored
    checkpoint_format: WeightFormat = WeightFormat.BF16  # the format the checkpoint quantizes to
    mtp_layers: int = 0  # multi-token-prediction layers shipped beside the model (not in the counts)
    family: str = ""

    @property
    def weight_params(self) -> int:
        """Parameters of the decoder layers (attention + MLP/experts/routers; no norms, no embeddings)."""
        return sum(g.params_per_layer * len(g.indices) for g in self.groups)

    @property
    def embedding_params(self) -> int:
        """Input embedding plus LM head (kept in BF16 by every framework)."""
        copies = 1 if self.tie_word_embeddings else 2
        return copies * self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        return self.weight_params + self.embedding_params

    @property
    def mtp_params(self) -> int:
        """Parameters of the multi-token-prediction layers, loaded only when a server speculates with them:
        each is a copy of the last decoder layer plus its 2h x h projection of [embedding; hidden] (they
        share the embedding and LM head). DeepSeek-V3: 11.6B, its '14B MTP module' with those two."""
        last = next(g for g in self.groups if self.num_layers - 1 in g.indices)
        return self.mtp_layers * (last.params_per_layer + 2 * self.hidden_size * self.hidden_size)

    def params_of(self, role: WeightRole) -> int:
        return sum(w.params * len(g.indices) for g in self.groups for w in g.weights if w.role is role)

    @property
    def active_params(self) -> int:
        """Parameters one token multiplies with: every layer's attention, dense MLP, router and shared
        experts, top_k of the routed experts, and the LM head (the input embedding is a row lookup;
        vendors differ on counting it: Qwen3-30B-A3B's '3.3B' does, gpt-oss-120b's '5.1B' does not)."""
        routed = self.params_of(WeightRole.EXPERT)
        if self.mlp.moe:
            routed = routed * self.mlp.moe.top_k // self.mlp.moe.num_experts
        return self.weight_params - self.params_of(WeightRole.EXPERT) + routed + self.vocab_size * self.hidden_size

    @property
    def served_as_shipped(self) -> bool:
        """Weights in a format no GEMM quantization names (MXFP4 / INT4 experts): a framework loads them only as
        they are, so a plan never re-quantizes them (solve, estimate and the CSV path all follow this)."""
        return self.checkpoint_format.gemm is None

    @property
    def uniform_dense(self) -> bool:
        """A dense GQA model with one kind of layer: its memory and KV need none of the component
        arithmetic (model/moe_memory.py), so a dense solve never imports it."""
        att = self.attention
        return self.mlp.moe is None and att.kind is AttentionKind.GQA and len(set(att.layers)) == 1

    @property
    def estimated(self) -> bool:
        return not self.unestimated

    @property
    def unestimated(self) -> tuple[str, ...]:
        """The parts of this design the estimators do not price yet (empty: every part is priced). DSA sparse
        MLA (model/sparse_attention_ops.py) and INT4 weight-only experts (the MoE table's int4_wo lane) are
        priced now; a family the catalog does not mark estimated is refused as a whole (`from_hf_config`)."""
        return ()

    @property
    def summary(self) -> str:
        return f"{self.family or self.architecture}: {self.attention.summary}; {self.mlp.summary}"

    @staticmethod
    def from_hf_config(name: str, cfg: object, quant_cfg: object = None, checkpoint: str | None = None,
                       source: str = "config.json") -> "ModelArch":
        """A model solve/estimate can plan: `parse`, refusing (UnsupportedModel, naming `model`) a design
        that is recognised but not estimated yet, with what is not."""
        require_object(cfg, source)
        arch = architecture(cfg, source)
        fam = families().get(arch)
        if fam is not None and not fam.estimated:
            try:
                parsed = ModelArch.parse(name, cfg, quant_cfg, checkpoint, source)
            except InvalidModelConfig:  # recognised, and not estimated whatever its numbers
                raise UnsupportedModel(_refusal(source, arch, fam.label, ("its design",))) from None
            parts = parsed.unestimated or (f"the {fam.label} design",)
            raise UnsupportedModel(_refusal(source, arch, parsed.summary, parts))
        return ModelArch.parse(name, cfg, quant_cfg, checkpoint, source)

    @staticmethod
    def parse(name: str, cfg: object, quant_cfg: object = None, checkpoint: str | None = None,
              source: str = "config.json") -> "ModelArch":
        """Parse config.json (plus an optional ModelOpt hf_quant_config.json), validated by model/hf_config.py.

        `name` is the model as the user spelled it (messages echo it); `checkpoint` is what a server loads
        (a Hugging Face id or a folder; default `name`); `source` names the config in error messages."""
        require_object(cfg, source)
        arch = architecture(cfg, source)
        fam = families().get(arch)
        if fam is None:
            raise UnsupportedModel(
                f"model: {source} architectures: {arch} is not supported yet; "
                f"accepted: {', '.join(estimated_architectures())}")
        inner = cfg.get("text_config", cfg) if "num_hidden_layers" not in cfg else cfg
        inner = inner if isinstance(inner, dict) else {}
        qcfg = inner.get("quantization_config", cfg.get("quantization_config"))
        if not fam.estimated or fam.mlp is not MlpKind.DENSE or fam.attention is not AttentionKind.GQA:
            return _parse_family(name, cfg, inner, qcfg, quant_cfg, checkpoint or name, source, fam)
        if inner.get("num_experts") or inner.get("num_local_experts") or inner.get("kv_lora_rank"):
            raise UnsupportedModel("model: MoE/MLA models are not supported yet; accepted: dense GQA models")
        fields = arch_fields(cfg, source)
        quant = checkpoint_quant(qcfg, quant_cfg, source)
        return _dense(name, checkpoint or name, arch, quant, fields)


def _refusal(source: str, arch: str, what: str, parts: tuple[str, ...]) -> str:
    return (f"model: {source} architectures: {arch} is not supported yet by solve/estimate: recognised as "
            f"{what}, but sloplan does not estimate {', '.join(parts)} yet; "
            f"accepted: {', '.join(estimated_architectures())}")


def _dense(name: str, checkpoint: str, arch: str, quant: GemmQuant, fields: dict) -> ModelArch:
    """A dense GQA model: the flat fields as validated by arch_fields, and the same as components."""
    n, window = fields["num_layers"], fields["sliding_window"]
    att = Attention(AttentionKind.GQA, (LayerAttention.SLIDING if window else LayerAttention.FULL,) * n,
                    gqa=GqaGeometry(fields["num_heads"], fields["num_kv_heads"], fields["head_dim"], window))
    mlp = Mlp(MlpKind.DENSE, (LayerMlp.DENSE,) * n, fields["intermediate_size"])
    fmt = WeightFormat.of(quant)
    return ModelArch(name=name, checkpoint=checkpoint, architecture=arch, checkpoint_quant=quant, attention=att,
                     mlp=mlp, groups=layer_groups(att, mlp, fields["hidden_size"], fmt), checkpoint_format=fmt,
                     family=arch, **fields)


def _parse_family(name: str, cfg: dict, inner: dict, qcfg: object, quant_cfg: object, checkpoint: str,
                  source: str, fam: Family) -> ModelArch:
    f = decoder_fields(cfg, source)
    n, hidden = f.int("num_hidden_layers"), f.int("hidden_size")
    att = parse_attention(f, fam.attention, n, fam.sinks)
    mlp = parse_mlp(f, fam.mlp, n, fam.expert_bias)
    fmt, keep_bf16 = checkpoint_format(qcfg, quant_cfg, source)
    heads = att.mla.num_heads if att.mla else att.gqa.num_heads
    kv_heads = att.mla.num_heads if att.mla else att.gqa.num_kv_heads
    head_dim = att.mla.qk_head_dim if att.mla else att.gqa.head_dim
    every_window = att.window if all(k is LayerAttention.SLIDING for k in att.layers) else 0
    tie = f.bool("tie_word_embeddings", default=bool(cfg.get("tie_word_embeddings") is True))
    return ModelArch(
        name=name, checkpoint=checkpoint, architecture=fam.architecture, hidden_size=hidden, num_layers=n,
        num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, intermediate_size=mlp.dense_intermediate,
        vocab_size=f.int("vocab_size"),
        max_position_embeddings=f.int("max_position_embeddings", default=131072, required=False),
        sliding_window=every_window, tie_word_embeddings=tie, checkpoint_quant=fmt.gemm or GemmQuant.BF16,
        attention=att, mlp=mlp, groups=layer_groups(att, mlp, hidden, fmt, keep_bf16), checkpoint_format=fmt,
        mtp_layers=f.first_int(_MTP_KEYS, default=0), family=fam.label)
