"""The one dtype table: what every element type weighs, which tensor-core rate computes it, and which
dtypes stand in for it when its measurements are missing. perfdb (speed-of-light formulas, grid names,
sibling fallback, FLOP rates) and model (weight and KV memory) both read it.

It is a module in core/ rather than a YAML file because it sits below every layer, is read on the hot
path of every lookup, and is eight rows: core imports nothing of sloplan's and nothing to parse files
with, so a data file would drag a loader into the bottom layer and a parse into every process start for
no reader that edits it. Hardware, models and frameworks stay data files; this is a physical constant.

One byte count. `storage_bytes` is what an element costs, block scales included (fp8_block: one fp32 scale
per 128x128 block, 1 + 4/128**2; nvfp4: one fp8 scale per 16 values, 9/16; mxfp4: one e8m0 scale per 32
values): the model sizes weights with it, and perfdb's speed-of-light formulas count it, since it is the
physically right count of bytes a kernel reads. (Until issue 11's last step perfdb counted fp8_block as 1.0
and mxfp4 as 0.5, without scales. perfdb interpolates in utilization = SOL / measured latency, so a measured
point does not move; interpolated answers move by a second-order amount and ROOFLINE answers, SOL over a
median utilization, by at most the byte ratio on their memory-bound part: 2.4e-4 for fp8_block, 6.25 % for
mxfp4. What moved is in perfdb/README.md, "One byte count".)

`kernels` says in which kernel families' SOL a dtype counts its own bytes: elsewhere it counts as bf16
(2 B), as the per-family maps this table replaced did (an int8 GEMM or an fp8 NCCL message is priced at
2 B per element today; see `sol_kernels` below).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kernel(str, Enum):
    """Kernel families whose speed-of-light formula counts a dtype's bytes."""

    GEMM = "gemm"  # dense linear layers, MLA BMMs
    MOE = "moe"  # grouped expert GEMMs (weight-only and mixed formats too)
    KV = "kv"  # KV cache reads and writes in attention
    A2A = "a2a"  # expert-parallel dispatch / combine messages
    NCCL = "nccl"  # collectives (all-reduce, all-gather, ...)


FLOPS_KEYS = ("bf16", "fp8", "fp4", "int8")  # the keys of SystemSpec.flops_per_s (perfdb/systems/*.yaml)
DEFAULT = "bf16"  # what an unknown or unlisted dtype counts as: bf16 bytes, bf16 rate


@dataclass(frozen=True)
class DtypeInfo:
    """One element type."""

    name: str  # canonical, as in perfdb grid names and GemmQuant/KvDtype values
    storage_bytes: float  # bytes per element, block scales included: memory and speed of light alike
    flops_key: str  # which SystemSpec.flops_per_s rate computes it (weight-only formats compute in bf16)
    kernels: frozenset[Kernel]  # families whose SOL counts storage_bytes (elsewhere: bf16, 2 B)
    siblings: tuple[str, ...] = ()  # a missing slice borrows these dtypes' slices, first found first
    aliases: tuple[str, ...] = ()  # other spellings in perf tables (lower case)
    nccl_as: str = DEFAULT  # the NCCL table slice a message in this dtype is priced from (1-byte: int8)

    @property
    def needs_own_rate(self) -> bool:
        """Whether the math needs a tensor-core rate of its own (a GPU without it has no such kernels)."""
        return self.flops_key != DEFAULT


_K = Kernel
DTYPES: tuple[DtypeInfo, ...] = (
    DtypeInfo("bf16", 2.0, "bf16", frozenset(_K), ("fp8", "fp8_block"),
              ("bfloat16", "float16", "fp16", "half", "default")),  # vLLM's kv "default" = model dtype
    DtypeInfo("fp8", 1.0, "fp8", frozenset({_K.GEMM, _K.MOE, _K.KV, _K.A2A}), ("fp8_block", "bf16"),
              nccl_as="int8"),
    DtypeInfo("fp8_block", 1.0 + 4.0 / (128 * 128), "fp8", frozenset({_K.GEMM, _K.MOE}), ("fp8", "bf16")),
    DtypeInfo("nvfp4", 9.0 / 16.0, "fp4", frozenset({_K.GEMM, _K.MOE, _K.A2A}),
              ("fp8_block", "fp8", "bf16")),
    DtypeInfo("int8", 1.0, "int8", frozenset({_K.NCCL}), ("fp8", "bf16"), nccl_as="int8"),
    # MoE-only formats. mxfp4: one e8m0 scale per 32 values. int4_wo / w4afp8: group scales whose size
    # depends on the checkpoint's group size, not counted.
    DtypeInfo("w4a16_mxfp4", 0.5 + 1.0 / 32.0, "bf16", frozenset({_K.MOE})),
    DtypeInfo("int4_wo", 0.5, "bf16", frozenset({_K.MOE})),
    DtypeInfo("w4afp8", 0.5, "fp8", frozenset({_K.MOE})),
)
BY_NAME: dict[str, DtypeInfo] = {d.name: d for d in DTYPES}
_BY_SPELLING: dict[str, DtypeInfo] = {s: d for d in DTYPES for s in (d.name, *d.aliases)}


def lookup(name: str) -> DtypeInfo | None:
    """The dtype a table or user spelling names (case-insensitive), None for one the table does not know."""
    return _BY_SPELLING.get(str(name).lower())


def canonical(name: str) -> str:
    """Canonical spelling ("bfloat16", "half", vLLM's "default" → "bf16"); an unknown name, lower-cased."""
    info = lookup(name)
    return info.name if info else str(name).lower()


def flops_key(name: str) -> str:
    """The SystemSpec.flops_per_s key that computes `name` (a flops key names itself); unknown → bf16."""
    info = lookup(name)
    if info is not None:
        return info.flops_key
    return name if name in FLOPS_KEYS else DEFAULT


def sol_kernels(kernel: Kernel) -> dict[str, float]:
    """{spelling: SOL bytes} of the dtypes that count their own bytes in `kernel`'s SOL (callers default
    the rest to 2.0, bf16): the per-family maps perfdb/sol.py exposes are views of this table."""
    return {s: d.storage_bytes for d in DTYPES if kernel in d.kernels for s in (d.name, *d.aliases)}


def kv_canonical(name: str) -> str:
    """The KV-cache dtype a spelling names: a KV dtype of the table, anything else bf16 (the model's dtype)."""
    info = lookup(name)
    return info.name if info is not None and Kernel.KV in info.kernels else DEFAULT


def kv_sibling(name: str) -> str:
    """The KV dtype whose slice a missing KV-dtype slice borrows: the first sibling that is a KV dtype."""
    info = BY_NAME[kv_canonical(name)]
    return next(s for s in info.siblings if Kernel.KV in BY_NAME[s].kernels)


def nccl_slice(name: str) -> str:
    """The NCCL table dtype a collective in `name` is priced from (fp8 and int8 travel as int8, the rest bf16)."""
    info = lookup(name)
    return info.nccl_as if info is not None else DEFAULT


def own_rate_key(name: str) -> str | None:
    """The flops_per_s key a dtype's math needs beyond bf16 (fp8, fp4, int8), None when bf16 math serves it
    (bf16, weight-only formats, names the table does not know): a GPU without that key has no such kernels."""
    key = flops_key(name)
    return None if key == DEFAULT else key
