"""DeepEP dispatch / combine as SGLang collected it (`comm/sglang/<v>/wideep_deepep_{ll,normal}_perf.parquet`),
read on first use (lazy family `deepep`).

* `ll` (low-latency kernels, decode): `dispatch_avg_t_us`, `combine_avg_t_us`; keyed (node_num, hidden,
  num_topk, num_experts, num_token).
* `normal` (high-throughput kernels, prefill): `dispatch_transmit_us`, `combine_transmit_us` per SM budget
  (`dispatch_sms` = `combine_sms` ∈ {4 … 24}); the `*_notify_us` columns are 0 in every shipped table and
  are not read (a zero would count as a bad latency).
Both tables are in **microseconds** (→ s on load). `num_token` is tokens per rank. No `ep_size` column:
`node_num` nodes of DEEPEP_GPUS_PER_NODE GPUs (every shipped row: 1 node = EP 8).
Grid `deepep/<ll|normal>/<dispatch|combine>` over (node_num, hidden, topk, experts, sms, tokens)
(ll: sms axis 1, log2 axes),
log-util vs `sol.moe_a2a_sol_s` (bf16 bytes, ep = 8 · node_num, NVLink within a node).
"""
from __future__ import annotations

import math

import numpy as np

from . import sol
from .families_common import family_table
from .family import answers, register
from .lookup import Lookup, finish
from .queries import DeepEp, DeepEpStep
from .source import read_columns
from .sparse_grid import SparseGrid
from .tier import Tier

DEEPEP_FILES = {"ll": "wideep_deepep_ll_perf.parquet", "normal": "wideep_deepep_normal_perf.parquet"}
DEEPEP_US_TO_S = 1e-6
DEEPEP_GPUS_PER_NODE = 8
DEEPEP_DEFAULT_SMS = 20  # DeepEP's Buffer.num_sms default (normal kernels)
KERNEL_ALIASES = {"ll": "ll", "low_latency": "ll", "normal": "normal", "ht": "normal"}
AXES = ["node_num", "hidden_size", "num_topk", "num_experts", "sms", "num_token"]


def deepep_sol(tokens, hidden, topk, nodes, bw_fn):
    ep = DEEPEP_GPUS_PER_NODE * np.asarray(nodes, dtype=np.float64)
    return sol.moe_a2a_sol_s(tokens, hidden, topk, ep, 2.0, bw_fn(ep))


@register("deepep", ("deepep",))
def deepep_grids(root, spec, backend: str, version: str):
    grids, lanes = {}, {}
    intra, inter = spec.intra_node_bw_bytes_per_s, spec.inter_node_bw_bytes_per_s
    bw = lambda ep: np.where(ep <= DEEPEP_GPUS_PER_NODE, intra, inter)  # noqa: E731
    for kind, fname in DEEPEP_FILES.items():
        path, ver = family_table(root, "comm", backend, fname, version)
        if path is None:
            continue
        for phase in ("dispatch", "combine"):
            lat_col = f"{phase}_avg_t_us" if kind == "ll" else f"{phase}_transmit_us"
            numeric = ["node_num", "hidden_size", "num_topk", "num_experts", "num_token", lat_col]
            cols = read_columns(path, numeric + ([f"{phase}_sms"] if kind == "normal" else []), [])
            cols["sms"] = cols[f"{phase}_sms"] if kind == "normal" else np.ones(len(cols["num_token"]))
            ok = np.isfinite(cols[lat_col]) & (cols[lat_col] > 0)
            if not ok.any():
                continue
            n, h, k, _, _, t = (cols[c][ok] for c in AXES)
            lu = np.log(deepep_sol(t, h, k, n, bw) / (cols[lat_col][ok] * DEEPEP_US_TO_S))
            grids[f"deepep/{kind}/{phase}"] = SparseGrid.of([cols[c][ok] for c in AXES], lu, [5, 1, 2, 3, 4, 0])
        lanes[f"deepep/{kind}"] = f"deepep@{ver}"
    return grids, lanes


def by_step(decode, gen: Lookup, ctx: Lookup) -> Lookup:
    """Elementwise: `gen`'s answer where `decode` is set, `ctx`'s elsewhere (latency and tier both)."""
    dec = np.broadcast_to(np.asarray(decode, dtype=np.float64) > 0.5, np.shape(gen.latency_s))
    return Lookup.of(np.where(dec, gen.latency_s, ctx.latency_s), np.where(dec, gen.tier, ctx.tier).astype(np.int8))


