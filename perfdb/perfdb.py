"""PerfDB: latency of every primitive for one (system, backend, version), vectorized and tier-tagged.

Every table-backed lookup follows one recipe: compute the op's speed of light (sol.py), look up the
utilization (SOL / measured latency) in a filled log-space grid (grid.py), return SOL / util. Where a
system or slice has no table, the roofline is divided by the median utilization measured for the same
family (on this system, else on its catalog donor) and tagged ROOFLINE.
"""
from __future__ import annotations

from collections.abc import Callable

from . import analytic, sol  # noqa: F401 — analytic registers its answers
from . import family as family_mod
from . import queries as q
from . import comm as _comm, deepep as _deepep  # noqa: F401 — register their answers
from .dense import KV_DTYPES  # noqa: F401 — registers the dense answers; KV_DTYPES's old home (tests)
from .encoder import EncoderMixin
from .fallback import Fallback
from .grid import Grid
from .linear_attention import LinearAttentionMixin
from .lookup import Lookup, finish
from . import mla as _mla, moe as _moe  # noqa: F401 — register their answers
from .mhc import MhcMixin
from . import quantize as _quantize  # noqa: F401 — registers its answers
from .sparse import SparseAttentionMixin
from .system_spec import SystemSpec
from .sparse_grid import SparseGrid
from .store import FamilyStore
from .tier import Tier
from .wideep import WideEpMixin



