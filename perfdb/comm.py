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
from .family import register
from .lookup import Lookup
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


class CommMixin:
    """PerfDB methods for NCCL collectives and MoE all-to-all (mixed into PerfDB)."""

    def nccl(self, op: str, message_elems, num_gpus: int, dtype: str = "bf16") -> Lookup:
        """NCCL `op` (all_gather / reduce_scatter / alltoall / all_reduce) of `message_elems` elements over
        `num_gpus` GPUs. Beyond the largest collected count G: latency(G) · (n−1)/n · G/(G−1) · bw(G)/bw(n),
        EXTRAPOLATED. No table → SOL / median NCCL util (ROOFLINE)."""
        if op not in NCCL_OPS:
            raise ValueError(f"nccl op {op!r}: accepted {', '.join(NCCL_OPS)}")
        msg = np.maximum(np.asarray(message_elems, dtype=np.float64), 1.0)
        if num_gpus <= 1:
            return Lookup.of(np.zeros_like(msg), Tier.MEASURED)
        dt = _nccl_dtype(dtype)
        self.store.ensure("nccl")
        nbytes = sol.NCCL_BYTES[dt]
        grid = self.grid(f"nccl/{op}/{dt}") or self.grid(f"nccl/{op}/bf16")
        if grid is None:
            def bw(sp):
                return sp.intra_node_bw_bytes_per_s if num_gpus <= sp.gpus_per_node else sp.inter_node_bw_bytes_per_s
            return self.fallback.roofline(sol.nccl_sol_s(op, msg, num_gpus, nbytes, self._bw(num_gpus)), "nccl",
                                          f"nccl/{op}/{dt}", [float(num_gpus), msg],
                                          lambda sp: sol.nccl_sol_s(op, msg, num_gpus, nbytes, bw(sp)))
        top = int(grid.axes[0].max())
        n_eff = min(int(num_gpus), top)
        lu, tier = grid.query([float(n_eff), msg])
        lat = sol.nccl_sol_s(op, msg, n_eff, nbytes, self.system.intra_node_bw_bytes_per_s) / np.exp(lu)
        if num_gpus > top:
            n = float(num_gpus)
            lat = lat * (n - 1) / n * top / (top - 1) * self._bw(top) / self._bw(num_gpus)
            tier = np.maximum(tier, Tier.EXTRAPOLATED)
        return Lookup.of(lat, tier)

    def moe_a2a(self, num_tokens, hidden: int, topk: int, num_experts: int, ep_size: int,
                phase: str = "dispatch", dtype: str = "bf16", kernel: str = "ll") -> Lookup:
        """MoE expert-parallel all-to-all (`phase` dispatch / combine) of `num_tokens` tokens per rank.

        `kernel` picks the comm-backend lane by a "_"-separated name part: "ll" (DeepEP low-latency, decode)
        or "ht" (DeepEP high-throughput, prefill); the first such lane wins, else any lane. A missing dtype
        uses the lane's bf16 grid through its own SOL (ROOFLINE). No `moe_a2a_perf` table: SGLang's DeepEP
        tables (`deepep`, ll / normal), else the donor's answer at the same shape (ROOFLINE)."""
        t = np.maximum(np.asarray(num_tokens, dtype=np.float64), 1.0)
        if ep_size <= 1:
            return Lookup.of(np.zeros_like(t), Tier.MEASURED)
        dt = canon_dtype(dtype)
        bw = self._bw(ep_size)
        sol_s = sol.moe_a2a_sol_s(t, hidden, topk, ep_size, sol.COMM_BYTES.get(dt, 2.0), bw)
        grid, floor = self._a2a_grid(phase, dt, kernel)
        if grid is None:  # SGLang ships DeepEP tables instead (deepep.py); else the donor's same query
            lk = self._a2a_via_deepep(t, hidden, topk, num_experts, ep_size, phase, kernel)
            if lk is not None:
                return lk
            nb = sol.COMM_BYTES.get(dt, 2.0)

            def sol_fn(sp):
                bw_d = sp.intra_node_bw_bytes_per_s if ep_size <= sp.gpus_per_node else sp.inter_node_bw_bytes_per_s
                return sol.moe_a2a_sol_s(t, hidden, topk, ep_size, nb, bw_d)
            lk = self.fallback.donor_transfer(
                lambda d: d.moe_a2a(t, hidden, topk, num_experts, ep_size, phase, dtype, kernel), sol_s, sol_fn)
            return lk if lk is not None else self.fallback.roofline(sol_s, "a2a")
        lu, tier = grid.query([float(ep_size), float(hidden), float(topk), float(num_experts), t])
        return self._finish(sol_s, lu, tier, floor)

    def _a2a_grid(self, phase: str, dtype: str, kernel: str):
        self.store.ensure("a2a")
        names = [n for n in self.grid_names() if n.startswith("a2a/") and n.split("/")[2] == phase]
        lanes = [n for n in names if kernel in n.split("/")[1].split("_")] or names
        for want, floor in ((dtype, Tier.MEASURED), ("bf16", Tier.ROOFLINE)):
            for n in lanes:
                if n.split("/")[3] == want:
                    return self.grid(n), floor
        return (self.grid(lanes[0]), Tier.ROOFLINE) if lanes else (None, Tier.ROOFLINE)
