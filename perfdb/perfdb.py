"""PerfDB: latency of every primitive for one (system, backend, version), vectorized and tier-tagged.

Every table-backed lookup follows one recipe: compute the op's speed of light (sol.py), look up the
utilization (SOL / measured latency) in a filled log-space grid (grid.py), return SOL / util. Where a
system or slice has no table, the roofline is divided by the median utilization measured for the same
family (on this system, else on its catalog donor) and tagged ROOFLINE.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sloplan.core.dtypes import DTYPES, kv_canonical, kv_sibling
from sloplan.core.enums import Phase

from . import sol, tables
from .analytic import AnalyticMixin
from .comm import CommMixin
from .deepep import DeepEpMixin
from .encoder import EncoderMixin
from .fallback import Fallback
from .grid import Grid
from .linear_attention import LinearAttentionMixin
from .lookup import Lookup
from .mla import MlaMixin
from .mhc import MhcMixin
from .moe import MoeMixin
from .quantize import QuantizeMixin
from .sparse import SparseAttentionMixin
from .system_spec import SystemSpec
from .sparse_grid import SparseGrid
from .store import FamilyStore
from .tier import Tier
from .wideep import WideEpMixin

MEM_BW_EFFICIENCY = 0.8  # element-wise kernels reach ~80 % of HBM bandwidth (aiconfigurator-core systems)
MEM_OP_LATENCY_S = 3e-6  # launch + tail of a small element-wise kernel
KV_DTYPES = {s: kv_canonical(s) for d in DTYPES for s in (d.name, *d.aliases)}  # core/dtypes.py


class PerfDB(CommMixin, MoeMixin, MlaMixin, AnalyticMixin, SparseAttentionMixin, LinearAttentionMixin,
             QuantizeMixin, EncoderMixin, MhcMixin, WideEpMixin, DeepEpMixin):
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
        lat = np.asarray(sol_s, dtype=np.float64) / np.exp(lu)
        return Lookup.of(lat, np.maximum(np.asarray(tier), np.asarray(floor, dtype=np.int8)))

    # ----------------------------------------------------------------- GEMM
    def gemm(self, m, n: int, k: int, dtype: str) -> Lookup:
        """[m,k]×[k,n] GEMM latency; m is an array of token counts (≥1)."""
        if dtype == "fp8_static":  # fp8 GEMM − dynamic-scale computation (quantize.py)
            return self.gemm_fp8_static(m, n, k)
        m = np.maximum(np.asarray(m, dtype=np.float64), 1.0)
        sol_s = sol.gemm_sol_s(self.system, m, n, k, dtype)
        grid = self.grid(f"gemm/{dtype}")
        if grid is None:
            return self.fallback.roofline(sol_s, "gemm", f"gemm/{dtype}", [m, float(n), float(k)],
                                          lambda sp: sol.gemm_sol_s(sp, m, n, k, dtype),
                                          dtype_sol=lambda d: sol.gemm_sol_s(self.system, m, n, k, d))
        lu, tier = grid.query([m, float(n), float(k)])
        return self._finish(sol_s, lu, tier)

    # ----------------------------------------------------------------- attention
    def _attention_slice(self, phase: str, kv: str, window: int, scalars: list[float]):
        """Pick the grid for (kv dtype, window): exact window slice if it covers the query's head
        geometry, else the full-attention slice (window transferred through the SOL, EXTRAPOLATED).
        A missing kv dtype borrows the other dtype's util (ROOFLINE). Returns (grid, window_of_grid, floor)."""
        for kv_try, floor in ((kv, Tier.MEASURED), (kv_sibling(kv), Tier.ROOFLINE)):
            for attn in ("bf16", "fp8"):
                if window > 0:
                    g = self.grid(f"{phase}/{attn}/{kv_try}/{window}")
                    if g is not None and _covers(g, scalars):
                        return g, window, floor
                g = self.grid(f"{phase}/{attn}/{kv_try}/0")
                if g is not None:
                    return g, 0, floor
        return None, 0, Tier.ROOFLINE

    def context_attention(self, batch, new_tokens, prefix, num_heads: int, num_kv_heads: int,
                          head_dim: int, window: int, kv_dtype: str) -> Lookup:
        """Prefill attention of `new_tokens` queries over `prefix + new_tokens` keys, per layer.

        Looked up at the full length without prefix, then scaled by the share of (query, key) pairs the
        new tokens own: (P(full) − P(prefix)) / P(full) — the peer's (full² − prefix²)/full², window-aware.
        """
        b, s, p = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (batch, new_tokens, prefix)))
        b, s, p = np.maximum(b, 1.0), np.maximum(s, 1.0), np.maximum(p, 0.0)
        full = s + p
        kv = KV_DTYPES.get(kv_dtype, "bf16")
        kvb = sol.KV_BYTES[kv]
        heads, ratio = float(num_heads), float(num_heads) / max(float(num_kv_heads), 1.0)
        sol_full = sol.context_attention_sol_s(self.system, b, full, 0.0, num_heads, num_kv_heads,
                                               head_dim, window, kvb)
        share = (sol.causal_pairs(full, window) - sol.causal_pairs(p, window)) / sol.causal_pairs(full, window)
        grid, gwin, floor = self._attention_slice(Phase.CONTEXT.short, kv, int(window), [heads, ratio, float(head_dim)])
        if grid is None:
            def roofline_on(sp):  # the same SOL on another system (the donor fallback)
                return share * sol.context_attention_sol_s(sp, b, full, 0.0, num_heads, num_kv_heads, head_dim,
                                                           window, kvb)
            return self.fallback.roofline(sol_full * share, "ctx", f"ctx/bf16/{kv}/0",
                                          [heads, ratio, float(head_dim), b, full], roofline_on)
        def sol_fn(bb, ss):  # the grid's own SOL frame (its window), at the query's heads / head_dim
            return sol.context_attention_sol_s(self.system, bb, ss, 0.0, num_heads, num_kv_heads, head_dim,
                                               gwin, kvb)
        # batch: latency linear in raw batch; seq: sqrt(latency) linear in raw seq (tables.CTX_QUERY_SPACES)
        lat, tier = grid.query_latency([heads, ratio, float(head_dim)], [b, full], sol_fn, tables.CTX_QUERY_SPACES)
        lu = np.log(sol_fn(b, full) / lat)  # util in the grid's frame, applied to the query's (windowed) SOL
        if window > 0 and gwin == 0:
            tier = np.maximum(tier, np.where(full > window, Tier.EXTRAPOLATED, Tier.MEASURED))
        return self._finish(sol_full * share, lu, tier, floor)

    def generation_attention(self, batch, kv_len, num_heads: int, num_kv_heads: int, head_dim: int,
                             window: int, kv_dtype: str) -> Lookup:
        """One decode step of `batch` requests with `kv_len` cached tokens each, per layer.

        A windowed query without a window slice reads min(kv_len, window) tokens, so it is looked up at
        that length in the full-attention slice (EXTRAPOLATED where the window actually cuts).
        """
        b, kvl = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (batch, kv_len)))
        b, kvl = np.maximum(b, 1.0), np.maximum(kvl, 1.0)
        kv = KV_DTYPES.get(kv_dtype, "bf16")
        heads, ratio = float(num_heads), float(num_heads) / max(float(num_kv_heads), 1.0)
        grid, gwin, floor = self._attention_slice(Phase.GENERATION.short, kv, int(window),
                                                  [heads, ratio, float(head_dim)])
        eff_len = np.minimum(kvl, window) if window > 0 and gwin == 0 else kvl

        def sol_fn(bb, ss):
            return sol.generation_attention_sol_s(self.system, bb, ss, num_heads, num_kv_heads, head_dim,
                                                  gwin, sol.KV_BYTES[kv])
        if grid is None:
            coords = [heads, ratio, float(head_dim), b, eff_len]
            return self.fallback.roofline(sol_fn(b, eff_len), "gen", f"gen/bf16/{kv}/0", coords,
                                          lambda sp: sol.generation_attention_sol_s(
                                              sp, b, eff_len, num_heads, num_kv_heads, head_dim, gwin,
                                              sol.KV_BYTES[kv]))
        lat, tier = grid.query_latency([heads, ratio, float(head_dim)], [b, eff_len], sol_fn)
        if window > 0 and gwin == 0:
            tier = np.maximum(tier, np.where(kvl > window, Tier.EXTRAPOLATED, Tier.MEASURED))
        return Lookup.of(lat, np.maximum(tier, np.int8(floor)))

    # ----------------------------------------------------------------- communication
    def _bw(self, num_gpus: int) -> float:
        s = self.system
        return s.intra_node_bw_bytes_per_s if num_gpus <= s.gpus_per_node else s.inter_node_bw_bytes_per_s

    def all_reduce(self, message_elems, num_gpus: int) -> Lookup:
        """bf16 all-reduce of `message_elems` elements over `num_gpus` GPUs (custom AR, else NCCL).

        Beyond the largest collected GPU count G the G-GPU latency is rescaled by
        (n−1)/n · G/(G−1) · bw(G)/bw(n) (peer §1.5) and tagged EXTRAPOLATED.
        """
        msg = np.maximum(np.asarray(message_elems, dtype=np.float64), 1.0)
        if num_gpus <= 1:
            return Lookup.of(np.zeros_like(msg), Tier.MEASURED)
        grid = self.grid("ar/custom") or self.grid("ar/nccl")
        if grid is None:
            def bw(sp):
                return sp.intra_node_bw_bytes_per_s if num_gpus <= sp.gpus_per_node else sp.inter_node_bw_bytes_per_s
            return self.fallback.roofline(sol.all_reduce_sol_s(msg, num_gpus, self._bw(num_gpus)), "ar", "ar/custom",
                                          [float(num_gpus), msg],
                                          lambda sp: sol.all_reduce_sol_s(msg, num_gpus, bw(sp)))
        top = int(grid.axes[0].max())
        n_eff = min(int(num_gpus), top)
        lu, tier = grid.query([float(n_eff), msg])
        lat = sol.all_reduce_sol_s(msg, n_eff, self.system.intra_node_bw_bytes_per_s) / np.exp(lu)
        if num_gpus > top:
            n = float(num_gpus)
            lat = lat * (n - 1) / n * top / (top - 1) * self._bw(top) / self._bw(num_gpus)
            tier = np.maximum(tier, Tier.EXTRAPOLATED)
        return Lookup.of(lat, tier)

    def p2p(self, nbytes, cross_node: bool) -> Lookup:
        """Point-to-point send (pipeline stage hop): bytes / link bandwidth + per-hop latency."""
        s = self.system
        bw = s.inter_node_bw_bytes_per_s if cross_node else s.intra_node_bw_bytes_per_s
        nb = np.maximum(np.asarray(nbytes, dtype=np.float64), 0.0)
        return Lookup.of(nb / bw + s.p2p_latency_s, Tier.ROOFLINE)

    def memory_op(self, nbytes) -> Lookup:
        """Element-wise / memory-bound kernel moving `nbytes`: bytes / (0.8 · HBM bandwidth) + 3 µs."""
        nb = np.maximum(np.asarray(nbytes, dtype=np.float64), 0.0)
        bw = self.system.mem_bw_bytes_per_s * MEM_BW_EFFICIENCY
        return Lookup.of(nb / bw + MEM_OP_LATENCY_S, Tier.ROOFLINE)

    def __repr__(self) -> str:
        return f"PerfDB({self.system.name}, {self.backend}, {self.version}, {len(self.store.sparse)} grids)"


def _covers(grid: Grid, scalars: list[float]) -> bool:
    """True when the slice holds the query's head_dim exactly and heads / GQA ratio inside its range."""
    heads, ratio, head_dim = scalars
    axes = grid.axes
    return (head_dim in axes[2] and axes[0][0] <= heads <= axes[0][-1] and axes[1][0] <= ratio <= axes[1][-1])
