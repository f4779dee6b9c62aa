"""Quantization modes: what a GEMM computes in and what the KV cache stores."""
from __future__ import annotations

from dataclasses import dataclass

from sloplan.core.enums import GemmQuant, KvDtype

__all__ = ["GemmQuant", "KvDtype", "Quant"]


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
