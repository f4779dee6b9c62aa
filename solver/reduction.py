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

Feasible rows only (the fast path of the Pareto tracer). Whatever weakly dominates an SLO-meeting
row meets the same SLOs (no worse TTFT, TPOT or request latency), so a feasible row is dominated
within the whole table exactly when it is dominated within the feasible rows: reducing only the
rows that meet the SLOs keeps the same feasible survivors, and it costs time in the number of
feasible rows, not of all rows (the pairwise sweep grows faster than linearly with the rows of a
class, and on large tables most rows break some SLO).
"""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import OptionTable

_BATCH = 32


def _weakly_dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """out[i, j]: row a[i] >= row b[j] in every column (columns are to be maximized)."""
    out = a[:, None, 0] >= b[None, :, 0]
    for col in range(1, a.shape[1]):
        out &= a[:, None, col] >= b[None, :, col]
    return out


def _undominated_in_class(keys: np.ndarray) -> np.ndarray:
    """Positions of rows of `keys` (columns to *maximize*, sorted best-first lexicographically) that
    no earlier row weakly dominates. Sorted best-first, only an earlier row can dominate a later one,
    and by transitivity an earlier *undominated* row suffices. So: take the next few survivors,
    keep those undominated within the batch, and strike every later survivor they dominate."""
    alive = np.arange(len(keys))
    kept = []
    while len(alive):
        head, alive = alive[:_BATCH], alive[_BATCH:]
        inner = np.triu(_weakly_dominates(keys[head], keys[head]), k=1).T  # [i, j]: j<i dominates i
        head = head[~inner.any(axis=1)]
        kept.append(head)
        if len(alive):
            alive = alive[~_weakly_dominates(keys[head], keys[alive]).any(axis=0)]
    return np.concatenate(kept)


def undominated_rows(table: OptionTable, total_gpus: int, among: np.ndarray | None = None) -> np.ndarray:
    """Sorted row indices that survive the exact reduction described in the module docstring;
    `among` (a boolean row mask, e.g. the SLO-meeting rows) restricts it to those rows."""
    fits = np.flatnonzero((table.gpus <= total_gpus) & (True if among is None else among))
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
        keep.append(fits[rows[_undominated_in_class(keys[rows])]])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
