"""How a measured row's quantization label names the checkpoint it ran (the CSV edge of `estimate --from-csv`).

The sample labels quantization by *precision class*, not by checkpoint format, and names the base model
even where a vendor's quantized release ran. Read literally, such rows ask sloplan to re-quantize an
already quantized checkpoint, which it refuses (a served checkpoint is never de-quantized or re-packed).
Three rules read them as what was served, each noted in the row's `layout_note`:

* **Packed experts are served as shipped.** A checkpoint whose experts are MXFP4 or INT4 (gpt-oss, Kimi-K2.5)
  has no other format a framework would load it in: its `fp4` / `fp8` label names the math the runtime
  chose for the packed weights, so the row is the checkpoint's own format — unless the label is `nvfp4`
  and NVIDIA published an NVFP4 release of it (Kimi-K2.5: the sample has `int4_wo` and `nvfp4` runs of
  the same campaign on the same GPUs, so the `nvfp4` ones ran `nvidia/Kimi-K2.5-NVFP4`; next rule).
* **`fp8` on a block-scaled FP8 checkpoint is that checkpoint** (MiniMax-M2.5, DeepSeek-R1/V3): one FP8
  checkpoint exists, and it is block-scaled.
* **`nvfp4` on a base model is its NVIDIA NVFP4 release** (`nvidia/<name>-NVFP4`) when the catalog has it
  (DeepSeek-R1, MiniMax-M2.5, GLM-5, Kimi-K2.5, Qwen3.5-397B), or the one release NVIDIA published under
  another name (`NVFP4_RELEASES`: DeepSeek-V3's is `nvidia/DeepSeek-V3-0324-FP4`, the same architecture);
  otherwise the row keeps its label and gets the refusal as an `error`, never a guess.

A label that names the checkpoint's own packed storage format (`int4_wo` on Kimi-K2.5's INT4 experts) is
no GEMM mode at all: it says the experts ran as shipped, and is read as the checkpoint's own format
(`storage_label`).
"""
from __future__ import annotations

from functools import lru_cache

from sloplan.core.enums import GemmQuant
from sloplan.model.catalog import catalog_entry, resolve_model


# NVIDIA NVFP4 releases not named `nvidia/<name>-NVFP4`: base model name -> release
NVFP4_RELEASES = {"DeepSeek-V3": "nvidia/DeepSeek-V3-0324-FP4"}


@lru_cache(maxsize=256)
def _formats(model: str) -> tuple[GemmQuant, str, bool] | None:
    """(GEMM format, storage format name, packed experts) of the model's checkpoint; None when unknown."""
    try:
        arch = resolve_model(model, estimable=False)
    except ValueError:
        return None
    fmt = arch.checkpoint_format
    return arch.checkpoint_quant, fmt.value, arch.served_as_shipped


def served(model: str, quant: GemmQuant | None) -> tuple[str, GemmQuant | None, str]:
    """(model, quant) as the row served them, and a note saying how they were read ('' when as written)."""
    formats = None if quant is None else _formats(model)
    if formats is None:
        return model, quant, ""
    own, storage, packed = formats
    if quant is own:
        return model, quant, ""
    release = _nvfp4_release(model) if quant is GemmQuant.NVFP4 and own is not GemmQuant.NVFP4 else None
    if release is not None:  # before the packed rule: Kimi-K2.5 has rows of both its INT4 and NVFP4 releases
        return release, quant, f"nvfp4 read as {release}"
    if packed:
        return model, own, f"{quant.value} read as the checkpoint's own {storage} experts"
    if quant is GemmQuant.FP8 and own is GemmQuant.FP8_BLOCK:
        return model, own, "fp8 read as the checkpoint's block-scaled fp8"
    return model, quant, ""


def _nvfp4_release(model: str) -> str | None:
    """The catalog's NVIDIA NVFP4 release of `model` (module docstring), None when it has none."""
    base = model.rsplit("/", 1)[-1]
    return catalog_entry(NVFP4_RELEASES.get(base, f"nvidia/{base}-NVFP4"))


def storage_label(model: str, label: str) -> tuple[str, GemmQuant, str] | None:
    """(model, quant, note) when `label` names the packed storage format of `model`'s own experts (a row
    written `int4_wo` for Kimi-K2.5): the checkpoint as shipped. None for any other label (the caller
    then reads it as a GEMM mode, or refuses it)."""
    formats = _formats(model) if label else None
    if formats is None or not formats[2] or label != formats[1]:
        return None
    return model, formats[0], f"{label} read as the checkpoint's own {label} experts"


@lru_cache(maxsize=256)
def expert_width(model: str) -> int | None:
    """The routed experts' intermediate width of `model`'s checkpoint (None: dense, or unknown)."""
    try:
        moe = resolve_model(model, estimable=False).mlp.moe
    except ValueError:
        return None
    return moe.expert_intermediate if moe is not None else None
