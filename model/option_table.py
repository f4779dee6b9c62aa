"""OptionTable: the columnar hand-off from the estimators (model/) to the optimizer (solver/).

One row is one *replica option*: an engine (parallelism + quantization) run in one serving mode at
one concurrency, placed in one pool. Every column is per replica, in SI units. The solver only sees
these numbers; it never calls an estimator, which is what makes its answers exact "for the tables it
is given" (design.md, Contracts) and lets tests compare it with brute force on the very same table.

Each row names what it is explicitly, so nothing downstream matches labels: its engine slot
(`slot(row)`), its role (`role_of(row)`), its pool (`pool_of(row)`), and what one replica costs in
GPUs of each class (`gpus_by_class`, one column per `gpu_classes` entry: a plan over several systems
has one budget per class, and a price per GPU-hour turns it into money, `cost_per_hour`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sloplan.core.enums import Role, ServingMode

if TYPE_CHECKING:
    from .options import EngineSlot


MODES: tuple[ServingMode, ...] = (ServingMode.STATIC, ServingMode.AGG)


_ROLE_OF_MODE = {ServingMode.AGG: Role.AGG, ServingMode.STATIC: Role.STATIC}


@dataclass(frozen=True)
class Pool:
    """GPUs of one system that replicas are placed in. Today a request has one pool, its system's,
    serving every role (`shared`); a disaggregated plan has a prefill pool and a decode pool, possibly
    on different systems, each a Pool of its own with its own rows in the table."""

    name: str  # unique within a table: the plan's JSON names a group's pool by it
    system: str  # SystemSpec name: the GPU class its replicas occupy

    @staticmethod
    def shared(system: str) -> "Pool":
        """The one pool of a single-system request: named after its system."""
        return Pool(name=system, system=system)


def requests_per_s(tokens_per_s: np.ndarray, osl: int) -> np.ndarray:
    """Requests one replica completes per second: its output tokens/s over the tokens each request
    gets (every estimator's tokens/s is `osl` times its completion rate, so this is that rate)."""
    return np.asarray(tokens_per_s, dtype=float) / float(osl)


COLUMNS = ("gpus", "tokens_per_s", "requests_per_s", "ttft_s", "tpot_s", "request_latency_s", "concurrency",
           "engine_index", "mode", "pool", "gpus_by_class", "tier", "source")  # one value (row) per option


@dataclass(frozen=True)
class OptionTable:
    """Replica options, one row each. Arrays all have the same length."""

    gpus: np.ndarray  # int, GPUs one replica occupies (all of its classes together)
    tokens_per_s: np.ndarray  # float, output tokens/s one replica serves
    requests_per_s: np.ndarray  # float, requests/s one replica completes (`requests_per_s()` of the above)
    ttft_s: np.ndarray  # float, median time to first token under that load
    tpot_s: np.ndarray  # float, time per output token (1 / tokens_per_s_per_user)
    request_latency_s: np.ndarray  # float, ttft + (osl - 1) * tpot
    concurrency: np.ndarray  # int, requests in flight per replica
    engine_index: np.ndarray  # int, index into `slots`: the engine the row was priced for
    mode: np.ndarray  # int, index into MODES (numpy mangles str-enums in object arrays)
    pool: np.ndarray  # int, index into `pools`: where the replica runs
    gpus_by_class: np.ndarray  # int, shape (rows, len(gpu_classes)): GPUs per replica of each class
    tier: np.ndarray  # int, perfdb.Tier of the least-trusted primitive used
    source: np.ndarray  # int, model.ops.Op whose lookup set `tier`
    pools: tuple[Pool, ...]  # Pool per `pool` index
    slots: tuple["EngineSlot", ...] = field(default_factory=tuple)  # model.options.EngineSlot per engine_index

    def __post_init__(self) -> None:
        n = len(self.gpus)
        for name in COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"OptionTable.{name} has {len(getattr(self, name))} rows, expected {n}")
        if len({p.name for p in self.pools}) != len(self.pools) or not self.pools:
            raise ValueError(f"OptionTable.pools must be non-empty with unique names, got {self.pools}")
        if self.gpus_by_class.shape != (n, len(self.gpu_classes)):
            raise ValueError(f"OptionTable.gpus_by_class has shape {self.gpus_by_class.shape}, "
                             f"expected {(n, len(self.gpu_classes))}")
        if n and not np.array_equal(self.gpus_by_class.sum(axis=1), self.gpus):
            raise ValueError("OptionTable.gpus_by_class does not add up to gpus")

    def __len__(self) -> int:
        return len(self.gpus)

    @cached_property
    def gpu_classes(self) -> tuple[str, ...]:
        """The systems the pools occupy, in pool order: the columns of `gpus_by_class`."""
        return tuple(dict.fromkeys(p.system for p in self.pools))

    def mode_of(self, row: int) -> ServingMode:
        return MODES[int(self.mode[row])]

    def role_of(self, row: int) -> Role:
        return _ROLE_OF_MODE[self.mode_of(row)]

    def pool_of(self, row: int) -> Pool:
        return self.pools[int(self.pool[row])]

    def slot(self, row: int) -> "EngineSlot":
        """The engine slot (engine, memory plan, running cap) row `row` was priced for."""
        return self.slots[int(self.engine_index[row])]

    @cached_property
    def tokens_per_s_per_user(self) -> np.ndarray:
        """Decode speed one request sees: 1 / TPOT."""
        return 1.0 / self.tpot_s

    def cost_per_hour(self, price_per_gpu_hour: Mapping[str, float]) -> np.ndarray:
        """What one replica of each row costs per hour at a price per GPU-hour of each class."""
        missing = [c for c in self.gpu_classes if c not in price_per_gpu_hour]
        if missing:
            raise ValueError(f"no price per GPU-hour for {', '.join(missing)}")
        return self.gpus_by_class @ np.array([float(price_per_gpu_hour[c]) for c in self.gpu_classes])

    def take(self, idx: np.ndarray) -> "OptionTable":
        """A sub-table of the rows `idx` (same slots and pools: the index columns keep pointing into them)."""
        idx = np.asarray(idx, dtype=int)
        return OptionTable(**{name: getattr(self, name)[idx] for name in COLUMNS}, pools=self.pools,
                           slots=self.slots)

    @staticmethod
    def concat(tables: list["OptionTable"]) -> "OptionTable":
        """Stack tables that share one slots tuple and one pools tuple."""
        if not tables:
            raise ValueError("OptionTable.concat needs at least one table")
        if any(t.slots != tables[0].slots for t in tables[1:]):
            raise ValueError("OptionTable.concat: tables index different engine slots")
        if any(t.pools != tables[0].pools for t in tables[1:]):
            raise ValueError("OptionTable.concat: tables index different pools")
        cols = {name: np.concatenate([getattr(t, name) for t in tables]) for name in COLUMNS}
        return OptionTable(**cols, pools=tables[0].pools, slots=tables[0].slots)


def class_columns(gpus: np.ndarray, pool: np.ndarray, pools: tuple[Pool, ...]) -> np.ndarray:
    """`gpus_by_class` of rows that each occupy `gpus` GPUs of their pool's system."""
    classes = tuple(dict.fromkeys(p.system for p in pools))
    out = np.zeros((len(gpus), len(classes)), dtype=np.int64)
    col = np.array([classes.index(p.system) for p in pools], dtype=int)[np.asarray(pool, dtype=int)]
    out[np.arange(len(gpus)), col] = gpus
    return out
