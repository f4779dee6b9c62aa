"""NCCL collectives and MoE all-to-all (dispatch / combine): table builders and the PerfDB methods.

NCCL (`comm/nccl/<v>/nccl_perf.parquet`, newest version on the system): one grid per (op, dtype) over
(num_gpus, message elements) in log-util space, util = ring SOL / latency (sol.nccl_sol_s). Beyond the
largest collected GPU count the latency is rescaled by bandwidth like all-reduce (peer §1.5).

MoE all-to-all (`comm/<fw>/<v>/moe_a2a_perf.parquet`): latency is in MICROseconds in that table (every
other table uses ms). One grid per (comm backend, phase, dtype) over (ep, hidden, topk, experts, tokens).

Both are read on first use (store.py, families "nccl" and "a2a"): a dense solve reads neither.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sloplan.core.dtypes import nccl_slice

from . import sol
from .families_common import canon_dtype, family_table
from .deepep import a2a_via_deepep
from .dense import beyond_top
from .family import answers, register
from .lookup import Lookup, finish
from .queries import MoeA2a, Nccl
from .source import read_columns
from .system_spec import SystemSpec
from .sparse_grid import SparseGrid
from .tier import Tier

NCCL_OPS = ("all_gather", "reduce_scatter", "alltoall", "all_reduce")
A2A_LATENCY_TO_S = 1e-6  # moe_a2a_perf latency column is in µs
A2A_AXES = ["ep_size", "hidden_size", "topk", "num_experts", "num_tokens"]


@register("nccl", ("nccl",), default_eff={"nccl": 0.15})
def nccl_family(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """The NCCL family read on first use: the system's newest NCCL table (any backend)."""
    return nccl_grids(root, spec)


def nccl_grids(root: Path | None, spec: SystemSpec):
    """Every (op, dtype) of the system's newest NCCL table → grid `nccl/<op>/<dtype>` over (gpus, elements)."""
    path, ver = family_table(root, "comm", "nccl", "nccl_perf.parquet", None)
    if path is None:
        return {}, {}
    cols = read_columns(path, ["num_gpus", "message_size", "latency"], ["op_name", "nccl_dtype"])
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    grids = {}
    for op, raw in {(o, d) for o, d in zip(cols["op_name"][ok], cols["nccl_dtype"][ok])}:
        dtype = canon_dtype(raw)
        sel = ok & (cols["op_name"] == op) & (cols["nccl_dtype"] == raw)
        g, msg = cols["num_gpus"][sel], cols["message_size"][sel]
        s = sol.nccl_sol_s(op, msg, g, sol.NCCL_BYTES.get(dtype, 2.0), spec.intra_node_bw_bytes_per_s)
        grids[f"nccl/{op}/{dtype}"] = SparseGrid.of([g, msg], np.log(s / (cols["latency"][sel] * 1e-3)), [1, 0])
    return grids, {"nccl": f"NCCL@{ver}"}