@answers(DeepEp)
def deepep(db, q: DeepEp) -> Lookup:
    """`kernel` "ll" (low latency) or "normal" (alias "ht"), `sms` the normal kernels' SM budget (None → 20,
    DeepEP's default). Grid semantics as elsewhere (MEASURED / INTERPOLATED / EXTRAPOLATED ≤ 2 octaves /
    ROOFLINE); more nodes than collected hold the boundary util with the inter-node SOL. No table → the
    donor's same shape (ROOFLINE), else the a2a median."""
    phase, kernel, hidden, topk, num_nodes = q.phase, q.kernel, q.hidden, q.topk, q.num_nodes
    if phase not in ("dispatch", "combine"):
        raise ValueError(f"deepep phase {phase!r}: accepted dispatch, combine")
    if kernel not in KERNEL_ALIASES:
        raise ValueError(f"deepep kernel {kernel!r}: accepted {', '.join(KERNEL_ALIASES)}")
    kind = KERNEL_ALIASES[kernel]
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    s = 1.0 if kind == "ll" else float(DEEPEP_DEFAULT_SMS if q.sms is None else q.sms)
    coords = [float(num_nodes), float(hidden), float(topk), float(q.num_experts), s, t]

    def sol_fn(sp):
        return deepep_sol(t, hidden, topk, num_nodes, lambda ep: (
            sp.intra_node_bw_bytes_per_s if ep <= DEEPEP_GPUS_PER_NODE else sp.inter_node_bw_bytes_per_s))
    sol_s = sol_fn(db.system)
    name = f"deepep/{kind}/{phase}"
    grid = db.store.family_grid("deepep", name)
    if grid is None:
        lk = db.fallback.per_shape(sol_s, [name], coords, sol_fn)
        return lk if lk is not None else db.fallback.roofline(sol_s, "a2a")
    lu, tier = grid.query(coords)
    return finish(sol_s, lu, tier)


@answers(DeepEpStep)
def deepep_step(db, q: DeepEpStep) -> Lookup:
    """SGLang with `--deepep-mode auto`: a decode batch dispatches with the low-latency kernels, a batch
    with prefill tokens with the normal ones (default SM budget); elementwise by `decode`."""
    t, dec = np.broadcast_arrays(np.asarray(q.num_tokens, dtype=np.float64), np.asarray(q.decode, dtype=np.float64))
    key = (q.hidden, q.topk, q.num_experts, q.phase)
    ll = db.latency(DeepEp(t, *key, "ll", q.num_nodes))
    normal = db.latency(DeepEp(t, *key, "normal", q.num_nodes))
    return by_step(dec, ll, normal)


def a2a_via_deepep(db, t, hidden, topk, num_experts, ep_size: int, phase: str, kernel: str):
    """moe_a2a on a backend without a `moe_a2a_perf` table but with DeepEP tables (SGLang): the DeepEP
    answer on ceil(ep / 8) nodes, rescaled by the SOL ratio when ep is not a whole number of 8-GPU
    nodes (then at least EXTRAPOLATED). None when there is no DeepEP table."""
    kind = "ll" if kernel == "ll" else "normal"
    if db.store.family_grid("deepep", f"deepep/{kind}/{phase}") is None:
        return None
    nodes = max(1, math.ceil(ep_size / DEEPEP_GPUS_PER_NODE))
    lk = db.latency(DeepEp(t, hidden, topk, num_experts, phase, kind, nodes))
    full = DEEPEP_GPUS_PER_NODE * nodes
    if ep_size == full:
        return lk
    ratio = (sol.moe_a2a_sol_s(1.0, 1.0, 1.0, ep_size, 1.0, sol.link_bw_bytes_per_s(db.system, ep_size))
             / sol.moe_a2a_sol_s(1.0, 1.0, 1.0, full, 1.0, sol.link_bw_bytes_per_s(db.system, full)))
    return Lookup.of(lk.latency_s * ratio, np.maximum(lk.tier, np.int8(Tier.EXTRAPOLATED)))
