"""Synthetic option tables for tests and benchmarks (no estimator involved)."""
from __future__ import annotations

import numpy as np

from sloplan.model.option_table import MODES, OptionTable, Pool, ServingMode, class_columns, requests_per_s

SYNTHETIC_POOL = Pool.shared("synthetic")


def table_from_columns(gpus, tokens_per_s, tpot_s, ttft_s=None, osl: int = 128) -> OptionTable:
    """An OptionTable from the columns the solver reads; the rest is filled consistently."""
    gpus = np.asarray(gpus, dtype=np.int64)
    tokens = np.asarray(tokens_per_s, dtype=float)
    tpot = np.asarray(tpot_s, dtype=float)
    ttft = np.full(len(gpus), 0.1) if ttft_s is None else np.asarray(ttft_s, dtype=float)
    n = len(gpus)
    pool = np.zeros(n, dtype=np.int64)
    return OptionTable(
        gpus=gpus, tokens_per_s=tokens, requests_per_s=requests_per_s(tokens, osl), ttft_s=ttft, tpot_s=tpot,
        request_latency_s=ttft + (osl - 1) * tpot,
        concurrency=np.maximum(1, np.rint(tokens * tpot)).astype(np.int64),
        engine_index=np.arange(n), mode=np.full(n, MODES.index(ServingMode.AGG)),
        pool=pool, gpus_by_class=class_columns(gpus, pool, (SYNTHETIC_POOL,)),
        tier=np.zeros(n, dtype=np.int64), source=np.zeros(n, dtype=np.int64), pools=(SYNTHETIC_POOL,),
    )


def random_table(rows: int, seed: int, gpu_sizes=(1, 2, 4, 8), quantized: bool = False) -> OptionTable:
    """Random options with a throughput/latency trade-off; `quantized` rounds values to force ties."""
    rng = np.random.default_rng(seed)
    gpus = rng.choice(np.asarray(gpu_sizes), size=rows)
    batch = rng.integers(1, 257, size=rows)
    tpot = 0.004 + 0.0004 * batch * rng.uniform(0.5, 2.0, size=rows) / np.sqrt(gpus)
    tokens = batch / tpot * rng.uniform(0.7, 1.0, size=rows)
    ttft = rng.uniform(0.02, 2.0, size=rows)
    if quantized:
        tokens = np.round(tokens / 500.0) * 500.0 + 500.0
        tpot = 1.0 / (np.round(1.0 / tpot / 10.0) * 10.0 + 10.0)
    return table_from_columns(gpus, tokens, tpot, ttft)


def tie_heavy_table(seed: int) -> tuple[OptionTable, int]:
    """A tiny table on a coarse grid (with its budget) so that many mixes tie exactly in throughput,
    GPUs and user speed — the cases where a solver's arbitrary choice among optima shows."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    gpus = rng.choice([1, 2, 3, 4], size=k)
    tokens = rng.integers(1, 5, size=k) * 100.0 * gpus / rng.choice([1, 2], size=k)
    speed = rng.integers(1, 5, size=k) * 10.0
    return table_from_columns(gpus, tokens, 1.0 / speed), int(rng.integers(2, 10))


def random_disagg(seed: int, prefill_rows: int = 3, decode_rows: int = 3, total_gpus: int = 8,
                  systems: tuple[str, ...] = ("sysA",), quantized: bool = False, **limits):
    """A random disaggregated instance (solver/disagg_tables.py): prefill and decode rows spread over
    one pool per role on each of `systems`, KV transfer slower across systems than within one.
    `quantized` puts rates and latencies on a coarse grid so that many plans tie exactly. `limits`
    are passed to DisaggInstance (slo, max_prefill_gpus, max_decode_gpus, gpus_by_class, mixed_pools)."""
    from .disagg_tables import DecodeTable, DisaggInstance, PrefillTable

    rng = np.random.default_rng(seed)
    pre_pools = tuple(Pool(f"prefill-{s}", s) for s in systems)
    dec_pools = tuple(Pool(f"decode-{s}", s) for s in systems)
    gp = rng.choice([1, 2, 4], size=prefill_rows)
    batch = rng.integers(1, 9, size=prefill_rows)
    lat = 0.05 * batch * rng.uniform(0.5, 1.5, size=prefill_rows) / np.sqrt(gp)
    gd = rng.choice([1, 2, 4], size=decode_rows)
    conc = rng.integers(4, 129, size=decode_rows)
    tpot = 0.004 + 0.0003 * conc * rng.uniform(0.5, 1.5, size=decode_rows) / np.sqrt(gd)
    osl = 64
    if quantized:
        lat = np.round(lat * 20) / 20 + 0.05
        tpot = 1.0 / (np.round(1.0 / tpot / 10.0) * 10.0 + 10.0)
    mu_d = conc / (osl * tpot)
    kv_cap = (conc * rng.uniform(0.7, 2.0, size=decode_rows)).astype(np.int64)
    zeros_p, zeros_d = np.zeros(prefill_rows, np.int64), np.zeros(decode_rows, np.int64)
    prefill = PrefillTable(gpus=gp, requests_per_s=batch / lat, latency_s=lat, batch=batch,
                           pool=rng.integers(0, len(systems), size=prefill_rows), pools=pre_pools,
                           engine_index=np.arange(prefill_rows), tier=zeros_p, source=zeros_p)
    first = tpot * rng.uniform(1.0, 10.0, size=decode_rows)
    decode = DecodeTable(gpus=gd, requests_per_s=mu_d, tpot_s=tpot, concurrency=conc, kv_capacity=kv_cap,
                         first_step_s=first, pool=rng.integers(0, len(systems), size=decode_rows),
                         pools=dec_pools, engine_index=np.arange(decode_rows), tier=zeros_d, source=zeros_d)
    kv = np.where(np.eye(len(systems), dtype=bool), 0.005, 0.03)
    return DisaggInstance(prefill=prefill, decode=decode, kv_transfer_s=kv, osl=osl, total_gpus=total_gpus,
                          **limits)
