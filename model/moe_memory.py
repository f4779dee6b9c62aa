"""Memory per GPU of a MoE, MLA or hybrid-attention engine, from the architecture's components.

model/memory.py prices a dense GQA model from its flat fields (and keeps those numbers); every other design
is priced here from the architecture layer's pure functions: weights per GPU from model/weights.py (routed
experts spread over moe_ep and cut by moe_tp, shared experts and dense layers under the attention TP, the
router and MLA down-projections replicated, attention copied on every attention-DP rank), the cache from
model/kv_cache.py (MLA's latent KV on every attention-TP rank, sliding-window layers capped at the window,
linear-attention state per request). The framework's memory fraction applies as in model/memory.py.

Assumed sizes, stated here because no framework publishes them as one number:
* activations of one budget-full step per GPU, BF16: 4 x hidden per token (residual, norms, attention
  output) plus twice the widest MLP intermediate the GPU computes for it: the dense MLP (2 x I / tp), the
  shared experts (2 x S / tp), or the routed experts (top_k x dp / moe_ep token copies per rank token, each
  2 x I_e / moe_tp wide);
* all-to-all buffers when moe_ep > 1: dispatch plus combine of the step's routed token copies in BF16,
  2 x token_budget x top_k x hidden x 2 bytes (DeepSeek-V3, 8192 tokens: 1.75 GiB) — except on an engine
  the framework launches with DeepEP (model/wide_ep.py `a2a_backend`): there the tokens move through
  DeepEP's own buffer, whose size is not assumed but computed as DeepEP sizes it from the framework's
  settings (model/deepep_memory.py; DeepSeek-V3 at EP 16: 2.16 GiB), and that buffer is charged instead;
* runtime: the framework's reserve plus 0.4 GiB of communicator buffers on a multi-GPU engine (memory.py).
Attention DP: each rank caches its own requests, so the engine holds dp times one GPU's requests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sloplan.perfdb import SystemSpec

from .arch import ModelArch
from .engine import Engine
from .framework import FrameworkProfile, KvFractionOf
from .attention import LayerAttention
from .kv_cache import KvFootprint, kv_footprint, layer_kv
from .layers import WeightRole
from .memory import GIB, MemoryPlan
from .weight_format import WeightFormat
from .weights import Sharding, WeightBytes, weight_bytes_per_gpu
from .deepep_memory import deepep_buffer_bytes, unlaunchable_reason
from .wide_ep import DeepEpBuffers, a2a_backend

_BF16 = 2.0


def uses_components(arch: ModelArch) -> bool:
    """Whether memory comes from the components: anything but a dense GQA model with one kind of layer."""
    return not arch.uniform_dense


@dataclass(frozen=True)
class ComponentMemoryPlan(MemoryPlan):
    """A MemoryPlan whose KV per request follows the layer kinds (windows, per-request state) and whose
    requests add up over the attention-DP ranks. kv_tokens: tokens of full-attention KV the ranks hold."""

    parts: WeightBytes
    footprint: KvFootprint
    dp: int
    all_to_all_bytes: float
    deepep: DeepEpBuffers | None = None  # set: all_to_all_bytes is the DeepEP buffer it launches with (docstring)

    def max_requests(self, tokens_per_request: float) -> int:
        per_request = self.footprint.bytes_for(max(tokens_per_request, 1.0))
        return int(self.kv_budget_bytes // max(per_request, 1.0)) * self.dp

    @property
    def as_gib(self) -> dict[str, float]:
        return {**super().as_gib, "experts": round(self.parts.experts / GIB, 2),
                "all_to_all": round(self.all_to_all_bytes / GIB, 2)}


def sharding(engine: Engine) -> Sharding:
    return Sharding(engine.tp, engine.pp, engine.dp, engine.moe_tp, engine.moe_ep)


def served_formats(arch: ModelArch, engine: Engine) -> dict[WeightRole, WeightFormat]:
    """The formats the engine holds the quantized weights in where its GEMM format is not the checkpoint's
    (a BF16 checkpoint served in FP8, an FP8 catalog entry served from its NVFP4 checkpoint); else as
    stored, which keeps what the checkpoint left in BF16 or stores in MXFP4 / INT4."""
    served = WeightFormat.of(engine.quant.gemm)
    if arch.checkpoint_format.gemm is None or served is arch.checkpoint_format:
        return {}
    return {role: served for role in (WeightRole.ATTENTION, WeightRole.DENSE_MLP, WeightRole.SHARED_EXPERT,
                                      WeightRole.EXPERT)}


def activation_bytes(arch: ModelArch, engine: Engine, token_budget: int) -> float:
    """Peak activations of one budget-full step on one GPU (module docstring)."""
    widest = 2 * arch.intermediate_size / engine.tp
    moe = arch.mlp.moe
    if moe:
        routed = moe.top_k * engine.dp / engine.moe_ep * 2 * moe.expert_intermediate / engine.moe_tp
        widest = max(widest, 2 * moe.shared_intermediate / engine.tp, routed)
    return float(token_budget * _BF16 * (4 * arch.hidden_size + 2 * widest))


def all_to_all_bytes(arch: ModelArch, engine: Engine, token_budget: int, deepep: DeepEpBuffers | None = None) -> float:
    """Dispatch + combine buffers of an expert-parallel engine (module docstring); 0 without EP.
    `deepep`: the framework's DeepEP buffer settings when the engine is launched with DeepEP."""
    moe = arch.mlp.moe
    if not moe or engine.moe_ep == 1:
        return 0.0
    if deepep is not None:
        return deepep_buffer_bytes(deepep, arch.hidden_size, moe.num_experts, engine.moe_ep)
    return 2.0 * token_budget * moe.top_k * arch.hidden_size * _BF16


