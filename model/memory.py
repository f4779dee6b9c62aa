"""Memory: weights, KV per token, runtime reserve, and the framework's KV budget → max concurrency."""
from __future__ import annotations

from dataclasses import dataclass

from sloplan.perfdb import SystemSpec

from .arch import ModelArch
from .engine import Engine
from .framework import FrameworkProfile, KvFractionOf

GIB = 1024**3


@dataclass(frozen=True)
class MemoryPlan:
    """Per-GPU memory of one engine under one framework, bytes."""

    capacity_bytes: float
    weights_bytes: float
    activations_bytes: float
    runtime_bytes: float
    kv_budget_bytes: float
    kv_bytes_per_token: float  # per GPU, for one token of one sequence
    kv_tokens: int  # tokens of KV the budget holds (per replica: every GPU holds its shard)

    @property
    def fits(self) -> bool:
        return self.kv_tokens > 0

    def max_requests(self, tokens_per_request: float) -> int:
        """Requests that can hold KV at once when each holds `tokens_per_request` tokens."""
        return int(self.kv_tokens // max(tokens_per_request, 1.0))

    @property
    def as_gib(self) -> dict[str, float]:
        return {k: round(v / GIB, 2) for k, v in (
            ("capacity", self.capacity_bytes), ("weights", self.weights_bytes),
            ("activations", self.activations_bytes), ("runtime", self.runtime_bytes),
            ("kv_cache", self.kv_budget_bytes))}


def kv_tokens_per_request(arch: ModelArch, isl: int, osl: int, osl_share: float = 1.0) -> float:
    """KV tokens a request holds with `osl_share` of its output generated (1.0: its longest; the
    framework's `reserve_per_request_osl`: its average under that allocation policy); a
    sliding-window model never keeps more than the window."""
    tokens = isl + osl_share * osl
    return min(tokens, arch.sliding_window) if arch.sliding_window else tokens


def weights_per_gpu(arch: ModelArch, engine: Engine) -> float:
    """Linear layers in the engine's format plus BF16 embeddings, split over TP and PP."""
    linear = arch.weight_params * engine.quant.gemm.weight_bytes / (engine.tp * engine.pp)
    emb = arch.embedding_params * 2.0 / engine.tp
    if engine.pp > 1:
        emb /= 2  # embedding on the first stage, LM head on the last
    return linear + emb


def kv_bytes_per_token(arch: ModelArch, engine: Engine) -> float:
    """K and V for every layer this GPU holds, for one token."""
    return 2.0 * engine.layers_per_stage(arch) * engine.kv_heads_per_gpu(arch) * arch.head_dim * engine.quant.kv.bytes


def activation_bytes(arch: ModelArch, engine: Engine, token_budget: int) -> float:
    """Peak activations of one forward step at the token budget (BF16; MLP intermediate dominates)."""
    per_token = 2 * (4 * arch.hidden_size + 2 * (2 * arch.intermediate_size // engine.tp))
    return float(token_budget * per_token)


def memory_plan(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile,
                kv_fraction: float | None = None) -> MemoryPlan:
    """KV budget per GPU under the framework's own definition of its memory fraction. MoE, MLA and
    hybrid-attention models: from their components (model/moe_memory.py)."""
    if not arch.uniform_dense:
        from . import moe_memory  # imports this module

        return moe_memory.component_memory_plan(arch, engine, system, fw, kv_fraction)
    cap = system.mem_capacity_bytes
    w = weights_per_gpu(arch, engine)
    act = activation_bytes(arch, engine, fw.token_budget)
    runtime = fw.runtime_reserve_bytes + (0.4 * GIB if engine.tp > 1 else 0.0)
    f = fw.kv_fraction if kv_fraction is None else kv_fraction
    if fw.kv_fraction_of is KvFractionOf.FREE_AFTER_WEIGHTS:
        budget = f * (cap - w - act - runtime)
    else:
        budget = f * cap - w - act - runtime
    per_tok = kv_bytes_per_token(arch, engine)
    tokens = int(max(budget, 0.0) // per_tok)
    return MemoryPlan(cap, w, act, runtime, max(budget, 0.0), per_tok, tokens)
