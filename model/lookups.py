"""Table lookups as data: a term's lookup is a perfdb typed query (perfdb/queries.py, the one definition of
what perfdb answers); `lookup_all` answers many of them with few PerfDB calls and applies the model's two
borrowing rules on top.

Why batch: a PerfDB call pays a fixed ~0.2 ms (slice choice, contracting the scalar axes of a grid) before
its per-element work, and an option table asks ~170 queries: the same GEMM shape for every pipeline depth
and both serving modes, the same attention geometry for every engine of one TP size. `db.latencies`
answers queries of one type whose scalar fields are equal with one lookup (perfdb/batch.py).

Exact: every lookup is elementwise in its array fields (perfdb/grid.py interpolates each point on its own),
so an element's answer does not depend on the elements it was batched with; the option table is
bit-identical to pricing each query alone (tests/test_option_catalog.py). The array fields are first made
one flat float64 shape per query (`flat`), as the model always handed them to perfdb.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sloplan.perfdb import Lookup, PerfDB, Tier
from sloplan.perfdb.queries import MlaModule, Moe, Query


def chunks(flat_list: list, sizes) -> list[list]:
    """`flat_list` cut back into consecutive pieces of the given sizes (the inverse of concatenating them):
    many estimates' queries are priced in one round, then each takes back its own."""
    out, at = [], 0
    for n in sizes:
        out.append(flat_list[at: at + n])
        at += n
    return out


def flat(query: Query) -> Query:
    """`query` with its array fields broadcast to one 1-D contiguous float64 shape (PerfDB computes in
    float64 anyway; one shape per query lets its answer be cut back out of a batch)."""
    kind = type(query)
    if not kind.ARRAYS:
        return query
    arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in query.arrays))
    return query.replace(**dict(zip(kind.ARRAYS, (np.ascontiguousarray(a).ravel() for a in arrays))))


KV_SIBLING = {"bf16": "fp8", "fp8": "bf16"}


def _pure_ep(q: Query) -> Query | None:
    """Expert compute: where the engine's MoE-TP layout was not collected (ROOFLINE), the same GPUs as pure
    expert parallelism (moe_tp 1, moe_ep = moe_tp · moe_ep: the same expert bytes and FLOPs per GPU) when
    that layout's curve is collected, EXTRAPOLATED at best: a measured kernel of the shape beats the
    roofline's median utilization (3-5x slow on decode-sized token counts)."""
    if not isinstance(q, Moe) or q.moe_tp == 1:
        return None
    return q.replace(moe_tp=1, moe_ep=q.moe_tp * q.moe_ep)


def _kv_sibling(q: Query) -> Query | None:
    """The whole MLA module: where the engine's KV dtype was not collected (ROOFLINE: H200 vLLM has only
    FP8-KV modules, so Kimi-K2.5's BF16 KV answered 2x the FP8 module's time from the median utilization)
    the other KV dtype's measured module, EXTRAPOLATED at best: the cache is a small part of a decode
    module's bytes (16 requests x 2k tokens x 576 latent: ~8 us of the ~130 us H200 module at 8 heads)."""
    if not isinstance(q, MlaModule) or q.kv_dtype not in KV_SIBLING:
        return None
    return q.replace(kv_dtype=KV_SIBLING[q.kv_dtype])


# Where a query's own answer is ROOFLINE, the measured answer of a stand-in query, at this tier at best.
_BORROWS: tuple[tuple[Callable[[Query], Query | None], Tier], ...] = (
    (_pure_ep, Tier.EXTRAPOLATED), (_kv_sibling, Tier.EXTRAPOLATED))


def _borrow(db: PerfDB, queries: list[Query], out: list[Lookup], stand_in, at_best: Tier) -> None:
    """Replace, elementwise, the ROOFLINE answers of `out` by their stand-in's measured ones (in place)."""
    idx, alts = [], []
    for i, q in enumerate(queries):
        alt = stand_in(q)
        if alt is not None and (out[i].tier >= Tier.ROOFLINE).any():
            idx.append(i)
            alts.append(alt)
    for i, alt in zip(idx, db.latencies(alts) if alts else ()):
        lk = out[i]
        use = (lk.tier >= Tier.ROOFLINE) & (alt.tier < Tier.ROOFLINE)
        tier = np.where(use, np.maximum(alt.tier, at_best), lk.tier).astype(lk.tier.dtype)
        out[i] = Lookup(np.where(use, alt.latency_s, lk.latency_s), tier)


def lookup_all(db: PerfDB, queries: list[Query]) -> list[Lookup]:
    """Each query's answer, in order, from one PerfDB lookup per distinct (query type, scalar fields)
    (db.latencies), with the borrowing rules above applied."""
    queries = [flat(q) for q in queries]
    out = db.latencies(queries)
    for stand_in, at_best in _BORROWS:
        _borrow(db, queries, out, stand_in, at_best)
    return out
