"""ModelArch: the shape of a dense decoder-only transformer, read from a Hugging Face config.json."""
from __future__ import annotations

from dataclasses import dataclass

from .hf_config import arch_fields, architecture, checkpoint_quant, require_object
from .quant import GemmQuant

DENSE_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM")


class UnsupportedModel(ValueError):
    """The config describes an architecture this release cannot estimate (e.g. MoE, MLA)."""


@dataclass(frozen=True)
class ModelArch:
    """Everything the op decomposition and the memory model need about a dense GQA model."""

    name: str  # as the user spelled it
    checkpoint: str  # what a server loads: the catalog's Hugging Face id (org/name) or the local folder
    architecture: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    sliding_window: int  # 0 = full attention on every layer
    tie_word_embeddings: bool
    checkpoint_quant: GemmQuant

    @property
    def weight_params(self) -> int:
        """Parameters of the linear layers that quantization applies to (attention + MLP)."""
        h, d = self.hidden_size, self.head_dim
        attn = h * (self.num_heads * d + 2 * self.num_kv_heads * d) + self.num_heads * d * h
        mlp = 3 * h * self.intermediate_size
        return self.num_layers * (attn + mlp)

    @property
    def embedding_params(self) -> int:
        """Input embedding plus LM head (kept in BF16 by every framework)."""
        copies = 1 if self.tie_word_embeddings else 2
        return copies * self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        return self.weight_params + self.embedding_params

    @staticmethod
    def from_hf_config(name: str, cfg: object, quant_cfg: object = None, checkpoint: str | None = None,
                       source: str = "config.json") -> "ModelArch":
        """Parse config.json (plus an optional ModelOpt hf_quant_config.json), validated by model/hf_config.py.

        `name` is the model as the user spelled it (messages echo it); `checkpoint` is what a server loads
        (a Hugging Face id or a folder; default `name`); `source` names the config in error messages."""
        require_object(cfg, source)
        arch = architecture(cfg, source)
        if arch not in DENSE_ARCHITECTURES:
            raise UnsupportedModel(
                f"model: {source} architectures: {arch} is not supported yet; "
                f"accepted: {', '.join(DENSE_ARCHITECTURES)}")
        inner = cfg.get("text_config", cfg) if "num_hidden_layers" not in cfg else cfg
        inner = inner if isinstance(inner, dict) else {}
        if inner.get("num_experts") or inner.get("num_local_experts") or inner.get("kv_lora_rank"):
            raise UnsupportedModel("model: MoE/MLA models are not supported yet; accepted: dense GQA models")
        fields = arch_fields(cfg, source)
        quant = checkpoint_quant(inner.get("quantization_config", cfg.get("quantization_config")), quant_cfg, source)
        return ModelArch(name=name, checkpoint=checkpoint or name, architecture=arch, checkpoint_quant=quant, **fields)

