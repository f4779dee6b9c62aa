"""WeightFormat: how a checkpoint stores one weight matrix, a superset of the GEMM formats sloplan plans in.

MoE checkpoints mix formats: gpt-oss keeps attention in BF16 and stores experts in MXFP4; Kimi-K2.5 stores
only its routed experts as INT4; NVIDIA's NVFP4 checkpoints keep attention (and often shared experts) in
BF16. Memory per GPU is wrong by up to 4x for those parts if one format is assumed for the whole model, so
each weight carries its own. MXFP4 and INT4 weight-only have no GemmQuant (no perf tables price them as
GEMMs yet), which is why this is its own closed set and not an extension of core's GemmQuant.
"""
from __future__ import annotations

import fnmatch
import re
from enum import Enum
from functools import lru_cache

from sloplan.core.dtypes import BY_NAME

from .quant import GemmQuant

INT4_GROUP = 32  # weights per BF16 scale of an INT4 weight-only checkpoint (Kimi-K2 QAT)


class WeightFormat(str, Enum):
    """Storage format of one weight matrix (values match the sample's gemm/moe quant-mode spellings)."""

    BF16 = "bf16"
    FP8 = "fp8"  # per-tensor scaled
    FP8_BLOCK = "fp8_block"  # one FP32 scale per 128x128 block
    NVFP4 = "nvfp4"  # FP4 E2M1, one FP8 scale per 16 values
    MXFP4 = "mxfp4"  # FP4 E2M1, one E8M0 scale per 32 values (gpt-oss experts)
    INT4_WO = "int4_wo"  # INT4 weights, BF16 activations, one BF16 scale per INT4_GROUP (Kimi-K2 QAT experts)

    @property
    def dtype(self) -> str:
        """The core/dtypes.py row (and MoE table quant name) of this format: MXFP4 weights are the weight-only
        `w4a16_mxfp4` kernels' elements; every other format is spelled as its row."""
        return "w4a16_mxfp4" if self is WeightFormat.MXFP4 else self.value

    @property
    def weight_bytes(self) -> float:
        """Bytes per weight element, scales included: the dtype table's `storage_bytes`, plus for INT4
        weight-only the BF16 group scales the table leaves out (their size is the checkpoint's; the INT4
        checkpoints recognised, Kimi-K2's QAT experts, keep one per INT4_GROUP weights)."""
        info = BY_NAME[self.dtype]
        if self is WeightFormat.INT4_WO:
            return info.storage_bytes + BY_NAME["bf16"].storage_bytes / INT4_GROUP
        return info.storage_bytes

    @property
    def gemm(self) -> GemmQuant | None:
        """The GEMM format this storage is planned as today (None: not yet priced)."""
        return {"bf16": GemmQuant.BF16, "fp8": GemmQuant.FP8, "fp8_block": GemmQuant.FP8_BLOCK,
                "nvfp4": GemmQuant.NVFP4}.get(self.value)

    @staticmethod
    def of(gemm: GemmQuant) -> "WeightFormat":
        return WeightFormat(gemm.value)


_WRAPPERS = ("language_model.", "model.language_model.")


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern | None, re.Pattern | None, frozenset[str]]:
    """The three kinds of entry the checkpoint tools write, each kind as one matcher: compressed-tensors
    `re:` regexes, ModelOpt / gpt-oss globs, and HF `modules_to_not_convert` names (an NVFP4 list holds
    hundreds of entries, so they are compiled once, not tried one by one)."""
    regexes, globs, names = [], [], set()
    for p in patterns:
        if p.startswith("re:"):
            try:
                re.compile(p[3:])
                regexes.append(f"(?:{p[3:]})")
            except re.error:
                continue  # a pattern no tool could have applied excludes nothing
        elif any(c in p for c in "*?["):
            globs.append(f"(?:{fnmatch.translate(p)})")
        else:
            names.add(p)
    return (re.compile("|".join(regexes)) if regexes else None, re.compile("|".join(globs)) if globs else None,
            frozenset(names))


def excluded(module: str, patterns: tuple[str, ...]) -> bool:
    """Whether `module` (e.g. "model.layers.3.self_attn.q_a_proj") is left unquantized by `patterns`.
    A glob or a name excludes a module or any module above it; plain names match whole dotted
    components ("gate" is the router `mlp.gate`, never `gate_proj`). Multimodal checkpoints name the
    decoder under a wrapper, so each spelling is tried."""
    regex, glob, names = _compiled(patterns)
    spellings = [module, *(w + module for w in _WRAPPERS),
                 module.replace("model.layers.", "model.language_model.layers.", 1)]
    for name in spellings:
        if regex is not None and regex.match(name):
            return True
        parts = name.split(".")
        if glob is not None and any(glob.match(".".join(parts[:k])) for k in range(len(parts), 0, -1)):
            return True
        runs = (".".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))
        if names and any(r in names for r in runs):
            return True
    return False