def deepep_settings(engine: Engine, system: SystemSpec, fw: FrameworkProfile) -> DeepEpBuffers | None:
    """The DeepEP buffer settings `engine` allocates under `fw` on `system`: the framework's, when it
    launches the engine with its wide-EP all-to-all (the decision the launch and the pricing read)."""
    from .framework import framework

    rule = framework(fw.backend).capabilities.wide_ep
    if rule is None or rule.buffers is None or a2a_backend(rule, engine, system.gpus_per_node) is None:
        return None
    return rule.buffers


def mtp_weight_bytes(arch: ModelArch, parts: WeightBytes, draft_tokens: int) -> float:
    """The MTP layers a speculating server loads beside the model (ModelArch.mtp_params; they share its
    embedding and LM head), per GPU: sharded as the model's layers are, so their share of its linear
    weights per GPU (DeepSeek-V3 at tp 8, FP8: ~1.4 GiB). Nothing when the engine does not speculate."""
    if not draft_tokens or not arch.mtp_layers:
        return 0.0
    return (parts.total - parts.embeddings) * arch.mtp_params / arch.weight_params


def with_mtp_kv(foot: KvFootprint, arch: ModelArch, sharding: Sharding, engine: Engine,
                draft_tokens: int) -> KvFootprint:
    """The cache per token with the MTP layers' own: a speculating server keeps a full-attention cache for
    each MTP layer it loads beside the model's (TensorRT-LLM's KV cache manager is built with
    num_hidden_layers + get_num_spec_layers(spec_config) layers, tensorrt_llm/_torch/pyexecutor/_util.py;
    SGLang's draft worker keeps a pool of the same token count). The checkpoint's MTP layers, as
    mtp_weight_bytes loads: TRT-LLM releases before MTP-Eagle's one-layer count allocated one per draft
    token, a few per cent more of a DeepSeek cache. Nothing when the engine does not speculate."""
    if not draft_tokens or not arch.mtp_layers:
        return foot
    per_token, _ = layer_kv(arch, LayerAttention.FULL, sharding.tp, engine.quant.kv)
    return replace(foot, full_bytes_per_token=foot.full_bytes_per_token + arch.mtp_layers * per_token)


def component_memory_plan(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile,
                          kv_fraction: float | None = None) -> ComponentMemoryPlan:
    """KV budget per GPU under the framework's own definition of its memory fraction (as memory.py)."""
    cap, shard = system.mem_capacity_bytes, sharding(engine)
    parts = weight_bytes_per_gpu(arch, shard, served_formats(arch, engine))
    weights = parts.total + mtp_weight_bytes(arch, parts, fw.draft_tokens)
    act = activation_bytes(arch, engine, fw.token_budget)
    deepep = deepep_settings(engine, system, fw)
    a2a = all_to_all_bytes(arch, engine, fw.token_budget, deepep)
    runtime = fw.runtime_reserve_bytes + (0.4 * GIB if engine.gpus > 1 else 0.0) + a2a
    f = fw.kv_fraction if kv_fraction is None else kv_fraction
    used = weights + act + runtime
    budget = max(f * (cap - used) if fw.kv_fraction_of is KvFractionOf.FREE_AFTER_WEIGHTS else f * cap - used, 0.0)
    foot = with_mtp_kv(kv_footprint(arch, shard, engine.quant.kv), arch, shard, engine, fw.draft_tokens)
    tokens = int(budget // max(foot.bytes_per_token, 1.0)) * engine.dp
    return ComponentMemoryPlan(cap, weights, act, runtime, budget, foot.bytes_per_token, tokens,
                               parts=parts, footprint=foot, dp=engine.dp, all_to_all_bytes=a2a,
                               deepep=deepep)


def too_big_reason(plan: MemoryPlan, engine: Engine) -> str:
    """Why an engine that does not fit is rejected, naming the experts each GPU holds (the rejected list)."""
    if isinstance(plan, ComponentMemoryPlan) and plan.deepep and math.isinf(plan.all_to_all_bytes):
        return unlaunchable_reason(plan.deepep, engine.moe_ep)
    if isinstance(plan, ComponentMemoryPlan) and plan.parts.experts:
        buffers = f" + {plan.all_to_all_bytes / GIB:.1f} GiB of DeepEP buffers" if plan.deepep else ""
        return (f"needs {plan.parts.experts / GIB:.1f} GiB of experts per GPU (moe_ep={engine.moe_ep}, "
                f"moe_tp={engine.moe_tp}) + {(plan.weights_bytes - plan.parts.experts) / GIB:.1f} GiB of other "
                f"weights{buffers} of {plan.capacity_bytes / GIB:.0f} GiB")
    return f"needs {plan.weights_bytes / GIB:.1f} GiB of weights per GPU"
