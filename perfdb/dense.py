"""The answers of the dense path: the eager families (GEMM, attention, all-reduce; records in tables.py) and
the analytic ops without tables (peer §1.6: point-to-point sends, memory-bound kernels, embedding gather,
priced from bytes moved alone, tier ROOFLINE; their queries name no family).

Each function answers one query type (queries.py) for `db.latency`: it reads the family's filled grid from
`db.store`, the ROOFLINE tier from `db.fallback` and the hardware from `db.system`, and holds no state.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.dtypes import DTYPES, kv_canonical, kv_sibling
from sloplan.core.enums import Phase

from . import sol, tables
from .family import answers
from .grid import Grid
from .lookup import Lookup, finish
from .queries import AllReduce, ContextAttention, Embedding, Gemm, GemmFp8Static, GenerationAttention, MemoryOp, P2p
from .tier import Tier

KV_DTYPES = {s: kv_canonical(s) for d in DTYPES for s in (d.name, *d.aliases)}  # core/dtypes.py
MEM_BW_EFFICIENCY = 0.8  # element-wise kernels reach ~80 % of HBM bandwidth (aiconfigurator-core systems)
MEM_OP_LATENCY_S = 3e-6  # launch + tail of a small element-wise kernel


@answers(Gemm)
def gemm(db, q: Gemm) -> Lookup:
    """GEMM util from the dtype's grid over (m, n, k); no slice → the fallback (donor, sibling dtype, median)."""
    if q.dtype == "fp8_static":  # fp8 GEMM − dynamic-scale computation (quantize.py)
        return db.latency(GemmFp8Static(q.m, q.n, q.k))
    n, k, dtype, spec = q.n, q.k, q.dtype, db.system
    m = np.maximum(np.asarray(q.m, dtype=np.float64), 1.0)
    sol_s = sol.gemm_sol_s(spec, m, n, k, dtype)
    grid = db.store.grid(f"gemm/{dtype}")
    if grid is None:
        return db.fallback.roofline(sol_s, "gemm", f"gemm/{dtype}", [m, float(n), float(k)],
                                    lambda sp: sol.gemm_sol_s(sp, m, n, k, dtype),
                                    dtype_sol=lambda d: sol.gemm_sol_s(spec, m, n, k, d))
    lu, tier = grid.query([m, float(n), float(k)])
    return finish(sol_s, lu, tier)


def attention_slice(store, phase: str, kv: str, window: int, scalars: list[float]):
    """Pick the grid for (kv dtype, window): exact window slice if it covers the query's head
    geometry, else the full-attention slice (window transferred through the SOL, EXTRAPOLATED).
    A missing kv dtype borrows the other dtype's util (ROOFLINE). Returns (grid, window_of_grid, floor)."""
    for kv_try, floor in ((kv, Tier.MEASURED), (kv_sibling(kv), Tier.ROOFLINE)):
        for attn in ("bf16", "fp8"):
            if window > 0:
                g = store.grid(f"{phase}/{attn}/{kv_try}/{window}")
                if g is not None and _covers(g, scalars):
                    return g, window, floor
            g = store.grid(f"{phase}/{attn}/{kv_try}/0")
            if g is not None:
                return g, 0, floor
    return None, 0, Tier.ROOFLINE


@answers(ContextAttention)
def context_attention(db, q: ContextAttention) -> Lookup:
    """Looked up at the full length without prefix, then scaled by the share of (query, key) pairs the
    new tokens own: (P(full) − P(prefix)) / P(full) — the peer's (full² − prefix²)/full², window-aware."""
    nh, nkv, hd, window, spec = q.num_heads, q.num_kv_heads, q.head_dim, q.window, db.system
    b, s, p = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (q.batch, q.new_tokens, q.prefix)))
    b, s, p = np.maximum(b, 1.0), np.maximum(s, 1.0), np.maximum(p, 0.0)
    full = s + p
    kv = KV_DTYPES.get(q.kv_dtype, "bf16")
    kvb = sol.KV_BYTES[kv]
    heads, ratio = float(nh), float(nh) / max(float(nkv), 1.0)
    sol_full = sol.context_attention_sol_s(spec, b, full, 0.0, nh, nkv, hd, window, kvb)
    share = (sol.causal_pairs(full, window) - sol.causal_pairs(p, window)) / sol.causal_pairs(full, window)
    grid, gwin, floor = attention_slice(db.store, Phase.CONTEXT.short, kv, int(window), [heads, ratio, float(hd)])
    if grid is None:
        def roofline_on(sp):  # the same SOL on another system (the donor fallback)
            return share * sol.context_attention_sol_s(sp, b, full, 0.0, nh, nkv, hd, window, kvb)
        return db.fallback.roofline(sol_full * share, "ctx", f"ctx/bf16/{kv}/0",
                                    [heads, ratio, float(hd), b, full], roofline_on)

    def sol_fn(bb, ss):  # the grid's own SOL frame (its window), at the query's heads / head_dim
        return sol.context_attention_sol_s(spec, bb, ss, 0.0, nh, nkv, hd, gwin, kvb)
    # batch: latency linear in raw batch; seq: sqrt(latency) linear in raw seq (tables.CTX_QUERY_SPACES)
    lat, tier = grid.query_latency([heads, ratio, float(hd)], [b, full], sol_fn, tables.CTX_QUERY_SPACES)
    lu = np.log(sol_fn(b, full) / lat)  # util in the grid's frame, applied to the query's (windowed) SOL
    if window > 0 and gwin == 0:
        tier = np.maximum(tier, np.where(full > window, Tier.EXTRAPOLATED, Tier.MEASURED))
    return finish(sol_full * share, lu, tier, floor)


