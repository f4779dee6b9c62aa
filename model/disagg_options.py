"""Build the option tables of disaggregated serving: prefill workers × batch, decode workers × concurrency.

Every row is one fitting engine of one pool at one integer batch size (prefill) or concurrency
(decode), priced by the per-worker estimators of model/disagg_workers.py; nothing is sampled, so the
solver's worker counts are exact for these tables (model/disagg_tables.py).

Bounds, and why:

* a prefill worker's batch runs 1..B prompts in one forward pass, B = min(max_batch_size, the
  engine's running cap, token budget // new prompt tokens) and at least 1: a larger batch would be
  chunked over several steps by the framework's token budget (`max_num_tokens`), which the one-pass
  prefill estimator does not describe, and a prompt longer than the budget runs alone;
* a decode worker's concurrency runs 1..min(max_batch_size, running cap): beyond the cap requests
  queue on the worker, which the solver's rate balance already accounts for at the prefill pool;
* `kv_capacity` is how many requests' whole KV cache (isl + osl tokens) the decode worker's memory
  plan holds, so the solver's memory row can refuse a concurrency the cache cannot keep (the running
  cap of frameworks that allocate pages as tokens arrive counts only part of the output).

All pools on one system share one round of table lookups (model/pending.py: `settle`), so both
tables on one system cost about what one option table does.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sloplan.perfdb import PerfDB

from .arch import ModelArch
from .calibration import Calibration
from .disagg_tables import DecodeTable, PrefillTable
from .disagg_workers import DecodeMetrics, PrefillMetrics, decode_pending, prefill_pending
from .framework import FrameworkProfile
from .memory import kv_tokens_per_request
from .option_table import Pool
from .options import EngineSlot
from .pending import settle
from .workload import Workload


@dataclass(frozen=True)
class PoolEngines:
    """One pool's fitting engines on its system, with the perf tables and calibration of that system."""

    pool: Pool
    db: PerfDB
    slots: tuple[EngineSlot, ...]
    calibration: Calibration


def prefill_batches(slot: EngineSlot, fw: FrameworkProfile, wl: Workload, max_batch_size: int) -> np.ndarray:
    """Batch sizes 1..B of a prefill worker (module docstring)."""
    top = min(max_batch_size, slot.max_running, fw.token_budget // wl.new_tokens)
    return np.arange(1, max(top, 1) + 1)


def decode_concurrencies(slot: EngineSlot, max_batch_size: int) -> np.ndarray:
    return np.arange(1, max(min(max_batch_size, slot.max_running), 1) + 1)


def kv_capacity(arch: ModelArch, slot: EngineSlot, wl: Workload) -> int:
    """Requests whose whole cache (isl + osl) one worker's KV budget holds."""
    return slot.memory.max_requests(kv_tokens_per_request(arch, wl.isl, wl.osl))


def disagg_tables(arch: ModelArch, fw: FrameworkProfile, wl: Workload, max_batch_size: int,
                  prefill: Sequence[PoolEngines], decode: Sequence[PoolEngines]) -> tuple[PrefillTable, DecodeTable]:
    """The prefill table over the `prefill` pools and the decode table over the `decode` pools (row `pool`
    indexes the sequence, `engine_index` the pools' slots in order)."""
    jobs = [(ROLE_P, k, i, prefill_batches(s, fw, wl, max_batch_size))
            for k, side in enumerate(prefill) for i, s in enumerate(side.slots)]
    jobs += [(ROLE_D, k, i, decode_concurrencies(s, max_batch_size))
             for k, side in enumerate(decode) for i, s in enumerate(side.slots)]
    sides = {ROLE_P: tuple(prefill), ROLE_D: tuple(decode)}
    by_system: dict[str, list[int]] = {}
    for n, (role, k, _, _) in enumerate(jobs):
        by_system.setdefault(sides[role][k].db.system.name, []).append(n)
    metrics: list = [None] * len(jobs)
    for ns in by_system.values():  # one shared round of lookups per system
        pend = [_pending(arch, fw, wl, sides[jobs[n][0]][jobs[n][1]], jobs[n]) for n in ns]
        db = sides[jobs[ns[0]][0]][jobs[ns[0]][1]].db
        for n, m in zip(ns, settle(db, pend)):
            metrics[n] = m
    tables = []
    for role in (ROLE_P, ROLE_D):
        offset = np.cumsum([0] + [len(side.slots) for side in sides[role]])
        parts = [(k, int(offset[k]) + i, sides[role][k].slots[i], m)
                 for (r, k, i, _), m in zip(jobs, metrics) if r == role]
        slots = tuple(s for side in sides[role] for s in side.slots)
        pools = tuple(side.pool for side in sides[role])
        tables.append(_prefill_table(pools, slots, parts) if role == ROLE_P
                      else _decode_table(arch, wl, pools, slots, parts))
    return tables[0], tables[1]


ROLE_P, ROLE_D = "prefill", "decode"


def _pending(arch: ModelArch, fw: FrameworkProfile, wl: Workload, side: PoolEngines, job):
    role, _, i, sizes = job
    make = prefill_pending if role == ROLE_P else decode_pending
    return make(arch, side.slots[i].engine, side.db.system, fw, wl, sizes, side.calibration)


def _columns(parts, getters: dict) -> dict[str, np.ndarray]:
    """Each column over every part (pool k, engine index e, slot, metrics), concatenated."""
    return {name: np.concatenate([np.asarray(get(*part), dtype=dtype) for part in parts]) if parts
            else np.zeros(0, dtype) for name, (get, dtype) in getters.items()}


def _common(size) -> dict:
    return {"gpus": (lambda k, e, s, m: np.full(size(m), s.engine.gpus), np.int64),
            "requests_per_s": (lambda k, e, s, m: m.requests_per_s, float),
            "pool": (lambda k, e, s, m: np.full(size(m), k), np.int64),
            "engine_index": (lambda k, e, s, m: np.full(size(m), e), np.int64),
            "tier": (lambda k, e, s, m: m.tier, np.int64), "source": (lambda k, e, s, m: m.source, np.int64)}


def _prefill_table(pools, slots, parts: list[tuple[int, int, EngineSlot, PrefillMetrics]]) -> PrefillTable:
    cols = _columns(parts, {**_common(lambda m: len(m.batch)), "latency_s": (lambda k, e, s, m: m.latency_s, float),
                            "batch": (lambda k, e, s, m: m.batch, np.int64)})
    return PrefillTable(**cols, pools=pools, slots=slots)


def _decode_table(arch: ModelArch, wl: Workload, pools, slots,
                  parts: list[tuple[int, int, EngineSlot, DecodeMetrics]]) -> DecodeTable:
    def n(m):
        return len(m.concurrency)

    cols = _columns(parts, {**_common(n), "tpot_s": (lambda k, e, s, m: m.tpot_s, float),
                            "concurrency": (lambda k, e, s, m: m.concurrency, np.int64),
                            "kv_capacity": (lambda k, e, s, m: np.full(n(m), kv_capacity(arch, s, wl)), np.int64),
                            "first_step_s": (lambda k, e, s, m: m.first_step_s, float)})
    return DecodeTable(**cols, pools=pools, slots=slots)
