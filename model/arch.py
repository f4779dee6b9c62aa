"""ModelArch: the shape of a dense decoder-only transformer, read from a Hugging Face config.json."""
from __future__ import annotations

from dataclasses import dataclass

from .quant import GemmQuant

DENSE_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM")


class UnsupportedModel(ValueError):
    """The config describes an architecture this release cannot estimate (e.g. MoE, MLA)."""


@dataclass(frozen=True)
class ModelArch:
    """Everything the op decomposition and the memory model need about a dense GQA model."""

    name: str
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
    def from_hf_config(name: str, cfg: dict, quant_cfg: dict | None = None) -> "ModelArch":
        """Parse config.json (plus an optional ModelOpt hf_quant_config.json)."""
        outer = cfg  # multimodal configs name the architecture outside their text_config
        cfg = cfg.get("text_config", cfg) if "num_hidden_layers" not in cfg else cfg
        arch = (cfg.get("architectures") or outer.get("architectures") or ["unnamed"])[0]
        if arch not in DENSE_ARCHITECTURES:
            raise UnsupportedModel(
                f"model: architecture {arch} is not supported yet; accepted: {', '.join(DENSE_ARCHITECTURES)}")
        if cfg.get("num_experts") or cfg.get("num_local_experts") or cfg.get("kv_lora_rank"):
            raise UnsupportedModel("model: MoE/MLA models are not supported yet; accepted: dense GQA models")
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
        max_pos = int(cfg.get("max_position_embeddings", 131072))
        return ModelArch(
            name=name, architecture=arch, hidden_size=hidden, num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads, num_kv_heads=int(cfg.get("num_key_value_heads", heads)),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            intermediate_size=int(cfg["intermediate_size"]), vocab_size=int(cfg["vocab_size"]),
            max_position_embeddings=max_pos,
            sliding_window=int(window) if window and int(window) < max_pos else 0,
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            checkpoint_quant=_checkpoint_quant(cfg.get("quantization_config"), quant_cfg),
        )


def _checkpoint_quant(qcfg: dict | None, modelopt: dict | None) -> GemmQuant:
    """The GEMM format the checkpoint's weights are stored in."""
    algo = ((modelopt or {}).get("quantization") or {}).get("quant_algo") or (qcfg or {}).get("quant_algo")
    if algo:
        algo = str(algo).upper()
        if "FP4" in algo:
            return GemmQuant.NVFP4
        if "FP8" in algo:
            return GemmQuant.FP8
    if qcfg and str(qcfg.get("quant_method", "")).lower() == "fp8":
        return GemmQuant.FP8_BLOCK if qcfg.get("weight_block_size") else GemmQuant.FP8
    return GemmQuant.BF16
