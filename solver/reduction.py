"""Exact pre-reduction of an option table: drop options that no optimal answer can need.

Dominance. Option ``a`` is dominated by option ``b`` when both occupy the same number of GPUs and
``b`` is at least as good on every number the solver looks at: tokens_per_s(b) >= tokens_per_s(a),
tokens_per_s_per_user(b) >= tokens_per_s_per_user(a), ttft(b) <= ttft(a), request_latency(b) <=
request_latency(a) (tpot is 1 / user speed, so it is covered).

Why dropping ``a`` is exact. Take any deployment that uses ``a`` and replace each ``a`` replica by a
``b`` replica. GPUs used stay the same (same size); served tokens/s cannot drop; the deployment's
user speed (a minimum over used options) cannot drop; its TTFT, TPOT and request latency (maxima
over used options) cannot rise. So the new deployment meets every SLO the old one met — for *any*
SLO values, which is why the reduction stays valid when an explainer later relaxes SLO groups —
and every user-speed floor the old one met. Hence (i) the best plan's value triple (max tokens/s,
then min GPUs, then max user speed) is reached without ``a``: the swap keeps tokens/s at its
maximum, GPUs equal, user speed no lower; and (ii) every Pareto point (user speed, tokens/s) is
reached without ``a``: the swapped deployment is at least as good on both axes, and a
non-dominated point cannot be strictly beaten, so it is matched. Options that fit no budget
(gpus > total_gpus) can never be used and are dropped too. Identical options: one is kept.
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

_CHUNK = 256


def _dominated_in_class(keys: np.ndarray) -> np.ndarray:
    """Mask of rows of `keys` (columns to *maximize*, sorted best-first lexicographically) that an
    earlier row weakly dominates. Sort order guarantees only earlier rows can dominate later ones;
    transitivity means checking against earlier *kept* rows suffices (sort-filter-skyline)."""
    n = len(keys)
    dominated = np.zeros(n, dtype=bool)
    kept = np.zeros((0, keys.shape[1]))
    for start in range(0, n, _CHUNK):
        chunk = keys[start:start + _CHUNK]
        by_kept = (kept[None, :, :] >= chunk[:, None, :]).all(axis=2).any(axis=1)
        inner = (chunk[None, :, :] >= chunk[:, None, :]).all(axis=2)  # inner[i, j]: j >= i everywhere
        inner = np.tril(inner, k=-1)  # only earlier j (< i) may dominate i
        mask = by_kept | inner.any(axis=1)
        dominated[start:start + len(chunk)] = mask
        kept = np.concatenate([kept, chunk[~mask]])
    return dominated


def undominated_rows(table: OptionTable, total_gpus: int) -> np.ndarray:
    """Sorted row indices that survive the exact reduction described in the module docstring."""
    fits = np.flatnonzero(table.gpus <= total_gpus)
    keys = np.column_stack([
        table.tokens_per_s[fits], table.tokens_per_s_per_user[fits],
        -table.ttft_s[fits], -table.request_latency_s[fits],
    ]).astype(float)
    gpus = table.gpus[fits]
    # best-first within each GPU class: lexsort's last key is the primary one
    order = np.lexsort((fits, -keys[:, 3], -keys[:, 2], -keys[:, 1], -keys[:, 0], gpus))
    keep = []
    sorted_gpus = gpus[order]
    bounds = np.flatnonzero(np.diff(sorted_gpus)) + 1
    for cls in np.split(np.arange(len(order)), bounds):
        if len(cls) == 0:
            continue
        rows = order[cls]
        keep.append(fits[rows[~_dominated_in_class(keys[rows])]])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
