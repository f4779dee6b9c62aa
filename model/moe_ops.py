"""Op decomposition of a mixture-of-experts layer (GQA families: Qwen3-MoE, Mixtral, MiniMax-M2, gpt-oss).

Per MoE layer (peer §1.3): the router GEMM (N = experts, K = hidden, BF16 in every framework), the shared
experts if any (two GEMMs cut by the attention TP), the grouped expert compute from the MoE table, and the
dispatch/combine communication the framework does around it. The model/ops.py step composes these with
the attention projections by the architecture's per-layer MLP kinds (dense-first layers keep the dense MLP).

Token counts: every op here receives the tokens of *one attention-DP rank* (the step's batch / dp); the
expert compute is looked up with the whole attention-DP group's tokens (tokens · dp), because after the
all-gather (or all-to-all) each expert rank serves the routed tokens of every DP rank (peer §1.3, the
`x · attention_dp` of the peer's MoE op). The router and shared experts run before dispatch / after
combine, on the rank's own tokens.

Expert format: from the architecture's per-weight formats (model/layers.py), mapped to the MoE table's
quant names: MXFP4 experts (gpt-oss) are the weight-only `w4a16_mxfp4` kernels, INT4 weight-only experts
`int4_wo`; experts quantized like the rest of the checkpoint follow the engine's GEMM format; experts the
checkpoint left in BF16 stay BF16. The same rule decides the attention / dense / shared GEMM formats: a
weight the checkpoint keeps in BF16 (gpt-oss attention, NVFP4 checkpoints' attention) is a BF16 GEMM.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from sloplan.core.dtypes import own_rate_key
from sloplan.perfdb import SystemSpec, Tier

from .arch import ModelArch
from .attention import AttentionKind
from .engine import Engine
from .framework import Backend
from .layers import Weight, WeightRole
from sloplan.perfdb.queries import (AllReduce, Gemm, MemoryOp, Moe, MoeKernel, Nccl, NvlinkA2a, NvlinkKernel,
                                    NvlinkOp, P2p)
from .ops import Op, Stream, Term
from .weight_format import WeightFormat

# Families whose every op this module and model/ops.py price (GQA attention, classic MoE). The gate in
# model/arch.py (UnsupportedModel) is lifted by the integrator once the MoE engines / memory land too.
MOE_OPS_ARCHITECTURES = ("Qwen3MoeForCausalLM", "MixtralForCausalLM", "MiniMaxM2ForCausalLM", "GptOssForCausalLM")
DISTRIBUTION = "power_law_1.2"  # routing skew of the MoE table slice (the peer's default)


def moe_ops_estimate(arch: ModelArch) -> bool:
    """Whether the op decomposition prices every layer of `arch`: a GQA attention with a classic MoE MLP of
    one of MOE_OPS_ARCHITECTURES (MLA / sparse / linear-attention MoE models are other helpers' ops)."""
    return (arch.architecture in MOE_OPS_ARCHITECTURES and arch.mlp.moe is not None
            and arch.attention.kind is AttentionKind.GQA)


def _role_weight(arch: ModelArch, role: WeightRole) -> Weight | None:
    for g in arch.groups:
        for w in g.weights:
            if w.role is role and w.gemm:
                return w
    return None


def gemm_dtype(arch: ModelArch, engine: Engine, role: WeightRole) -> str:
    """The GEMM table dtype of the `role` weights: BF16 where a quantized checkpoint left them unquantized
    (its exclusion list: gpt-oss attention), else the engine's GEMM format, as for a dense model."""
    w = _role_weight(arch, role)
    if w is not None and w.fmt is WeightFormat.BF16 and arch.checkpoint_format is not WeightFormat.BF16:
        return "bf16"
    return engine.quant.gemm.value


def expert_dtype(arch: ModelArch, engine: Engine, system: SystemSpec | None = None,
                 backend: Backend | None = None) -> str:
    """The MoE table's quant name for the routed experts (see the module docstring).

    MXFP4 / INT4 experts run their own kernels: on a GPU with FP4 math, where the framework file says its
    MXFP4 experts take MXFP8 activations (`mxfp8_moe_activations`: TRT-LLM by default, vLLM with the flag
    its Blackwell recipes set), the w4a8_mxfp4_mxfp8 kernels (4-8x faster than the weight-only lane at
    large batch); elsewhere, and in SGLang, weight-only. An FP8 engine on FP8 block-scaled experts runs
    the block kernels (the MoE table's fp8 and fp8_block are different kernels, chosen by the
    checkpoint's scales)."""
    w = _role_weight(arch, WeightRole.EXPERT)
    fmt = w.fmt if w is not None else arch.checkpoint_format
    fp4_math = system is not None and own_rate_key(WeightFormat.NVFP4.value) in system.flops_per_s
    if fmt is WeightFormat.MXFP4 and fp4_math:
        from .framework import framework  # FP4 math: the framework's data decides the activation format

        if framework(backend or Backend.TRTLLM).capabilities.mxfp8_moe_activations is not None:
            return "w4a8_mxfp4_mxfp8"
    if fmt.gemm is None:  # MXFP4 / INT4 weight-only experts: their own kernels, as shipped
        return fmt.dtype
    q = gemm_dtype(arch, engine, WeightRole.EXPERT)
    return WeightFormat.FP8_BLOCK.value if WeightFormat(q) is WeightFormat.FP8 and fmt is WeightFormat.FP8_BLOCK else q


def kernel_env(arch: ModelArch, engine: Engine, system: SystemSpec, backend: Backend) -> tuple[str, ...]:
    """Environment assignments ("NAME=value") the server needs to run the expert kernels the estimate
    priced: the framework's `mxfp8_moe_activations` switch where expert_dtype chose those kernels."""
    if arch.mlp.moe is None or expert_dtype(arch, engine, system, backend) != "w4a8_mxfp4_mxfp8":
        return ()
    from .framework import framework

    return tuple(f"{k}={v}" for k, v in (framework(backend).capabilities.mxfp8_moe_activations or {}).items())


# GEMM tables that time the host, not the kernel, are data: the framework file's host_bound_gemms, by version.
# vLLM 0.24's fp8_block GEMM tables (DeepGEMM / FlashInfer block-scaled lanes) are flat in m: on B200 a
# 4096 x 3072 GEMM takes 170-270 us at m = 1 and 180 us at m = 4096 (the bf16 table: 9 us and 65 us; the
# H200 lanes 57-90 us flat), so the collector timed the eager Python path (per-token-group quantization,
# launch), which a CUDA-graph decode step of vLLM >= 0.16 does not pay. Priced with it, MiniMax-M2.5 FP8
# decode came out at 27 ms per step on 2 B200s where the rows measure 9.4 ms in all. The per-tensor FP8
# table runs the same FP8 tensor-core math (block scales add 4/128^2 bytes per weight); its answers are
# tagged EXTRAPOLATED. vLLM 0.12 paid that path: its Qwen3-235B-FP8 rows measure the host-bound table.
def kernel_gemms(terms: list[Term], backend: Backend | None,
                 swaps: tuple[tuple[str, str], ...] | None = None) -> list[Term]:
    """`terms` with every GEMM on a host-bound table priced from its sibling table, at tier EXTRAPOLATED at
    best; other terms unchanged. `swaps`: (table, sibling) pairs (FrameworkProfile.gemm_swaps, for the
    version served); None: the framework's newest behaviour."""
    if backend is None:
        return terms
    if swaps is None:
        from .framework import profile

        swaps = profile(backend).gemm_swaps
    table = dict(swaps)

    def swap(t: Term) -> Term:
        q = t.query
        sub = table.get(q.dtype) if isinstance(q, Gemm) else None
        if sub is None:
            return t
        return replace(t, query=q.replace(dtype=sub), floor=max(t.floor, int(Tier.EXTRAPOLATED)))

    return [swap(t) for t in terms] if table else terms


def _nccl(op: str, elems, gpus: int, count: float, label: Op) -> Term:
    return Term(Nccl(op, elems, gpus, "bf16"), count, label)


def _collective(op: str, elems, gpus: int, span: int, system: SystemSpec, count: float, label: Op) -> list[Term]:
    """An all-gather / reduce-scatter of `elems` elements (the gathered tensor) over a group of `gpus` GPUs
    laid out over `span` consecutive GPUs (vLLM's DP group: every tp-th GPU of the engine).

    Inside one node it is the NCCL table's. A group that spans n nodes runs hierarchically: the
    collective among the group's GPUs of one node (measured, on the node's share of the tensor), and the
    (n-1)/n of the tensor that lives on the other nodes crossing the inter-node link (the hardware
    catalog's bandwidth and per-hop latency, ROOFLINE: no table measures it). Rescaling the 8-GPU latency
    by the bandwidth ratio instead (the NCCL lookup beyond its largest count) priced a few-KB decode
    message, which is latency-bound, 18x slower on B200 (NVLink 900 GB/s over 50 GB/s IB)."""
    nodes = -(-span // system.gpus_per_node)
    if nodes <= 1 or gpus < nodes:
        return [_nccl(op, elems, gpus, count, label)]
    local = gpus // nodes
    cross = Term(P2p(np.asarray(elems, dtype=float) * 2.0 * (nodes - 1) / nodes, True), count, label)
    return ([_nccl(op, np.asarray(elems, dtype=float) / nodes, local, count, label)] if local > 1 else []) + [cross]


def all_reduce_terms(elems, tp: int, system: SystemSpec | None, count: float, label: Op) -> list[Term]:
    """The TP all-reduce of `elems` elements. A TP group wider than a node runs hierarchically (NCCL's
    tree/ring over nodes): the all-reduce among the node's GPUs (the custom all-reduce table) and, for each
    GPU's 1/local shard, a ring all-reduce among the nodes over the inter-node link, 2(n-1)/n of the shard
    each way (ROOFLINE: no table measures it). Rescaling the 8-GPU latency by the bandwidth ratio (the
    table lookup beyond its largest count) prices a latency-bound decode message 9-18x too slow.

    On an NVLink rack (GB200 / GB300 NVL72: `nvlink_rack`) the trays are one NVLink domain and the
    group's all-reduce is one NVLink collective (TRT-LLM's MNNVL all-reduce, NCCL's NVLS), not a
    node-then-network hierarchy: it is the table's all-reduce over all tp GPUs (beyond the tray's GPUs
    the lookup is EXTRAPOLATED on the GPU axis). Priced hierarchically, a TP-8 decode step of
    DeepSeek-V3 on GB200 paid a 10 us roofline hop on each of its 58 MoE layers' all-reduces (0.58 ms
    of a ~6 ms step) on top of the tray's measured all-reduce."""
    if tp <= 1:
        return []
    nodes = 1 if system is None else -(-tp // system.gpus_per_node)
    if nodes <= 1 or tp % nodes or nvlink_rack(system):
        return [Term(AllReduce(elems, tp), count, label)]
    local = tp // nodes
    shard_bytes = np.asarray(elems, dtype=float) * 2.0 / local
    hop = Term(P2p(shard_bytes * 2 * (nodes - 1) / nodes, True), count, label)
    return ([Term(AllReduce(elems, local), count, label)] if local > 1 else []) + [hop]


def _ar(elems, tp: int, count: float, system: SystemSpec | None = None) -> list[Term]:
    return all_reduce_terms(elems, tp, system, count, Op.MOE_ALL_REDUCE)


def _gather_scatter(elems, gpus: int, count: float) -> list[Term]:
    """All-gather of every DP rank's tokens before the experts, reduce-scatter of their outputs after."""
    return [_nccl("all_gather", elems, gpus, count, Op.MOE_DISPATCH),
            _nccl("reduce_scatter", elems, gpus, count, Op.MOE_COMBINE)]


def nvlink_rack(system: SystemSpec) -> bool:
    """GB200/GB300 NVL72: the links between trays are NVLink (SystemSpec.nvlink_rack, hardware data), where
    TRT-LLM uses its all-to-all kernels."""
    return system.nvlink_rack


# TensorRT-LLM's NVLink all-to-all per MoE backend (moe_config.backend) on an NVLink rack, attention DP with
# moe_tp = 1 (TRT-LLM 1.2 / 1.3, tensorrt_llm/_torch/modules/fused_moe/): CutlassFusedMoE and
# TRTLLMGenFusedMoE `select_alltoall_method_type` return NVLinkOneSided unless TRTLLM_FORCE_ALLTOALL_METHOD
# names another ("We found that NVLinkOneSided performs better than NCCL AllGather/ReduceScatter ... We
# favor NVLinkOneSided"), CuteDslFusedMoE and DeepGemmFusedMoE are CutlassFusedMoEs, and
# CommunicationFactory.create_strategy (ConfigurableMoE) tries NVLinkOneSided first; WideEPMoE picks
# MNNVL = NVLinkTwoSided and refuses NVLinkOneSided ("NVLinkOneSided is not supported for WideEPMoE").
# Only NVLinkTwoSided has a prepare phase (prepare_dispatch: the routing exchange before the payload).
NVLINK_KERNEL = {MoeKernel.CUTLASS: NvlinkKernel.ONE_SIDED, MoeKernel.TRTLLM: NvlinkKernel.ONE_SIDED,
                 MoeKernel.CUTEDSL: NvlinkKernel.ONE_SIDED, MoeKernel.WIDEEP: NvlinkKernel.TWO_SIDED,
                 MoeKernel.DEEPGEMM: NvlinkKernel.ONE_SIDED}
# Per expert format: the activations' format on the wire (the table's moe_dtype) and the combine. NVFP4
# experts quantize before dispatch (post-quant all-to-all, TRTLLM_MOE_POST_QUANT_ALLTOALLV=1 by default) and
# combine in NVFP4 (moe_config.use_low_precision_moe_combine, which the NVL72 DEP decode recipes set:
# NVIDIA/srt-slurm recipes/trtllm gen workers); FP8 / MXFP8-activation experts send FP8 (the table's fp8
# rows); the rest BF16; those combine their BF16 outputs.
NVLINK_WIRE = {"nvfp4": ("nvfp4", NvlinkOp.COMBINE_LOW_PRECISION), "fp8": ("fp8", NvlinkOp.COMBINE),
               "fp8_block": ("fp8", NvlinkOp.COMBINE), "w4a8_mxfp4_mxfp8": ("fp8", NvlinkOp.COMBINE)}


def nvlink_a2a_terms(arch, engine, system, tokens, n) -> list[Term]:
    """Prepare (two-sided only), dispatch and combine of the engine's NVLink all-to-all, in the formats of
    NVLINK_WIRE; a prefill worker's combine is the standard one (model/disagg_workers.py normal_kernels).
    Tokens per rank, undivided."""
    moe = arch.mlp.moe
    kernel = NVLINK_KERNEL[moe_kernel(Backend.TRTLLM, engine)]
    wire, combine = NVLINK_WIRE.get(expert_dtype(arch, engine, system, Backend.TRTLLM), ("bf16", NvlinkOp.COMBINE))
    key = (arch.hidden_size, moe.top_k, moe.num_experts, engine.moe_ep)
    ops = [(NvlinkOp.DISPATCH, Op.MOE_DISPATCH), (combine, Op.MOE_COMBINE)]
    if kernel is NvlinkKernel.TWO_SIDED:
        ops.insert(0, (NvlinkOp.PREPARE, Op.MOE_DISPATCH))
    return [Term(NvlinkA2a(tokens, *key, op, wire, kernel), n, label) for op, label in ops]


def _comm_trtllm(arch, engine, system, tokens, group, n):
    h = arch.hidden_size
    if engine.dp == 1:
        return _ar(tokens * h, engine.tp, n, system)
    if engine.moe_tp == 1 and nvlink_rack(system):
        return nvlink_a2a_terms(arch, engine, system, tokens, n)
    return _gather_scatter(group * h, engine.tp * engine.dp, n)


def _comm_vllm(arch, engine, system, tokens, group, n):
    """vLLM with data parallelism and expert parallelism (EP = TP x DP): the all-gather before the experts
    and the reduce-scatter after them run over the *DP group* (the dp ranks holding one TP position;
    each TP rank of a DP rank holds the same tokens), then the TP group all-reduces the partial expert
    outputs (vLLM's FusedMoE reduce_results). The DP group strides over the whole engine, so it spans
    nodes when tp x dp does."""
    h, tp, dp = arch.hidden_size, engine.tp, engine.dp
    out = _ar(tokens * h, tp, n, system)
    if dp == 1:
        return out
    elems = group * h
    return out + (_collective("all_gather", elems, dp, tp * dp, system, n, Op.MOE_DISPATCH)
                  + _collective("reduce_scatter", elems, dp, tp * dp, system, n, Op.MOE_COMBINE))


def _comm_sglang(arch, engine, system, tokens, group, n):
    h, tp, dp = arch.hidden_size, engine.tp, engine.dp
    if tp > 1 and dp > 1:  # reduce-scatter on the attention TP, all-gather over every GPU
        return [_nccl("all_gather", group * h, tp * dp, n, Op.MOE_DISPATCH),
                _nccl("reduce_scatter", tokens * h, tp, n, Op.MOE_COMBINE)]
    return _ar(tokens * h, tp, n, system) if dp == 1 else _gather_scatter(group * h, dp, n)


def moe_kernel(backend: Backend | None, engine: Engine) -> MoeKernel:
    """The MoE backend the experts run on: the engine's on TensorRT-LLM (backend None prices its pattern),
    the table's default lane elsewhere (vLLM's and SGLang's tables hold their own default kernels)."""
    return engine.moe_kernel if backend in (None, Backend.TRTLLM) else MoeKernel.CUTLASS


def _wide_ep(backend: Backend | None, engine: Engine, system: SystemSpec) -> bool:
    """Whether the framework launches this engine with its wide-EP all-to-all (capabilities.wide_ep)."""
    from .framework import framework
    from .wide_ep import a2a_backend

    return backend is not None and a2a_backend(framework(backend).capabilities.wide_ep, engine,
                                               system.gpus_per_node) is not None


# How each framework moves tokens to and from the experts (peer §1.3); one place to change per framework.
_COMM = {Backend.TRTLLM: _comm_trtllm, Backend.VLLM: _comm_vllm, Backend.SGLANG: _comm_sglang}


def moe_layer_terms(arch: ModelArch, engine: Engine, system: SystemSpec, tokens: np.ndarray, count: float,
                    backend: Backend | None = None, group_tokens: np.ndarray | None = None,
                    decode: np.ndarray | None = None) -> list[Term]:
    """Router, shared experts, expert compute and dispatch/combine of `count` MoE layers, for `tokens`
    tokens per attention-DP rank (an array over step shapes) and `group_tokens` over all the ranks the
    experts serve (None: tokens x dp, every rank as loaded as this one). `backend` None prices TRT-LLM's
    pattern. `decode` (1 where a step shape is a decode-only batch; None: none is) matters only where
    the framework runs a wide-EP all-to-all (SGLang DeepEP, model/deepep_ops.py), whose kernels differ
    between decode and prefill batches."""
    group = tokens * engine.dp if group_tokens is None else np.asarray(group_tokens, dtype=float)
    moe, h, tp = arch.mlp.moe, arch.hidden_size, engine.tp
    terms = [Term(Gemm(tokens, moe.num_experts, h, "bf16"), count, Op.ROUTER_GEMM)]
    shared = []
    if moe.shared_intermediate:
        s, q = -(-moe.shared_intermediate // tp), gemm_dtype(arch, engine, WeightRole.SHARED_EXPERT)
        shared = [Term(Gemm(tokens, 2 * s, h, q), count, Op.SHARED_EXPERT_GEMM, stream=Stream.SHARED),
                  Term(Gemm(tokens, h, s, q), count, Op.SHARED_EXPERT_GEMM, stream=Stream.SHARED),
                  Term(MemoryOp(tokens * 2.0 * 3 * s), count, Op.ELEMENTWISE, analytic=True, stream=Stream.SHARED)]
    dtype = expert_dtype(arch, engine, system, backend)
    if _wide_ep(backend, engine, system):
        from .deepep_ops import deepep_terms

        mask = np.zeros(np.shape(tokens)) if decode is None else decode
        return _routed(terms[:1] + shared + deepep_terms(arch, engine, tokens, group, mask, dtype, DISTRIBUTION, count))
    key = (h, moe.expert_intermediate, moe.top_k, moe.num_experts, engine.moe_tp, engine.moe_ep, dtype, DISTRIBUTION,
           moe_kernel(backend, engine))
    terms.append(Term(Moe(group, *key), count, Op.MOE_EXPERTS))
    return _routed(terms[:1] + shared + terms[1:] + _COMM[backend or Backend.TRTLLM](arch, engine, system, tokens,
                                                                                     group, count))


# The ops of the routed path a framework's shared-expert stream runs beside (the router and the fused MoE
# module: its token exchange, experts and combine); a TP all-reduce of the summed output follows both.
_ROUTED_OPS = frozenset({Op.ROUTER_GEMM, Op.MOE_EXPERTS, Op.MOE_DISPATCH, Op.MOE_COMBINE})


def _routed(terms: list[Term]) -> list[Term]:
    return [replace(t, stream=Stream.ROUTED) if t.op in _ROUTED_OPS else t for t in terms]


def shared_overlap(arch: ModelArch, backend: Backend | None, tokens: np.ndarray,
                   decode: np.ndarray | None) -> np.ndarray | None:
    """Step shapes whose shared expert runs beside the routed path (model/ops.py OpGroup.overlap), for a model
    with shared experts on a framework whose file gives capabilities.shared_expert_stream: its decode-only
    steps (`decode` 1; None: none is) where the stream is decode_only (CUDA-graph replays), and only up to
    its token threshold (`tokens`: one attention-DP rank's, as the module sees them). None: no shape is."""
    from .framework import framework

    stream = framework(backend or Backend.TRTLLM).capabilities.shared_expert_stream
    if stream is None or arch.mlp.moe is None or not arch.mlp.moe.shared_intermediate:
        return None
    if stream.decode_only and decode is None:
        return None
    mask = np.asarray(decode) > 0 if stream.decode_only else np.ones(np.shape(tokens), dtype=bool)
    return mask if stream.max_tokens is None else mask & (np.asarray(tokens) <= stream.max_tokens)
