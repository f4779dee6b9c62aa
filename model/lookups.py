"""Table lookups as data: a Query names one PerfDB call; `lookup_all` answers many with few calls.

Why: a PerfDB call pays a fixed ~0.2 ms (slice choice, contracting the scalar axes of a grid) before
its per-element work, and an option table asks ~170 of them: the same GEMM shape for every pipeline
depth and both serving modes, the same attention geometry for every engine of one TP size. Queries
whose scalar arguments (`key`) are equal differ only in their array arguments, so they are
concatenated, looked up in one call and split back.

Exact: every lookup is elementwise in its array arguments (perfdb/grid.py interpolates each point on
its own), so an element's answer does not depend on the elements it was batched with; the option
table is bit-identical to pricing each query alone (tests/test_option_catalog.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from sloplan.perfdb import Lookup, PerfDB, Tier


def chunks(flat: list, sizes) -> list[list]:
    """`flat` cut back into consecutive pieces of the given sizes (the inverse of concatenating them):
    many estimates' queries are priced in one round, then each takes back its own."""
    out, at = [], 0
    for n in sizes:
        out.append(flat[at: at + n])
        at += n
    return out


class Kind(str, Enum):
    """The PerfDB primitive a query calls."""

    GEMM = "gemm"  # key: (n, k, dtype); arrays: (m,)
    GEMM_FLOOR = "gemm_floor"  # key: (n, k, dtype, floor); arrays: (m,): a GEMM priced from another dtype's table
    ALL_REDUCE = "all_reduce"  # key: (num_gpus,); arrays: (message_elems,)
    MEMORY = "memory_op"  # key: (); arrays: (nbytes,)
    P2P = "p2p"  # key: (cross_node,); arrays: (nbytes,)
    CONTEXT_ATTENTION = "context_attention"  # key: (heads, kv_heads, head_dim, window, kv_dtype); (batch, new, prefix)
    GENERATION_ATTENTION = "generation_attention"  # key: as context; arrays: (batch, kv_len)
    # MoE (model/moe_ops.py)
    MOE = "moe"  # key: (hidden, inter, topk, experts, moe_tp, moe_ep, dtype, distribution); arrays: (group tokens,)
    MOE_A2A = "moe_a2a"  # key: (hidden, topk, experts, ep, phase, dtype, kernel); arrays: (tokens per rank,)
    NCCL = "nccl"  # key: (op, num_gpus, dtype); arrays: (message_elems,)
    # MLA / DSA / gated-DeltaNet (adapters in _ADAPTERS); `floor`: the least tier an answer may claim
    # (EXTRAPOLATED where the model's geometry is not the one the table was collected for)
    CONTEXT_MLA = "context_mla"  # key: (heads, kv_dtype, floor); arrays: (batch, new, prefix)
    GENERATION_MLA = "generation_mla"  # key: (heads, kv_dtype, floor); arrays: (batch, kv_len)
    MLA_MODULE = "mla_module"  # key: (phase, heads, kv_dtype, gemm_dtype, floor); arrays: (batch, seq)
    MLA_BMM = "mla_bmm"  # key: (heads, dtype, pre|post, floor); arrays: (tokens,)
    DSA_MODULE = "dsa_module"  # key: (phase, heads, kv_dtype, gemm_dtype, model); arrays: (batch, seq, prefix)
    GLM5_KERNEL = "glm5_kernel"  # key: (op, score_mode, floor); arrays: (batch, isl, kv_len)
    GDN = "gdn"  # key: (phase, k_heads, v_heads, head_k_dim, head_v_dim); arrays: (batch, seq_len)


@dataclass(frozen=True)
class Query:
    """One lookup: `arrays` broadcast to one 1-D float64 shape (PerfDB converts to float64 anyway)."""

    kind: Kind
    key: tuple
    arrays: tuple[np.ndarray, ...]

    @staticmethod
    def of(kind: Kind, key: tuple, *arrays) -> "Query":
        flat = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in arrays))
        return Query(kind, key, tuple(np.ascontiguousarray(a).ravel() for a in flat))

    @property
    def size(self) -> int:
        return len(self.arrays[0])


def _floored(lk: Lookup, floor: int) -> Lookup:
    return Lookup.of(lk.latency_s, np.maximum(lk.tier, np.int8(floor)))


