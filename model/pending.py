"""Pending: an estimate waiting for its table lookups, so many estimates share one round of lookups.

An estimator is split at its lookups: first the op groups it needs priced (data, model/ops.py), then
what turns their prices into metrics (`finish`). `settle` prices the groups of all pending estimates
together (model/lookups.py: one PerfDB call per distinct query shape), which is what makes an option
table over every engine and mode cost a few dozen lookups instead of a few hundred.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from sloplan.perfdb import PerfDB

from .lookups import chunks
from .ops import OpGroup, Priced, price
from .workload import ServingMetrics


@dataclass(frozen=True)
class Pending:
    """The op groups one estimate needs priced, and the function of their prices (in order) it returns."""

    groups: tuple[OpGroup, ...]
    finish: Callable[[list[Priced]], ServingMetrics]


def settle(db: PerfDB, pending: list[Pending]) -> list[ServingMetrics]:
    """Every pending estimate's metrics, in order, from one shared round of lookups."""
    priced = price(db, [g for p in pending for g in p.groups])
    return [p.finish(part) for p, part in zip(pending, chunks(priced, [len(p.groups) for p in pending]))]
