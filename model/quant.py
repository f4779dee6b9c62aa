"""Quantization modes: what a GEMM computes in and what the KV cache stores."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class GemmQuant(str, Enum):
    """Weight/activation format of the linear layers (names match the perf tables' dtypes)."""

    BF16 = "bf16"
    FP8 = "fp8"  # per-tensor scaled FP8
    FP8_BLOCK = "fp8_block"  # 128x128 block-scaled FP8 (DeepSeek / Qwen3-FP8 checkpoints)
    NVFP4 = "nvfp4"  # FP4 with one FP8 scale per 16 values

    @property
    def weight_bytes(self) -> float:
        """Bytes per weight element, scales included."""
        return {"bf16": 2.0, "fp8": 1.0, "fp8_block": 1.0 + 4.0 / (128 * 128), "nvfp4": 9.0 / 16.0}[self.value]

    def derivable_from(self, checkpoint: "GemmQuant") -> bool:
        """Whether weights in `checkpoint` format can be served in this one: a BF16 checkpoint can be
        quantized to any format (on load or offline); quantized weights are never de-quantized."""
        return self is checkpoint or checkpoint is GemmQuant.BF16

    @property
    def compute_dtype(self) -> str:
        """Key into SystemSpec.flops_per_s for this mode's tensor-core rate."""
        return {"bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4"}[self.value]


class KvDtype(str, Enum):
    """Element type of the KV cache."""

    BF16 = "bf16"
    FP8 = "fp8"

    @property
    def bytes(self) -> int:
        return 2 if self is KvDtype.BF16 else 1


@dataclass(frozen=True)
class Quant:
    """One quantization choice for an engine: GEMM format plus KV-cache format.

    The KV cache follows the GEMM format by default (FP8 and FP4 deployments run an FP8 KV cache,
    as the frameworks' FP8 recipes do); BF16 keeps a BF16 cache.
    """

    gemm: GemmQuant
    kv: KvDtype

    @staticmethod
    def default_for(gemm: GemmQuant) -> "Quant":
        return Quant(gemm, KvDtype.BF16 if gemm is GemmQuant.BF16 else KvDtype.FP8)

    @property
    def label(self) -> str:
        if self.kv is KvDtype.FP8 or self.gemm is GemmQuant.BF16:
            return self.gemm.value
        return f"{self.gemm.value}/kv-{self.kv.value}"
