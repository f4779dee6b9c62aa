"""Typed queries: one frozen record per kind of question perfdb answers, `db.latency(query) -> Lookup`.

A query holds its arguments exactly as the matching PerfDB method takes them (same names, same defaults:
`db.gemm(m, n, k, dtype)` is `db.latency(Gemm(m, n, k, dtype))`) and names the `Family` whose tables
answer it (`family`; None for the analytic ops, priced from bytes alone). Its answer is the function the
family's module registered for the query's type (`family.answers`), so `PerfDB.latency` dispatches on the
type through the registry — no chain of kind names. Array arguments (token counts, batches) stay arrays:
one query is one vectorized lookup. A leaf: imports nothing from perfdb, so every family module can.
"""
from __future__ import annotations

from enum import Enum
from dataclasses import FrozenInstanceError
from typing import Any, ClassVar

Arr = Any  # a scalar or numpy array of sizes; vectorized over


def _is_array(note) -> bool:
    """An `Arr` annotation: the string "Arr" / "queries.Arr" under postponed annotations, else the alias."""
    return note is Arr or (isinstance(note, str) and note.rsplit(".", 1)[-1] == "Arr")


class Query:
    """A frozen record of the fields its subclass annotates (ClassVars excluded), defaults from the class body.

    Not `@dataclass(frozen=True)`: that generates six functions per class with `exec` at import, 13 ms for
    these 26 kinds — more than the rest of a warm solve's perfdb work. Here one shared `__init__` binds the
    arguments by `FIELDS` (positional or keyword, as a dataclass's would) and assignment after
    construction raises `dataclasses.FrozenInstanceError`; equality is identity (a query is asked, not
    compared)."""
    family: ClassVar[str | None] = None
    FIELDS: ClassVar[tuple[str, ...]] = ()  # the fields, in order (the wrapper's parameters)
    DEFAULTS: ClassVar[dict[str, Any]] = {}  # field → default, for the trailing fields that have one
    ARRAYS: ClassVar[tuple[str, ...]] = ()  # the fields annotated `Arr`: vectorized over (batch.py)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        notes = cls.__dict__.get("__annotations__", {})
        cls.FIELDS = tuple(n for n, a in notes.items() if not str(a).startswith(("ClassVar", "typing.ClassVar")))
        cls.DEFAULTS = {n: cls.__dict__[n] for n in cls.FIELDS if n in cls.__dict__}
        cls.ARRAYS = tuple(n for n in cls.FIELDS if _is_array(notes[n]))
        cls.__match_args__ = cls.FIELDS

    def __init__(self, *args, **kwargs):
        fields = self.FIELDS
        if kwargs or len(args) != len(fields):  # the wrappers pass every field positionally: the fast path
            args = self._bind(args, kwargs)
        for name, value in zip(fields, args):
            object.__setattr__(self, name, value)

    @classmethod
    def _bind(cls, args: tuple, kwargs: dict) -> tuple:
        """All field values in order from positional and keyword arguments and the defaults, as a call would."""
        fields = cls.FIELDS
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments, {len(args)} given")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        for name in fields[len(args):]:
            if name not in values:
                if name not in cls.DEFAULTS:
                    raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                values[name] = cls.DEFAULTS[name]
        return tuple(values[n] for n in fields)

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.FIELDS)})"

    def replace(self, **changes) -> "Query":
        """The same query with `changes` (field → value) applied, as dataclasses.replace would give."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return type(self)(*(changes[n] if n in changes else getattr(self, n) for n in self.FIELDS))

    @property
    def scalars(self) -> tuple:
        """The values of the fields not annotated `Arr`, in order: what picks the slice (batch.py groups by it)."""
        return tuple(getattr(self, f) for f in self.FIELDS if f not in self.ARRAYS)

    @property
    def arrays(self) -> tuple:
        """The values of the `Arr` fields, in order: what a lookup is vectorized over."""
        return tuple(getattr(self, f) for f in self.ARRAYS)


class Gemm(Query):
    """[m,k]×[k,n] GEMM; m an array of token counts (≥1). dtype "fp8_static" → `GemmFp8Static`."""
    family: ClassVar[str] = "gemm"
    m: Arr
    n: int
    k: int
    dtype: str


class ContextAttention(Query):
    """Prefill attention of `new_tokens` queries over `prefix + new_tokens` keys, per layer."""
    family: ClassVar[str] = "attention"
    batch: Arr
    new_tokens: Arr
    prefix: Arr
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int
    kv_dtype: str


class GenerationAttention(Query):
    """One decode step of `batch` requests with `kv_len` cached tokens each, per layer."""
    family: ClassVar[str] = "attention"
    batch: Arr
    kv_len: Arr
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int
    kv_dtype: str


class AllReduce(Query):
    """bf16 all-reduce of `message_elems` elements over `num_gpus` GPUs (custom AR, else NCCL)."""
    family: ClassVar[str] = "ar"
    message_elems: Arr
    num_gpus: int


class P2p(Query):
    """Point-to-point send (pipeline stage hop): bytes / link bandwidth + per-hop latency."""
    family: ClassVar[str | None] = None
    nbytes: Arr
    cross_node: bool


class MemoryOp(Query):
    """Element-wise / memory-bound kernel moving `nbytes`."""
    family: ClassVar[str | None] = None
    nbytes: Arr


class Embedding(Query):
    """Embedding gather of `tokens` rows of width `hidden` (reads and writes the touched rows only)."""
    family: ClassVar[str | None] = None
    tokens: Arr
    hidden: int
    dtype_bytes: float = 2.0


class Nccl(Query):
    """NCCL `op` (all_gather / reduce_scatter / alltoall / all_reduce) over `num_gpus` GPUs."""
    family: ClassVar[str] = "nccl"
    op: str
    message_elems: Arr
    num_gpus: int
    dtype: str = "bf16"


# DeepEP's two kernel lanes of the all-to-all tables (their comm_backend name parts): low-latency, sized for
# decode steps (measured to 256 tokens per rank), and normal / high-throughput, for prefill passes (to 64k
# tokens). The TRT-LLM rows there (trtllm_deepep_ll / _ht) are DeepEP, which TRT-LLM runs only when forced
# (TRTLLM_FORCE_ALLTOALL_METHOD=DeepEP): its NVL72 attention-DP path prices the NVLink kernels it selects
# (NvlinkA2a below, model/moe_ops.py); a disaggregated prefill worker's MoeA2a terms take the normal lane
# (model/disagg_workers.py: normal_kernels).
LOW_LATENCY, HIGH_THROUGHPUT = "ll", "ht"


class MoeA2a(Query):
    """MoE expert-parallel all-to-all (`phase` dispatch / combine) of `num_tokens` tokens per rank."""
    family: ClassVar[str] = "a2a"
    num_tokens: Arr
    hidden: int
    topk: int
    num_experts: int
    ep_size: int
    phase: str = "dispatch"
    dtype: str = "bf16"
    kernel: str = LOW_LATENCY


class NvlinkKernel(str, Enum):
    """TensorRT-LLM's MoE all-to-all kernels over an NVLink domain (kernel_source of the wheel's
    trtllm_alltoall_perf table; model/moe_ops.py picks one per MoE backend)."""
    ONE_SIDED = "NVLinkOneSided"
    TWO_SIDED = "NVLinkTwoSided"


class NvlinkOp(str, Enum):
    """One phase of an NVLink all-to-all (op_name of that table): the two-sided kernel's prepare (routing
    exchange), dispatch, combine, and the combine that sends NVFP4 (use_low_precision_moe_combine)."""
    PREPARE = "alltoall_prepare"
    DISPATCH = "alltoall_dispatch"
    COMBINE = "alltoall_combine"
    COMBINE_LOW_PRECISION = "alltoall_combine_low_precision"


class NvlinkA2a(Query):
    """TensorRT-LLM NVLink all-to-all `op` of `num_tokens` tokens per EP rank on `kernel` (`dtype`: the
    dispatched activations' format)."""
    family: ClassVar[str] = "nvlink_a2a"
    num_tokens: Arr
    hidden: int
    topk: int
    num_experts: int
    ep_size: int
    op: NvlinkOp = NvlinkOp.DISPATCH
    dtype: str = "bf16"
    kernel: NvlinkKernel = NvlinkKernel.TWO_SIDED


class MoeKernel(str, Enum):
    """TensorRT-LLM's MoE backend (`moe_config.backend`, its own spelling) an engine runs its experts on.
    CUTLASS is TRT-LLM's default (llmapi MoeConfig.backend; AUTO resolves to it for every architecture but
    GPT-OSS and DeepSeek-V4) and the MoE table's default lane; TRTLLM is trtllm-gen's fused MoE, collected as
    kernel_source moe_torch_flow_min_latency (perfdb/moe.py LANE_OF_KERNEL); WIDEEP (WideEPMoE) runs the
    CUTLASS expert kernels behind its own all-to-all, priced as CUTLASS; CUTEDSL has no rows in any table and
    is priced from the default lane, at least EXTRAPOLATED; DEEPGEMM (DeepGemmFusedMoE) is the default lane
    itself where that lane is the collector's `deepgemm` (fp8_block on Blackwell), else priced like CUTEDSL.
    A kernel the table did not collect for a (dtype, shape) is priced from the default lane."""
    CUTLASS = "CUTLASS"
    TRTLLM = "TRTLLM"
    CUTEDSL = "CUTEDSL"
    WIDEEP = "WIDEEP"
    DEEPGEMM = "DEEPGEMM"


class Moe(Query):
    """Expert compute of one MoE layer on one GPU for `num_tokens` tokens entering the layer, on the MoE
    backend `kernel` (MoeKernel; CUTLASS: the table's default lane)."""
    family: ClassVar[str] = "moe"
    num_tokens: Arr
    hidden: int
    inter: int
    topk: int
    num_experts: int
    moe_tp: int
    moe_ep: int
    dtype: str = "bf16"
    distribution: str = "power_law_1.2"
    kernel: MoeKernel = MoeKernel.CUTLASS


class ContextMla(Query):
    """MLA prefill of `new_tokens` over `prefix + new_tokens` keys, per layer per GPU."""
    family: ClassVar[str] = "mla"
    batch: Arr
    new_tokens: Arr
    prefix: Arr
    num_heads: int
    kv_dtype: str = "bf16"


class GenerationMla(Query):
    """One MLA decode step of `batch` requests with `kv_len` cached tokens, per layer per GPU."""
    family: ClassVar[str] = "mla"
    batch: Arr
    kv_len: Arr
    num_heads: int
    kv_dtype: str = "bf16"


class MlaModule(Query):
    """Whole DeepSeek-V3 attention module (projections + kernel) of one phase."""
    family: ClassVar[str] = "mla"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "bf16"
    gemm_dtype: str = "fp8_block"


class MlaBmm(Query):
    """Decode absorption BMM, `phase` "pre" (q_nope·W_UK) or "post" (out·W_UV), per layer per GPU."""
    family: ClassVar[str] = "mla"
    num_tokens: Arr
    num_heads: int
    dtype: str = "bf16"
    phase: str = "pre"


class DsaModule(Query):
    """Whole DSA attention module per layer per GPU (DeepSeek-V3.2 / GLM-5)."""
    family: ClassVar[str] = "sparse"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "bf16"
    gemm_dtype: str = "fp8_block"
    model: str = "dsv32"
    prefix: Arr = 0


class Glm5Kernel(Query):
    """GLM-5 DSA kernel `op` (dsa_attn / mqa_logits / topk), 64 heads per GPU."""
    family: ClassVar[str] = "sparse"
    op: str
    batch: Arr
    isl: Arr
    kv_len: Arr
    score_mode: str = "flat"


class Gdn(Query):
    """One Gated DeltaNet layer's kernels per GPU: conv1d + gated delta rule."""
    family: ClassVar[str] = "linear"
    phase: str
    batch: Arr
    seq_len: Arr
    num_k_heads: int
    num_v_heads: int
    head_k_dim: int = 128
    head_v_dim: int = 128


class Mamba2(Query):
    """Mamba2 layer's causal conv1d per GPU (the SSM scan was not collected)."""
    family: ClassVar[str] = "linear"
    phase: str
    batch: Arr
    seq_len: Arr
    nheads: int
    head_dim: int = 64
    n_groups: int = 8
    d_state: int = 128


class Quantize(Query):
    """Quantizing an [m, k] bf16 activation: `op` "compute_scale" or "scale_matrix"."""
    family: ClassVar[str] = "quantize"
    m: Arr
    k: int
    op: str = "compute_scale"
    dtype: str = "fp8"


class GemmFp8Static(Query):
    """fp8 GEMM with a static activation scale (fp8 GEMM − the quantize kernels it skips)."""
    family: ClassVar[str] = "quantize"
    m: Arr
    n: int
    k: int
    fp8_input: bool = False


class EncoderAttention(Query):
    """Bidirectional attention of `batch` images of `seq` patches each, per layer per GPU."""
    family: ClassVar[str] = "encoder"
    batch: Arr
    seq: Arr
    num_heads: int
    head_dim: int
    dtype: str = "bf16"


class Mhc(Query):
    """mHC `op` "pre" or "post" for `num_tokens` tokens of width `hidden`, per layer per GPU."""
    family: ClassVar[str] = "mhc"
    op: str
    num_tokens: Arr
    hidden: int
    hc_mult: int = 4


class WideEpMoe(Query):
    """WideEP expert compute of one MoE layer on one GPU (moe_tp = 1)."""
    family: ClassVar[str] = "wideep"
    num_tokens: Arr
    hidden: int
    inter: int
    topk: int
    num_experts: int
    moe_ep: int
    dtype: str = "fp8_block"
    distribution: str = "power_law_1.2"
    num_slots: int | None = None
    phase: str | None = None


class WideEpMla(Query):
    """DeepSeek-V3 attention module under DP attention (SGLang WideEP tables), per layer per GPU."""
    family: ClassVar[str] = "wideep"
    phase: str
    batch: Arr
    seq: Arr
    num_heads: int
    kv_dtype: str = "fp8"
    gemm_dtype: str = "fp8_block"


class WideEpMlp(Query):
    """Dense gated MLP of a DeepSeek-V3 dense layer (SGLang WideEP table), per GPU."""
    family: ClassVar[str] = "wideep"
    phase: str
    num_tokens: Arr
    hidden: int = 7168
    inter: int = 2048
    dtype: str = "fp8_block"


class DeepEp(Query):
    """DeepEP `phase` (dispatch / combine) of `num_tokens` tokens per rank over `num_nodes` 8-GPU nodes."""
    family: ClassVar[str] = "deepep"
    num_tokens: Arr
    hidden: int
    topk: int
    num_experts: int
    phase: str = "dispatch"
    kernel: str = "ll"
    num_nodes: int = 1
    sms: int | None = None


class DeepEpMoe(Query):
    """SGLang DeepEP expert compute of one MoE layer on one GPU, elementwise by step kind: where `decode` is
    1 the generation table (DeepEP low-latency layout), else the context table (normal layout);
    `num_tokens` the whole EP group's tokens, as both tables count them."""
    family: ClassVar[str] = "wideep"
    num_tokens: Arr
    decode: Arr
    hidden: int
    inter: int
    topk: int
    num_experts: int
    moe_ep: int
    dtype: str = "fp8_block"
    distribution: str = "power_law_1.2"


class DeepEpStep(Query):
    """DeepEP `phase` (dispatch / combine) of `num_tokens` tokens per rank, elementwise by step kind: the
    low-latency kernels where `decode` is 1, the normal ones elsewhere (SGLang's `--deepep-mode auto`)."""
    family: ClassVar[str] = "deepep"
    num_tokens: Arr
    decode: Arr
    hidden: int
    topk: int
    num_experts: int
    phase: str = "dispatch"
    num_nodes: int = 1


QUERIES: tuple[type, ...] = (
    Gemm, ContextAttention, GenerationAttention, AllReduce, P2p, MemoryOp, Embedding, Nccl, MoeA2a, NvlinkA2a, Moe,
    ContextMla, GenerationMla, MlaModule, MlaBmm, DsaModule, Glm5Kernel, Gdn, Mamba2, Quantize, GemmFp8Static,
    EncoderAttention, Mhc, WideEpMoe, WideEpMla, WideEpMlp, DeepEp, DeepEpMoe, DeepEpStep)
