"""PrefillTable and DecodeTable: the columnar hand-off of disaggregated serving from the estimators
(model/disagg_options.py) to the optimizer (solver/problems/disagg.py), as OptionTable is for static
and aggregated serving.

Each row is one engine of one pool at one batch size (prefill) or concurrency (decode), priced per
*worker*; the solver chooses integer worker counts over both tables at once and never calls an
estimator, so its answers are exact for the tables it is given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .option_table import Pool

_PREFILL_COLUMNS = ("gpus", "requests_per_s", "latency_s", "batch", "pool", "engine_index", "tier", "source")
_DECODE_COLUMNS = ("gpus", "requests_per_s", "tpot_s", "concurrency", "kv_capacity", "first_step_s", "pool",
                   "engine_index", "tier", "source")


RATE_BITS = 40  # significant bits a worker's rate keeps (relative 1e-12: no printed digit moves)


def snapped_rates(rates) -> np.ndarray:
    """Rates rounded to RATE_BITS significant bits. A rate is computed (batch / latency_s) in floats, so two
    workers whose rates are equal in exact arithmetic can differ by an ulp (3 / 0.15 = 19.999999999999996,
    not 20). The plans' exact keys (Fractions of these floats) would then rank two tied plans by that
    noise, which no solver tolerance (~1e-9) can see, and the MILP and the brute force would disagree on
    which of them is best. Rounded, such rates are equal exactly; rounding twice changes nothing."""
    mantissa, exponent = np.frexp(np.asarray(rates, dtype=float))
    return np.ldexp(np.round(np.ldexp(mantissa, RATE_BITS)), exponent - RATE_BITS)


def _check_columns(obj, columns: tuple[str, ...]) -> None:
    n = len(obj.gpus)
    for name in columns:
        if len(getattr(obj, name)) != n:
            raise ValueError(f"{type(obj).__name__}.{name} has {len(getattr(obj, name))} rows, expected {n}")
    if not obj.pools or len({p.name for p in obj.pools}) != len(obj.pools):
        raise ValueError(f"{type(obj).__name__}.pools must be non-empty with unique names")
    if n and (np.min(obj.gpus) < 1 or np.min(obj.requests_per_s) <= 0):
        raise ValueError(f"{type(obj).__name__}: every worker needs >= 1 GPU and a positive rate")
    if n and not (0 <= np.min(obj.pool) and np.max(obj.pool) < len(obj.pools)):
        raise ValueError(f"{type(obj).__name__}.pool indexes outside its pools")


@dataclass(frozen=True, eq=False)
class PrefillTable:
    """Prefill worker options, one row each; every column per worker, SI units."""

    gpus: np.ndarray  # int, GPUs one worker occupies
    requests_per_s: np.ndarray  # float, prompts/s one worker sustains (batch / latency_s)
    latency_s: np.ndarray  # float, one batch's prefill time: a request's TTFT part without queueing
    batch: np.ndarray  # int, prompts per batch (the worker's concurrency)
    pool: np.ndarray  # int, index into `pools`
    pools: tuple[Pool, ...]
    engine_index: np.ndarray  # int, index into `slots`
    tier: np.ndarray  # int, Tier of the least-trusted primitive
    source: np.ndarray  # int, model.ops.Op whose lookup set `tier`
    slots: tuple = field(default_factory=tuple)  # model.options.EngineSlot per engine_index (may be empty)

    def __post_init__(self) -> None:
        _check_columns(self, _PREFILL_COLUMNS)
        object.__setattr__(self, "requests_per_s", snapped_rates(self.requests_per_s))

    def __len__(self) -> int:
        return len(self.gpus)


@dataclass(frozen=True, eq=False)
class DecodeTable:
    """Decode worker options, one row each; every column per worker, SI units."""

    gpus: np.ndarray  # int
    requests_per_s: np.ndarray  # float, requests/s one worker completes at `concurrency`
    tpot_s: np.ndarray  # float, time per output token at `concurrency`
    concurrency: np.ndarray  # int, requests in flight per worker
    kv_capacity: np.ndarray  # int, requests whose whole KV cache (isl + osl) one worker's memory holds
    first_step_s: np.ndarray  # float, the first decode step's time (TTFT's last part)
    pool: np.ndarray  # int, index into `pools`
    pools: tuple[Pool, ...]
    engine_index: np.ndarray
    tier: np.ndarray
    source: np.ndarray
    slots: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_columns(self, _DECODE_COLUMNS)
        object.__setattr__(self, "requests_per_s", snapped_rates(self.requests_per_s))

    def __len__(self) -> int:
        return len(self.gpus)

    @cached_property
    def tokens_per_s_per_user(self) -> np.ndarray:
        return 1.0 / self.tpot_s


def take_rows(table, idx: np.ndarray):
    """A sub-table (PrefillTable or DecodeTable) of rows `idx`; pools and slots are kept."""
    idx = np.asarray(idx, dtype=int)
    columns = _PREFILL_COLUMNS if isinstance(table, PrefillTable) else _DECODE_COLUMNS
    return type(table)(**{c: getattr(table, c)[idx] for c in columns}, pools=table.pools, slots=table.slots)
