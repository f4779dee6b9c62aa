"""PerfDB: latency of every primitive for one (system, backend, version), vectorized and tier-tagged.

A thin facade. `db.latency(query)` answers a typed query (queries.py) with the function its family's module
registered for the query's type (family.answers): GEMM, attention, all-reduce in dense.py; comm.py (NCCL,
MoE all-to-all), deepep.py, moe.py, mla.py, sparse.py, linear_attention.py, quantize.py, encoder.py,
mhc.py, wideep.py (p2p, memory ops and embedding in dense.py too). Those functions hold no state: they read this
db's `system`, its `store` (store.FamilyStore: grids, filled grids, medians, lanes, families read) and its
`fallback` (fallback.Fallback: the ROOFLINE tier). The per-family methods below (`db.gemm(...)`, …) are
one-line wrappers kept for the notebook API and every caller: same signatures, same answers.

Every table-backed answer follows one recipe: compute the op's speed of light (sol.py), look up the
utilization (SOL / measured latency) in a filled log-space grid (grid.py), return SOL / util. Where a
system or slice has no table, the fallback answers (donor's or sibling dtype's util at the same shape, else
the family median) and tags it ROOFLINE.
"""
from __future__ import annotations

from collections.abc import Callable

from . import family as family_mod
from . import queries as q
from .dense import KV_DTYPES  # noqa: F401 — registers the dense answers; KV_DTYPES's old home (tests)
from .fallback import Fallback
from .grid import Grid
from .lookup import Lookup
from .system_spec import SystemSpec
from .sparse_grid import SparseGrid
from .store import FamilyStore