@answers(GenerationAttention)
def generation_attention(db, q: GenerationAttention) -> Lookup:
    """A windowed query without a window slice reads min(kv_len, window) tokens, so it is looked up at
    that length in the full-attention slice (EXTRAPOLATED where the window actually cuts)."""
    nh, nkv, hd, window = q.num_heads, q.num_kv_heads, q.head_dim, q.window
    b, kvl = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (q.batch, q.kv_len)))
    b, kvl = np.maximum(b, 1.0), np.maximum(kvl, 1.0)
    kv = KV_DTYPES.get(q.kv_dtype, "bf16")
    heads, ratio = float(nh), float(nh) / max(float(nkv), 1.0)
    grid, gwin, floor = attention_slice(db.store, Phase.GENERATION.short, kv, int(window), [heads, ratio, float(hd)])
    eff_len = np.minimum(kvl, window) if window > 0 and gwin == 0 else kvl

    def sol_on(sp, bb, ss):
        return sol.generation_attention_sol_s(sp, bb, ss, nh, nkv, hd, gwin, sol.KV_BYTES[kv])
    if grid is None:
        coords = [heads, ratio, float(hd), b, eff_len]
        return db.fallback.roofline(sol_on(db.system, b, eff_len), "gen", f"gen/bf16/{kv}/0", coords,
                                    lambda sp: sol_on(sp, b, eff_len))
    lat, tier = grid.query_latency([heads, ratio, float(hd)], [b, eff_len], lambda bb, ss: sol_on(db.system, bb, ss))
    if window > 0 and gwin == 0:
        tier = np.maximum(tier, np.where(kvl > window, Tier.EXTRAPOLATED, Tier.MEASURED))
    return Lookup.of(lat, np.maximum(tier, np.int8(floor)))


@answers(AllReduce)
def all_reduce(db, q: AllReduce) -> Lookup:
    """Beyond the largest collected GPU count G the G-GPU latency is rescaled by
    (n−1)/n · G/(G−1) · bw(G)/bw(n) (peer §1.5) and tagged EXTRAPOLATED; 1 GPU → 0 (MEASURED)."""
    num_gpus, spec = q.num_gpus, db.system
    msg = np.maximum(np.asarray(q.message_elems, dtype=np.float64), 1.0)
    if num_gpus <= 1:
        return Lookup.of(np.zeros_like(msg), Tier.MEASURED)
    grid = db.store.grid("ar/custom") or db.store.grid("ar/nccl")
    if grid is None:
        def sol_on(sp):
            return sol.all_reduce_sol_s(msg, num_gpus, sol.link_bw_bytes_per_s(sp, num_gpus))
        return db.fallback.roofline(sol_on(spec), "ar", "ar/custom", [float(num_gpus), msg], sol_on)
    return beyond_top(grid, msg, num_gpus, spec, lambda n: sol.all_reduce_sol_s(msg, n, spec.intra_node_bw_bytes_per_s))


def beyond_top(grid: Grid, msg, num_gpus: int, spec, sol_at) -> Lookup:
    """A collective's latency from its grid over (gpus, elements) (all-reduce, NCCL): at min(n, G) GPUs, G the
    largest collected count, `sol_at(n)` the SOL there in the grid's NVLink frame; beyond G rescaled by
    (n−1)/n · G/(G−1) · bw(G)/bw(n), EXTRAPOLATED."""
    top = int(grid.axes[0].max())
    n_eff = min(int(num_gpus), top)
    lu, tier = grid.query([float(n_eff), msg])
    lat = sol_at(n_eff) / np.exp(lu)
    if num_gpus > top:
        n = float(num_gpus)
        lat = lat * (n - 1) / n * top / (top - 1) * sol.link_bw_bytes_per_s(spec, top) / sol.link_bw_bytes_per_s(
            spec, num_gpus)
        tier = np.maximum(tier, Tier.EXTRAPOLATED)
    return Lookup.of(lat, tier)


def _covers(grid: Grid, scalars: list[float]) -> bool:
    """True when the slice holds the query's head_dim exactly and heads / GQA ratio inside its range."""
    heads, ratio, head_dim = scalars
    axes = grid.axes
    return (head_dim in axes[2] and axes[0][0] <= heads <= axes[0][-1] and axes[1][0] <= ratio <= axes[1][-1])


@answers(P2p)
def p2p(db, q: P2p) -> Lookup:
    """bytes / link bandwidth + the system's per-hop latency."""
    s = db.system
    bw = s.inter_node_bw_bytes_per_s if q.cross_node else s.intra_node_bw_bytes_per_s
    nb = np.maximum(np.asarray(q.nbytes, dtype=np.float64), 0.0)
    return Lookup.of(nb / bw + s.p2p_latency_s, Tier.ROOFLINE)


@answers(MemoryOp)
def memory_op(db, q: MemoryOp) -> Lookup:
    """bytes / (0.8 · HBM bandwidth) + 3 µs."""
    nb = np.maximum(np.asarray(q.nbytes, dtype=np.float64), 0.0)
    bw = db.system.mem_bw_bytes_per_s * MEM_BW_EFFICIENCY
    return Lookup.of(nb / bw + MEM_OP_LATENCY_S, Tier.ROOFLINE)


@answers(Embedding)
def embedding(db, q: Embedding) -> Lookup:
    """Reads only the touched rows (tokens · hidden · bytes) and writes them out, so bytes = 2 · tokens ·
    hidden · dtype_bytes, priced like `MemoryOp`. The vocabulary size does not matter: untouched rows are
    never read."""
    t = np.maximum(np.asarray(q.tokens, dtype=np.float64), 0.0)
    return memory_op(db, MemoryOp(2.0 * t * float(q.hidden) * q.dtype_bytes))
