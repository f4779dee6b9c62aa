"""OptionTable: the columnar hand-off from the estimators (model/) to the optimizer (solver/).

One row is one *replica option*: an engine (parallelism + quantization) run in one serving mode at
one concurrency. Every column is per replica, in SI units. The solver only sees these numbers; it
never calls an estimator, which is what makes its answers exact "for the tables it is given"
(design.md, Contracts) and lets tests compare it with brute force on the very same table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sloplan.core.enums import Role, ServingMode

if TYPE_CHECKING:
    from .options import EngineSlot


MODES: tuple[ServingMode, ...] = (ServingMode.STATIC, ServingMode.AGG)


_ROLE_OF_MODE = {ServingMode.AGG: Role.AGG, ServingMode.STATIC: Role.STATIC}


COLUMNS = ("gpus", "tokens_per_s", "ttft_s", "tpot_s", "request_latency_s", "concurrency", "engine_index", "mode",
           "tier", "source")  # one value per row


@dataclass(frozen=True)
class OptionTable:
    """Replica options, one row each. Arrays all have the same length."""

    gpus: np.ndarray  # int, GPUs one replica occupies
    tokens_per_s: np.ndarray  # float, output tokens/s one replica serves
    ttft_s: np.ndarray  # float, median time to first token under that load
    tpot_s: np.ndarray  # float, time per output token (1 / tokens_per_s_per_user)
    request_latency_s: np.ndarray  # float, ttft + (osl - 1) * tpot
    concurrency: np.ndarray  # int, requests in flight per replica
    engine_index: np.ndarray  # int, index into `slots`: the engine the row was priced for
    mode: np.ndarray  # int, index into MODES (numpy mangles str-enums in object arrays)
    tier: np.ndarray  # int, perfdb.Tier of the least-trusted primitive used
    source: np.ndarray  # int, model.ops.Op whose lookup set `tier`
    slots: tuple["EngineSlot", ...] = field(default_factory=tuple)  # model.options.EngineSlot per engine_index

    def __post_init__(self) -> None:
        n = len(self.gpus)
        for name in COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"OptionTable.{name} has {len(getattr(self, name))} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.gpus)

    def mode_of(self, row: int) -> ServingMode:
        return MODES[int(self.mode[row])]

    def role_of(self, row: int) -> Role:
        return _ROLE_OF_MODE[self.mode_of(row)]

    def slot(self, row: int) -> "EngineSlot":
        """The engine slot (engine, memory plan, running cap) row `row` was priced for."""
        return self.slots[int(self.engine_index[row])]

    @cached_property
    def tokens_per_s_per_user(self) -> np.ndarray:
        """Decode speed one request sees: 1 / TPOT."""
        return 1.0 / self.tpot_s

    def take(self, idx: np.ndarray) -> "OptionTable":
        """A sub-table of the rows `idx` (same slots: engine_index keeps pointing into them)."""
        idx = np.asarray(idx, dtype=int)
        return OptionTable(**{name: getattr(self, name)[idx] for name in COLUMNS}, slots=self.slots)

    @staticmethod
    def concat(tables: list["OptionTable"]) -> "OptionTable":
        """Stack tables that share one slots tuple."""
        if not tables:
            raise ValueError("OptionTable.concat needs at least one table")
        if any(t.slots != tables[0].slots for t in tables[1:]):
            raise ValueError("OptionTable.concat: tables index different engine slots")
        cols = {name: np.concatenate([getattr(t, name) for t in tables]) for name in COLUMNS}
        return OptionTable(**cols, slots=tables[0].slots)
