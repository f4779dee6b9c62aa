"""Many typed queries answered with few lookups: `db.latencies(queries)` (the option table's ~140 calls).

A lookup pays a fixed cost (slice choice, contracting a grid's scalar axes, the fallback's checks) before
its per-element work. Queries of one type whose scalar fields (every field not annotated `Arr`) are equal
differ only in their array fields, so those are broadcast per query, flattened, concatenated, answered in
one `db.latency` call and cut back into each query's shape.

Exact: every answer is elementwise in its array fields (grid.py interpolates each point on its own; the
fallbacks transfer each point on its own), so an element's answer does not depend on the elements it was
batched with (tests/test_perfdb_queries.py compares every query type against answering it alone).
"""
from __future__ import annotations

import math

import numpy as np

from .lookup import Lookup


def _group_key(query):
    """(type, scalar field values), or None when a scalar field is not hashable (then it goes alone)."""
    key = (type(query), query.scalars)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def answer_all(db, queries) -> list[Lookup]:
    """Each query's Lookup, in order, from one `db.latency` call per distinct (type, scalar fields)."""
    queries = list(queries)
    groups: dict[tuple, list[int]] = {}
    out: list[Lookup | None] = [None] * len(queries)
    for i, q in enumerate(queries):
        key = _group_key(q)
        if key is None:
            out[i] = db.latency(q)
        else:
            groups.setdefault(key, []).append(i)
    for idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = db.latency(queries[idx[0]])
            continue
        _answer_group(db, [queries[i] for i in idx], idx, out)
    return out


def _answer_group(db, members: list, idx: list[int], out: list) -> None:
    """One lookup for queries that differ only in their array fields; answers written to `out[idx]`."""
    cls = type(members[0])
    shapes, columns = [], {f: [] for f in cls.ARRAYS}
    for q in members:
        arrays = np.broadcast_arrays(*(np.asarray(getattr(q, f), dtype=np.float64) for f in cls.ARRAYS))
        shapes.append(arrays[0].shape)
        for f, a in zip(cls.ARRAYS, arrays):
            columns[f].append(a.ravel())
    fields = {f: getattr(members[0], f) for f in cls.FIELDS}
    fields.update({f: np.concatenate(parts) for f, parts in columns.items()})
    lk = db.latency(cls(**fields))
    at = 0
    for i, shape in zip(idx, shapes):
        n = math.prod(shape)  # a tuple of ints: numpy's prod costs ~30x more per call
        out[i] = Lookup(lk.latency_s[at: at + n].reshape(shape), lk.tier[at: at + n].reshape(shape))
        at += n
