"""Build the OptionTable the solver optimizes over: every valid engine × mode × integer concurrency.

Concurrency is enumerated at every integer from 1 to the cap (no sampled grid), so the solver's
answer is exact for this table. Each engine's step latency is priced once over every decode width
(model/aggregated.py: piecewise-linear curves over batch, exact at integer widths), so evaluating
all concurrencies costs a few interpolations, not thousands of table lookups.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.perfdb import PerfDB, SystemSpec

from .aggregated import aggregated_pending, static_pending
from .arch import ModelArch
from .calibration import Calibration
from .engine import Engine
from .framework import FrameworkProfile, framework
from .memory import MemoryPlan, kv_tokens_per_request, memory_plan
from .option_table import MODES, OptionTable, Pool, ServingMode, class_columns, requests_per_s
from .parallel_rules import engines_for
from .pending import Pending, settle
from .quant import Quant
from .workload import ServingMetrics, Workload


@dataclass(frozen=True)
class EngineSlot:
    """An engine that fits, with its memory plan and the most requests it can run at once."""

    engine: Engine
    memory: MemoryPlan
    max_running: int


def engine_slot(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                max_batch_size: int | None) -> EngineSlot | str:
    """The engine's slot (memory plan, running cap), or why its KV budget cannot hold one full request."""
    mem = memory_plan(arch, engine, system, fw)
    longest = kv_tokens_per_request(arch, wl.isl, wl.osl)
    if mem.max_requests(longest) < 1:  # dense: kv_tokens < longest
        from .moe_memory import too_big_reason  # only for the engines that do not fit

        return f"{too_big_reason(mem, engine)}; KV budget holds {mem.kv_tokens} tokens < one request ({longest:.0f})"
    cap = mem.max_requests(kv_tokens_per_request(arch, wl.isl, wl.osl, fw.reserve_per_request_osl))
    return EngineSlot(engine, mem, max(1, min(max_batch_size or cap, cap)))


def fitting_engines(arch: ModelArch, db: PerfDB, fw: FrameworkProfile, wl: Workload, quants: list[Quant],
                    total_gpus: int, max_batch_size: int) -> tuple[list[EngineSlot], list[tuple[Engine, str]]]:
    """Engines whose weights fit and whose KV budget holds at least one full request; and why others don't."""
    slots, rejected = [], []
    for e in engines_for(arch, quants, db.system, framework(fw.backend).parallel_rules, total_gpus):
        slot = engine_slot(arch, e, db.system, fw, wl, max_batch_size)
        if isinstance(slot, str):
            rejected.append((e, slot))
        else:
            slots.append(slot)
    return slots, rejected


def pending(arch: ModelArch, slot: EngineSlot, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
            mode: ServingMode, concurrency: np.ndarray, cal: Calibration) -> Pending:
    """The full estimator for one engine and mode at the given concurrencies, waiting for its lookups."""
    if mode is ServingMode.AGG:
        return aggregated_pending(arch, slot.engine, system, fw, wl, concurrency, slot.max_running, cal)
    return static_pending(arch, slot.engine, system, fw, wl, np.minimum(concurrency, slot.max_running), cal)


def evaluate(arch: ModelArch, slot: EngineSlot, db: PerfDB, fw: FrameworkProfile, wl: Workload,
             mode: ServingMode, concurrency: np.ndarray, cal: Calibration) -> ServingMetrics:
    """The full estimator for one engine and mode at the given concurrencies."""
    return settle(db, [pending(arch, slot, db.system, fw, wl, mode, concurrency, cal)])[0]


def option_table(arch: ModelArch, slots: list[EngineSlot], db: PerfDB, fw: FrameworkProfile, wl: Workload,
                 modes: list[ServingMode], max_batch_size: int, cal: Calibration,
                 pool: Pool | None = None) -> OptionTable:
    """Options for every slot × replica mode (static, agg; a disaggregated plan's workers are
    model/disagg_options.py's) × concurrency 1..cap (agg may exceed the running cap: clients queue),
    all placed in `pool` (default: the one pool of `db`'s system).

    Every row's engine_index points into the table's `slots`; all slots and modes share one round of
    table lookups (model/pending.py), which gives the same numbers as evaluating each alone."""
    pools = (pool or Pool.shared(db.system.name),)
    jobs = [(i, mode, np.arange(1, (max_batch_size if mode is ServingMode.AGG else slot.max_running) + 1))
            for i, slot in enumerate(slots) for mode in modes if mode in MODES]  # disagg has tables of its own
    table_slots = tuple(slots)
    metrics = settle(db, [pending(arch, slots[i], db.system, fw, wl, mode, conc, cal) for i, mode, conc in jobs])
    parts = []
    for (i, mode, _), m in zip(jobs, metrics):
        n = len(m.concurrency)
        gpus, in_pool = np.full(n, slots[i].engine.gpus), np.zeros(n, dtype=np.int64)
        parts.append(OptionTable(
            gpus=gpus, tokens_per_s=m.tokens_per_s, requests_per_s=requests_per_s(m.tokens_per_s, wl.osl),
            ttft_s=m.ttft_s, tpot_s=m.tpot_s, request_latency_s=m.request_latency_s(wl.osl),
            concurrency=m.concurrency, engine_index=np.full(n, i), mode=np.full(n, MODES.index(mode)),
            pool=in_pool, gpus_by_class=class_columns(gpus, in_pool, pools), tier=m.tier, source=m.source,
            pools=pools, slots=table_slots))
    return OptionTable.concat(parts)