class PerfDB:
    """Primitive latencies for one (system, backend, version). Build with `load_perfdb`."""

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

    # ----------------------------------------------------------------- the facade
    def latency(self, query) -> Lookup:
        """The answer to one typed query (queries.py): the function its family's module registered for the
        query's type (family.answers), given this db's system, store and fallback."""
        answer = family_mod.ANSWERS.get(type(query)) or _answer_after_registering(type(query))
        return answer(self, query)

    def latencies(self, queries) -> list[Lookup]:
        """Each query's answer, in order, with one lookup per distinct (type, scalar fields) (batch.py, imported
        on first use: a solve that asks one query at a time does not load it)."""
        from . import batch

        return batch.answer_all(self, queries)

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

    def nvlink_a2a(self, num_tokens, hidden: int, topk: int, num_experts: int, ep_size: int,
                   op: q.NvlinkOp = q.NvlinkOp.DISPATCH, dtype: str = "bf16",
                   kernel: q.NvlinkKernel = q.NvlinkKernel.TWO_SIDED) -> Lookup:
        """TensorRT-LLM NVLink all-to-all phase (queries.NvlinkA2a)."""
        return self.latency(q.NvlinkA2a(num_tokens, hidden, topk, num_experts, ep_size, op, dtype, kernel))

    def moe(self, num_tokens, hidden: int, inter: int, topk: int, num_experts: int, moe_tp: int, moe_ep: int,
            dtype: str = "bf16", distribution: str = "power_law_1.2",
            kernel: q.MoeKernel = q.MoeKernel.CUTLASS) -> Lookup:
        """MoE expert compute of one layer on one GPU (queries.Moe)."""
        return self.latency(q.Moe(num_tokens, hidden, inter, topk, num_experts, moe_tp, moe_ep, dtype,
                                  distribution, kernel))

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

    def deepep_moe(self, num_tokens, decode, hidden: int, inter: int, topk: int, num_experts: int, moe_ep: int,
                   dtype: str = "fp8_block", distribution: str = "power_law_1.2") -> Lookup:
        """SGLang DeepEP expert compute, context / generation table by element (queries.DeepEpMoe)."""
        return self.latency(q.DeepEpMoe(num_tokens, decode, hidden, inter, topk, num_experts, moe_ep, dtype,
                                        distribution))

    def deepep_step(self, num_tokens, decode, hidden: int, topk: int, num_experts: int, phase: str = "dispatch",
                    num_nodes: int = 1) -> Lookup:
        """SGLang DeepEP dispatch / combine, low-latency or normal kernels by element (queries.DeepEpStep)."""
        return self.latency(q.DeepEpStep(num_tokens, decode, hidden, topk, num_experts, phase, num_nodes))

    def dsa_module(self, phase: str, batch, seq, num_heads: int, kv_dtype: str = "bf16",
                   gemm_dtype: str = "fp8_block", model: str = "dsv32", prefix=0) -> Lookup:
        """Whole DSA attention module per layer per GPU (queries.DsaModule)."""
        return self.latency(q.DsaModule(phase, batch, seq, num_heads, kv_dtype, gemm_dtype, model, prefix))

    def glm5_kernel(self, op: str, batch, isl, kv_len, score_mode: str = "flat") -> Lookup:
        """GLM-5 DSA kernel (queries.Glm5Kernel)."""
        return self.latency(q.Glm5Kernel(op, batch, isl, kv_len, score_mode))

    def gdn(self, phase: str, batch, seq_len, num_k_heads: int, num_v_heads: int, head_k_dim: int = 128,
            head_v_dim: int = 128) -> Lookup:
        """Gated DeltaNet layer's kernels per GPU (queries.Gdn)."""
        return self.latency(q.Gdn(phase, batch, seq_len, num_k_heads, num_v_heads, head_k_dim, head_v_dim))

    def mamba2(self, phase: str, batch, seq_len, nheads: int, head_dim: int = 64, n_groups: int = 8,
               d_state: int = 128) -> Lookup:
        """Mamba2 layer's causal conv1d per GPU (queries.Mamba2)."""
        return self.latency(q.Mamba2(phase, batch, seq_len, nheads, head_dim, n_groups, d_state))

    def encoder_attention(self, batch, seq, num_heads: int, head_dim: int, dtype: str = "bf16") -> Lookup:
        """ViT encoder attention per layer per GPU (queries.EncoderAttention)."""
        return self.latency(q.EncoderAttention(batch, seq, num_heads, head_dim, dtype))

    def mhc(self, op: str, num_tokens, hidden: int, hc_mult: int = 4) -> Lookup:
        """mHC pre / post per layer per GPU (queries.Mhc)."""
        return self.latency(q.Mhc(op, num_tokens, hidden, hc_mult))

    def wideep_moe(self, num_tokens, hidden: int, inter: int, topk: int, num_experts: int, moe_ep: int,
                   dtype: str = "fp8_block", distribution: str = "power_law_1.2", num_slots: int | None = None,
                   phase: str | None = None) -> Lookup:
        """WideEP expert compute of one MoE layer on one GPU (queries.WideEpMoe)."""
        return self.latency(q.WideEpMoe(num_tokens, hidden, inter, topk, num_experts, moe_ep, dtype, distribution,
                                        num_slots, phase))

    def wideep_mla(self, phase: str, batch, seq, num_heads: int, kv_dtype: str = "fp8",
                   gemm_dtype: str = "fp8_block") -> Lookup:
        """DeepSeek-V3 attention module under DP attention (queries.WideEpMla)."""
        return self.latency(q.WideEpMla(phase, batch, seq, num_heads, kv_dtype, gemm_dtype))

    def wideep_mlp(self, phase: str, num_tokens, hidden: int = 7168, inter: int = 2048,
                   dtype: str = "fp8_block") -> Lookup:
        """Dense gated MLP of a DeepSeek-V3 dense layer (queries.WideEpMlp)."""
        return self.latency(q.WideEpMlp(phase, num_tokens, hidden, inter, dtype))

    def embedding(self, tokens, hidden: int, dtype_bytes: float = 2.0) -> Lookup:
        """Embedding gather (queries.Embedding)."""
        return self.latency(q.Embedding(tokens, hidden, dtype_bytes))

    def __repr__(self) -> str:
        return f"PerfDB({self.system.name}, {self.backend}, {self.version}, {len(self.store.sparse)} grids)"


def register_all_families() -> None:
    """Import every family module (each registers its record and answers, family.answers). A dense solve
    asks only GEMM, attention, all-reduce and the analytic ops (dense.py, imported above), so it never
    imports the MoE, MLA, NCCL, all-to-all, sparse- or linear-attention modules."""
    from . import comm, deepep, encoder, linear_attention, mhc, mla, moe, nvlink_a2a, quantize, sparse, wideep  # noqa: F401


def _answer_after_registering(query_type: type) -> Callable:
    """The answer for a query type no imported module has registered yet: every family registered, then
    look again."""
    register_all_families()
    try:
        return family_mod.ANSWERS[query_type]
    except KeyError:
        raise TypeError(f"not a perfdb query: {query_type.__name__}") from None