class PerfDB(SparseAttentionMixin, LinearAttentionMixin,
             EncoderMixin, MhcMixin, WideEpMixin):
    """Primitive latencies for one (system, backend, version). Build with `load_perfdb`.

    Family methods live in their modules: comm.py (nccl, moe_a2a), moe.py (moe), mla.py (context_mla,
    generation_mla, mla_module, mla_bmm), analytic.py (embedding); read on first use (store.py):
    sparse.py (dsa_module, glm5_kernel), linear_attention.py (gdn, mamba2), quantize.py (quantize,
    gemm_fp8_static), encoder.py (encoder_attention), mhc.py (mhc), wideep.py (wideep_moe, wideep_mla,
    wideep_mlp), deepep.py (deepep). The mixins hold no state: grids, filled grids, medians, lanes and the
    families read live in `self.store` (store.FamilyStore, each family described by its `family.Family`
    record); the ROOFLINE tier is `self.fallback` (fallback.Fallback: a sibling dtype's or the catalog
    donor's latency at the same shape, else the median)."""

    def __init__(self, system: SystemSpec, backend: str, version: str, grids: dict[str, SparseGrid],
                 lanes: dict, eff: dict, fallback_eff: dict | None = None, cache_file=None,
                 donor: Callable[[], "PerfDB | None"] | None = None):
        """`donor`: called once, on the first ROOFLINE query that borrows a shape, for the catalog donor's
        PerfDB (or None); without it nothing is borrowed across GPUs (fallback.py)."""
        self.system, self.backend, self.version = system, backend, version
        self.store = FamilyStore(system, backend, version, grids, lanes, eff, cache_file)
        self.fallback = Fallback(system, self.store, donor, fallback_eff)

    # ----------------------------------------------------------------- the store's state, by its old names
    lanes = property(lambda self: self.store.lanes, doc="chosen kernel_source lane per grid / family")
    eff = property(lambda self: self.store.eff, doc="median measured util per grid and per family")
    _sparse = property(lambda self: self.store.sparse)
    _cache_file = property(lambda self: self.store.cache_file)

    @property
    def _overlay(self):
        return self.store.overlay

    @_overlay.setter
    def _overlay(self, ov) -> None:  # loader.py: families read on first use read under the same overlay
        self.store.overlay = ov

    def grid(self, name: str) -> Grid | None:
        """Densified, filled grid of one slice (FamilyStore.grid)."""
        return self.store.grid(name)

    def grid_names(self) -> list[str]:
        return sorted(self.store.sparse)

    def families_read(self) -> list[str]:
        """The lazily read families this PerfDB has read so far (MoE curves count as "moe")."""
        return self.store.families_read()

    def efficiency(self, family: str, name: str | None = None) -> float:
        """Median measured util of a slice / family, else the donor's, else a default (Fallback.efficiency)."""
        return self.fallback.efficiency(family, name)

    @staticmethod
    def _finish(sol_s, lu, tier, floor=Tier.MEASURED) -> Lookup:
        return finish(sol_s, lu, tier, floor)

    def _bw(self, num_gpus: int) -> float:
        return sol.link_bw_bytes_per_s(self.system, num_gpus)

    # ----------------------------------------------------------------- the facade
    def latency(self, query) -> Lookup:
        """The answer to one typed query (queries.py): the function its family's module registered for the
        query's type (family.answers), given this db's system, store and fallback."""
        try:
            answer = family_mod.ANSWERS[type(query)]
        except KeyError:
            raise TypeError(f"not a perfdb query: {type(query).__name__}") from None
        return answer(self, query)

    # ----------------------------------------------------------------- one-line wrappers (the notebook API)
    def gemm(self, m, n: int, k: int, dtype: str) -> Lookup:
        """[m,k]×[k,n] GEMM latency; m is an array of token counts (≥1) (queries.Gemm)."""
        return self.latency(q.Gemm(m, n, k, dtype))

    def context_attention(self, batch, new_tokens, prefix, num_heads: int, num_kv_heads: int,
                          head_dim: int, window: int, kv_dtype: str) -> Lookup:
        """Prefill attention per layer (queries.ContextAttention)."""
        return self.latency(q.ContextAttention(batch, new_tokens, prefix, num_heads, num_kv_heads, head_dim,
                                               window, kv_dtype))

    def generation_attention(self, batch, kv_len, num_heads: int, num_kv_heads: int, head_dim: int,
                             window: int, kv_dtype: str) -> Lookup:
        """One decode step per layer (queries.GenerationAttention)."""
        return self.latency(q.GenerationAttention(batch, kv_len, num_heads, num_kv_heads, head_dim, window,
                                                  kv_dtype))

    def all_reduce(self, message_elems, num_gpus: int) -> Lookup:
        """bf16 all-reduce (custom AR, else NCCL) (queries.AllReduce)."""
        return self.latency(q.AllReduce(message_elems, num_gpus))

    def p2p(self, nbytes, cross_node: bool) -> Lookup:
        """Point-to-point send (queries.P2p)."""
        return self.latency(q.P2p(nbytes, cross_node))

    def memory_op(self, nbytes) -> Lookup:
        """Memory-bound kernel moving `nbytes` (queries.MemoryOp)."""
        return self.latency(q.MemoryOp(nbytes))

    def quantize(self, m, k: int, op: str = "compute_scale", dtype: str = "fp8") -> Lookup:
        """Activation quantization, `op` compute_scale / scale_matrix (queries.Quantize)."""
        return self.latency(q.Quantize(m, k, op, dtype))

    def gemm_fp8_static(self, m, n: int, k: int, fp8_input: bool = False) -> Lookup:
        """fp8 GEMM with a static activation scale (queries.GemmFp8Static)."""
        return self.latency(q.GemmFp8Static(m, n, k, fp8_input))

    def nccl(self, op: str, message_elems, num_gpus: int, dtype: str = "bf16") -> Lookup:
        """NCCL collective (queries.Nccl)."""
        return self.latency(q.Nccl(op, message_elems, num_gpus, dtype))

    def moe_a2a(self, num_tokens, hidden: int, topk: int, num_experts: int, ep_size: int,
                phase: str = "dispatch", dtype: str = "bf16", kernel: str = "ll") -> Lookup:
        """MoE expert-parallel all-to-all (queries.MoeA2a)."""
        return self.latency(q.MoeA2a(num_tokens, hidden, topk, num_experts, ep_size, phase, dtype, kernel))

    def moe(self, num_tokens, hidden: int, inter: int, topk: int, num_experts: int, moe_tp: int, moe_ep: int,
            dtype: str = "bf16", distribution: str = "power_law_1.2") -> Lookup:
        """MoE expert compute of one layer on one GPU (queries.Moe)."""
        return self.latency(q.Moe(num_tokens, hidden, inter, topk, num_experts, moe_tp, moe_ep, dtype,
                                  distribution))

    def context_mla(self, batch, new_tokens, prefix, num_heads: int, kv_dtype: str = "bf16") -> Lookup:
        """MLA prefill per layer per GPU (queries.ContextMla)."""
        return self.latency(q.ContextMla(batch, new_tokens, prefix, num_heads, kv_dtype))

    def generation_mla(self, batch, kv_len, num_heads: int, kv_dtype: str = "bf16") -> Lookup:
        """One MLA decode step per layer per GPU (queries.GenerationMla)."""
        return self.latency(q.GenerationMla(batch, kv_len, num_heads, kv_dtype))

    def mla_module(self, phase: str, batch, seq, num_heads: int, kv_dtype: str = "bf16",
                   gemm_dtype: str = "fp8_block") -> Lookup:
        """Whole DeepSeek-V3 attention module (queries.MlaModule)."""
        return self.latency(q.MlaModule(phase, batch, seq, num_heads, kv_dtype, gemm_dtype))

    def mla_bmm(self, num_tokens, num_heads: int, dtype: str = "bf16", phase: str = "pre") -> Lookup:
        """Decode absorption BMM (queries.MlaBmm)."""
        return self.latency(q.MlaBmm(num_tokens, num_heads, dtype, phase))

    def deepep(self, num_tokens, hidden: int, topk: int, num_experts: int, phase: str = "dispatch",
               kernel: str = "ll", num_nodes: int = 1, sms: int | None = None) -> Lookup:
        """SGLang DeepEP dispatch / combine (queries.DeepEp)."""
        return self.latency(q.DeepEp(num_tokens, hidden, topk, num_experts, phase, kernel, num_nodes, sms))

    def embedding(self, tokens, hidden: int, dtype_bytes: float = 2.0) -> Lookup:
        """Embedding gather (queries.Embedding)."""
        return self.latency(q.Embedding(tokens, hidden, dtype_bytes))

    def __repr__(self) -> str:
        return f"PerfDB({self.system.name}, {self.backend}, {self.version}, {len(self.store.sparse)} grids)"