def _moe(db: PerfDB, key: tuple, arrays: list[np.ndarray]) -> Lookup:
    """Expert compute; where the engine's MoE-TP layout was not collected (ROOFLINE) the same GPUs as pure
    expert parallelism (moe_tp 1, moe_ep = moe_tp · moe_ep: the same expert bytes and FLOPs per GPU) when
    that layout's curve is collected, EXTRAPOLATED at best: a measured kernel of the shape beats the
    roofline's median utilization (3-5x slow on decode-sized token counts)."""
    hidden, inter, topk, experts, moe_tp, moe_ep, dtype, dist = key
    lk = db.moe(*arrays, *key)
    if moe_tp == 1 or not (lk.tier >= Tier.ROOFLINE).any():
        return lk
    alt = db.moe(*arrays, hidden, inter, topk, experts, 1, moe_tp * moe_ep, dtype, dist)
    use = (lk.tier >= Tier.ROOFLINE) & (alt.tier < Tier.ROOFLINE)
    tier = np.where(use, np.maximum(alt.tier, Tier.EXTRAPOLATED), lk.tier).astype(lk.tier.dtype)
    return Lookup(np.where(use, alt.latency_s, lk.latency_s), tier)


KV_SIBLING = {"bf16": "fp8", "fp8": "bf16"}


def _mla_module(db: PerfDB, key: tuple, arrays: list[np.ndarray]) -> Lookup:
    """The whole MLA module; where the engine's KV dtype was not collected (ROOFLINE: H200 vLLM has only
    FP8-KV modules, so Kimi-K2.5's BF16 KV answered 2x the FP8 module's time from the median utilization)
    the other KV dtype's measured module, EXTRAPOLATED at best: the cache is a small part of a decode
    module's bytes (16 requests x 2k tokens x 576 latent: ~8 us of the ~130 us H200 module at 8 heads)."""
    phase, heads, kv, gemm, floor = key
    lk = _floored(db.mla_module(phase, *arrays, heads, kv, gemm), floor)
    if kv not in KV_SIBLING or not (lk.tier >= Tier.ROOFLINE).any():
        return lk
    alt = db.mla_module(phase, *arrays, heads, KV_SIBLING[kv], gemm)
    use = (lk.tier >= Tier.ROOFLINE) & (alt.tier < Tier.ROOFLINE)
    tier = np.where(use, np.maximum(alt.tier, max(floor, Tier.EXTRAPOLATED)), lk.tier).astype(lk.tier.dtype)
    return Lookup(np.where(use, alt.latency_s, lk.latency_s), tier)


# The PerfDB methods whose arguments are not (arrays..., key...), or that need more than one call.
_ADAPTERS = {
    Kind.P2P: lambda db, key, arrays: db.p2p(*arrays, cross_node=key[0]),
    Kind.NCCL: lambda db, key, arrays: db.nccl(key[0], *arrays, *key[1:]),
    Kind.MOE: _moe,
    Kind.GEMM_FLOOR: lambda db, k, a: _floored(db.gemm(*a, *k[:3]), k[3]),
    Kind.CONTEXT_MLA: lambda db, k, a: _floored(db.context_mla(*a, *k[:2]), k[2]),
    Kind.GENERATION_MLA: lambda db, k, a: _floored(db.generation_mla(*a, *k[:2]), k[2]),
    Kind.MLA_MODULE: _mla_module,
    Kind.MLA_BMM: lambda db, k, a: _floored(db.mla_bmm(*a, *k[:3]), k[3]),
    Kind.DSA_MODULE: lambda db, k, a: db.dsa_module(k[0], a[0], a[1], *k[1:], prefix=a[2]),
    Kind.GLM5_KERNEL: lambda db, k, a: _floored(db.glm5_kernel(k[0], *a, score_mode=k[1]), k[2]),
    Kind.GDN: lambda db, k, a: db.gdn(k[0], *a, *k[1:]),
}


def _call(db: PerfDB, kind: Kind, key: tuple, arrays: list[np.ndarray]) -> Lookup:
    adapter = _ADAPTERS.get(kind)
    if adapter is not None:
        return adapter(db, key, arrays)
    return getattr(db, kind.value)(*arrays, *key)


def lookup_all(db: PerfDB, queries: list[Query]) -> list[Lookup]:
    """Each query's answer, in order, from one PerfDB call per distinct (kind, key)."""
    groups: dict[tuple, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault((q.kind, q.key), []).append(i)
    out: list[Lookup | None] = [None] * len(queries)
    for (kind, key), idx in groups.items():
        members = [queries[i] for i in idx]
        if len(members) == 1:
            out[idx[0]] = _call(db, kind, key, list(members[0].arrays))
            continue
        arrays = [np.concatenate([q.arrays[a] for q in members]) for a in range(len(members[0].arrays))]
        lk = _call(db, kind, key, arrays)
        at = 0
        for i, q in zip(idx, members):
            out[i] = Lookup(lk.latency_s[at: at + q.size], lk.tier[at: at + q.size])
            at += q.size
    return out
