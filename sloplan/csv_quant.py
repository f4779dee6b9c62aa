"""How a measured row's quantization label names the checkpoint it ran (the CSV edge of `estimate --from-csv`).

The sample labels quantization by *precision class*, not by checkpoint format, and names the base model
even where a vendor's quantized release ran. Read literally, such rows ask sloplan to re-quantize an
already quantized checkpoint, which it refuses (a served checkpoint is never de-quantized or re-packed).
Three rules read them as what was served, each noted in the row's `layout_note`:

* **Packed experts are served as shipped.** A checkpoint whose experts are MXFP4 or INT4 (gpt-oss, Kimi-K2.5)
  has no other format a framework would load it in: its `fp4` / `fp8` label names the math the runtime
  chose for the packed weights, so the row is the checkpoint's own format.
* **`fp8` on a block-scaled FP8 checkpoint is that checkpoint** (MiniMax-M2.5, DeepSeek-R1/V3): one FP8
  checkpoint exists, and it is block-scaled.
* **`nvfp4` on a base model is its NVIDIA NVFP4 release** (`nvidia/<name>-NVFP4`) when the catalog has it
  (DeepSeek-R1, MiniMax-M2.5, GLM-5, Kimi-K2.5, Qwen3.5-397B); otherwise the row keeps its label and gets
  the refusal as an `error`, never a guess.
"""
from __future__ import annotations

from functools import lru_cache

from sloplan.core.enums import GemmQuant
from sloplan.model.catalog import catalog_entry, resolve_model


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
    if packed:
        return model, own, f"{quant.value} read as the checkpoint's own {storage} experts"
    if quant is GemmQuant.FP8 and own is GemmQuant.FP8_BLOCK:
        return model, own, "fp8 read as the checkpoint's block-scaled fp8"
    if quant is GemmQuant.NVFP4 and own is not GemmQuant.NVFP4:
        release = catalog_entry(f"nvidia/{model.rsplit('/', 1)[-1]}-NVFP4")
        if release is not None:
            return release, quant, f"nvfp4 read as {release}"
    return model, quant, ""