@register("a2a", ("a2a",), default_eff={"a2a": 0.1})
def a2a_grids(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """MoE all-to-all grids `a2a/<comm_backend>/<phase>/<dtype>` (latency µs → s on load)."""
    path, ver = family_table(root, "comm", backend, "moe_a2a_perf.parquet", version)
    if path is None:
        return {}, {}
    cols = read_columns(path, A2A_AXES + ["latency"], ["comm_backend", "phase", "comm_dtype"])
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    keys = np.stack([cols["comm_backend"], cols["phase"], cols["comm_dtype"]])
    grids = {}
    for cb, phase, raw in {tuple(k) for k in keys[:, ok].T}:
        sel = ok & (keys[0] == cb) & (keys[1] == phase) & (keys[2] == raw)
        dtype = canon_dtype(raw)
        ep, h, k, _, t = (cols[c][sel] for c in A2A_AXES)
        s = sol.moe_a2a_sol_s(t, h, k, ep, sol.COMM_BYTES.get(dtype, 2.0), spec.intra_node_bw_bytes_per_s)
        lu = np.log(s / (cols["latency"][sel] * A2A_LATENCY_TO_S))
        grids[f"a2a/{cb}/{phase}/{dtype}"] = SparseGrid.of([cols[c][sel] for c in A2A_AXES], lu, [4, 1, 0, 2, 3])
    return grids, {"a2a": f"{backend}@{ver}"}


def _nccl_dtype(dtype: str) -> str:
    return nccl_slice(dtype)  # core/dtypes.py


@answers(Nccl)
def nccl(db, q: Nccl) -> Lookup:
    """Grid `nccl/<op>/<dtype>` (else its bf16 grid) over (gpus, elements); beyond the largest collected count
    G: latency(G) · (n−1)/n · G/(G−1) · bw(G)/bw(n), EXTRAPOLATED. No table → the fallback (ROOFLINE)."""
    op, num_gpus, spec = q.op, q.num_gpus, db.system
    if op not in NCCL_OPS:
        raise ValueError(f"nccl op {op!r}: accepted {', '.join(NCCL_OPS)}")
    msg = np.maximum(np.asarray(q.message_elems, dtype=np.float64), 1.0)
    if num_gpus <= 1:
        return Lookup.of(np.zeros_like(msg), Tier.MEASURED)
    dt = _nccl_dtype(q.dtype)
    db.store.ensure("nccl")
    nbytes = sol.NCCL_BYTES[dt]
    grid = db.store.grid(f"nccl/{op}/{dt}") or db.store.grid(f"nccl/{op}/bf16")
    if grid is None:
        def sol_on(sp):
            return sol.nccl_sol_s(op, msg, num_gpus, nbytes, sol.link_bw_bytes_per_s(sp, num_gpus))
        return db.fallback.roofline(sol_on(spec), "nccl", f"nccl/{op}/{dt}", [float(num_gpus), msg], sol_on)
    return beyond_top(grid, msg, num_gpus, spec,
                      lambda n: sol.nccl_sol_s(op, msg, n, nbytes, spec.intra_node_bw_bytes_per_s))


@answers(MoeA2a)
def moe_a2a(db, q: MoeA2a) -> Lookup:
    """`kernel` picks the comm-backend lane by a "_"-separated name part: "ll" (DeepEP low-latency, decode)
    or "ht" (DeepEP high-throughput, prefill); the first such lane wins, else any lane. A missing dtype
    uses the lane's bf16 grid through its own SOL (ROOFLINE). No `moe_a2a_perf` table: SGLang's DeepEP
    tables (`deepep`, ll / normal), else the donor's answer at the same shape (ROOFLINE)."""
    hidden, topk, num_experts, ep_size = q.hidden, q.topk, q.num_experts, q.ep_size
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    if ep_size <= 1:
        return Lookup.of(np.zeros_like(t), Tier.MEASURED)
    dt = canon_dtype(q.dtype)
    nb = sol.COMM_BYTES.get(dt, 2.0)

    def sol_on(sp):
        return sol.moe_a2a_sol_s(t, hidden, topk, ep_size, nb, sol.link_bw_bytes_per_s(sp, ep_size))
    sol_s = sol_on(db.system)
    grid, floor = a2a_grid(db.store, q.phase, dt, q.kernel)
    if grid is None:  # SGLang ships DeepEP tables instead (deepep.py); else the donor's same query
        lk = a2a_via_deepep(db, t, hidden, topk, num_experts, ep_size, q.phase, q.kernel)
        if lk is not None:
            return lk
        lk = db.fallback.donor_transfer(lambda d: d.latency(q), sol_s, sol_on)
        return lk if lk is not None else db.fallback.roofline(sol_s, "a2a")
    lu, tier = grid.query([float(ep_size), float(hidden), float(topk), float(num_experts), t])
    return finish(sol_s, lu, tier, floor)


def a2a_grid(store, phase: str, dtype: str, kernel: str):
    """(grid, floor) of the all-to-all lane for (phase, dtype, kernel); the bf16 grid (ROOFLINE) else."""
    store.ensure("a2a")
    names = [n for n in sorted(store.sparse) if n.startswith("a2a/") and n.split("/")[2] == phase]
    lanes = [n for n in names if kernel in n.split("/")[1].split("_")] or names
    for want, floor in ((dtype, Tier.MEASURED), ("bf16", Tier.ROOFLINE)):
        for n in lanes:
            if n.split("/")[3] == want:
                return store.grid(n), floor
    return (store.grid(lanes[0]), Tier.ROOFLINE) if lanes else (None, Tier.ROOFLINE)
