"""perfdb speed: vectorized GEMM lookups per second and cached load time per (system, backend, version).

Run: .venv/bin/python bench/perfdb_speed.py
"""
from __future__ import annotations

import time

import numpy as np

from sloplan.perfdb import data_versions, load_perfdb
from sloplan.perfdb.loader import clear_memo

SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "a100_sxm", "l40s",
           "rtx_pro_6000_server"]


def gemm_rate(db, n_elems: int = 1_000_000, repeats: int = 5) -> float:
    """Lookups/s for one call over `n_elems` token counts (the model's batch-grid usage)."""
    m = np.random.default_rng(0).integers(1, 40000, n_elems)
    db.gemm(m[:10], 4096, 14336, "bf16")  # densify the grid once
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        db.gemm(m, 4096, 14336, "bf16")
        best = min(best, time.perf_counter() - t0)
    return n_elems / best


def small_call_rate(db, calls: int = 2000) -> float:
    """Calls/s for 64-element calls (per-engine batch grids), to show per-call overhead."""
    m = np.arange(1, 65)
    t0 = time.perf_counter()
    for i in range(calls):
        db.gemm(m, 4096 + (i % 4) * 1024, 4096, "fp8")
    return calls / (time.perf_counter() - t0)


def main() -> None:
    for system in SYSTEMS:  # make sure every cache exists before timing cached loads
        for backend in ("trtllm", "vllm", "sglang"):
            if data_versions(system, backend):
                load_perfdb(system, backend)
    db = load_perfdb("h200_sxm", "trtllm")
    print(f"vectorized GEMM lookups: {gemm_rate(db) / 1e6:.1f} M/s (1e6 token counts per call, h200_sxm trtllm)")
    print(f"small GEMM calls (64 m values): {small_call_rate(db):,.0f} calls/s")
    print("\ncached load time (npz only, in-process memo cleared):")
    times = []
    for system in SYSTEMS:
        for backend in ("trtllm", "vllm", "sglang"):
            for version in data_versions(system, backend):
                clear_memo()
                t0 = time.perf_counter()
                load_perfdb(system, backend, version)
                dt = time.perf_counter() - t0
                times.append(dt)
                print(f"  {system:20} {backend:7} {version:10} {1e3 * dt:6.1f} ms")
    print(f"max {1e3 * max(times):.1f} ms, median {1e3 * float(np.median(times)):.1f} ms over {len(times)} loads")


if __name__ == "__main__":
    main()
