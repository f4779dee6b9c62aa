"""Canonical dtype names of perfdb's grid names (a leaf: table readers, bounds and families all use it)."""
from __future__ import annotations

DTYPE_ALIASES = {"bfloat16": "bf16", "bf16": "bf16", "float16": "bf16", "fp16": "bf16", "half": "bf16",
                 "default": "bf16", "fp8": "fp8", "fp8_block": "fp8_block", "int8": "int8", "nvfp4": "nvfp4"}


def canon_dtype(name: str) -> str:
    """Canonical dtype name used in grid names ("bfloat16", "half", vLLM's "default" → "bf16")."""
    return DTYPE_ALIASES.get(str(name).lower(), str(name).lower())
