"""TensorRT-LLM's NVLink all-to-all (`comm/trtllm/<v>/trtllm_alltoall_perf.parquet`), read on first use.

The table times the MoE all-to-all kernels TensorRT-LLM runs over an NVLink domain (GB200 NVL72): kernel_source
NVLinkTwoSided (ops alltoall_prepare / _dispatch / _combine / _combine_low_precision; bf16, fp8, nvfp4) and
NVLinkOneSided (dispatch / combine; nvfp4 only), at hidden 7168, topk 8, 256 experts, ep 2..64, tokens per rank
1..65536, latency in ms. One grid `nvl_a2a/<kernel>/<op>/<dtype>` per slice over (ep, hidden, topk, experts,
tokens): the recorded shape is a singleton axis, so another shape holds the table's util (EXTRAPOLATED within
two octaves, as every grid). Util vs `sol.moe_a2a_sol_s` with the bytes the op moves (`payload_bytes`).

A system without the table reads the one the catalog's `table_donors` names (GB300 → GB200: the same NVLink5
rack and kernels), util through this system's SOL, tier EXTRAPOLATED at best (as mla.py's donated tables).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import sol
from .families_common import canon_dtype, family_table
from .family import answers, register
from .fallback import transfer_latency
from .lookup import Lookup
from .queries import NvlinkA2a, NvlinkKernel, NvlinkOp
from .source import read_columns
from .sparse_grid import SparseGrid
from .system_spec import SystemSpec
from .tier import Tier

TABLE = "trtllm_alltoall_perf.parquet"
AXES = ["moe_ep_size", "hidden_size", "topk", "num_experts", "num_tokens"]
ROUTING_BYTES = 8.0  # prepare: per (token, expert) an int32 expert id and an fp32 scale, no hidden payload


def payload_bytes(op: NvlinkOp, dtype: str) -> tuple[float, float]:
    """(bytes per element, elements per hidden unit) the op moves: dispatch sends the activations in
    `dtype`, combine the BF16 expert outputs (whatever the experts' format), the low-precision combine
    NVFP4, prepare the routing only (hidden-independent: one 'element' of ROUTING_BYTES per token-expert)."""
    if op is NvlinkOp.PREPARE:
        return ROUTING_BYTES, 0.0
    if op is NvlinkOp.COMBINE:
        return sol.COMM_BYTES["bf16"], 1.0
    if op is NvlinkOp.COMBINE_LOW_PRECISION:
        return sol.COMM_BYTES["nvfp4"], 1.0
    return sol.COMM_BYTES.get(dtype, 2.0), 1.0


def op_sol_s(op: NvlinkOp, dtype: str, tokens, hidden, topk, ep, bw: float) -> np.ndarray:
    nbytes, per_hidden = payload_bytes(op, dtype)
    width = np.where(per_hidden > 0, np.asarray(hidden, dtype=np.float64), 1.0)
    return sol.moe_a2a_sol_s(tokens, width, topk, ep, nbytes, bw)


def _table(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """(path, version, donor system or None): the donor's table where the catalog names one, else this one's."""
    donor = spec.table_donor(backend, TABLE)
    if donor is not None and root is not None:
        from .catalog import load_system

        path, ver = family_table(root.parent / str(load_system(donor).silicon_dir), "comm", backend, TABLE, version)
        if path is not None:
            return path, ver, donor
    path, ver = family_table(root, "comm", backend, TABLE, version)
    return path, ver, None


@register("nvlink_a2a", ("nvl_a2a",), default_eff={"nvl_a2a": 0.1})
def nvlink_a2a_grids(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """Grids `nvl_a2a/<kernel_source>/<op_name>/<dtype>` of the system's (or its donor's) table."""
    path, ver, donor = _table(root, spec, backend, version)
    if path is None:
        return {}, {}
    cols = read_columns(path, AXES + ["latency"], ["kernel_source", "op_name", "moe_dtype"])
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    keys = np.stack([cols["kernel_source"], cols["op_name"], cols["moe_dtype"]])
    grids = {}
    for ks, op_name, raw in {tuple(k) for k in keys[:, ok].T}:
        if ks not in NvlinkKernel._value2member_map_ or op_name not in NvlinkOp._value2member_map_:
            continue  # a kernel or op sloplan does not price
        sel = ok & (keys[0] == ks) & (keys[1] == op_name) & (keys[2] == raw)
        dtype = canon_dtype(raw)
        ep, h, k, _, t = (cols[c][sel] for c in AXES)
        bw = np.where(ep <= spec.gpus_per_node, spec.intra_node_bw_bytes_per_s, spec.inter_node_bw_bytes_per_s)
        s = op_sol_s(NvlinkOp(op_name), dtype, t, h, k, ep, bw)
        lu = np.log(s / (cols["latency"][sel] * 1e-3))
        grids[f"nvl_a2a/{ks}/{op_name}/{dtype}"] = SparseGrid.of([cols[c][sel] for c in AXES], lu, [4, 0, 1, 2, 3])
    return grids, {"nvlink_a2a": f"{donor + ':' if donor else ''}{backend}@{ver}"}


def slice_for(store, kernel: NvlinkKernel, op: NvlinkOp, dtype: str):
    """(grid, floor, (op, dtype) the grid was timed at) for (kernel, op, dtype): its own slice (MEASURED);
    the same kernel and op in another dtype (combine moves BF16 outputs in every dtype, so the same bytes:
    EXTRAPOLATED; dispatch moves other bytes: ROOFLINE); a low-precision combine the kernel was not timed
    with → its standard combine (EXTRAPOLATED; NVLinkOneSided's rows have none). None when nothing fits."""
    store.ensure("nvlink_a2a")
    own = f"nvl_a2a/{kernel.value}/{op.value}/"
    if store.grid(own + dtype) is not None:
        return store.grid(own + dtype), Tier.MEASURED, (op, dtype)
    others = sorted(n for n in store.sparse if n.startswith(own))
    if others:
        floor = Tier.ROOFLINE if op is NvlinkOp.DISPATCH else Tier.EXTRAPOLATED
        return store.grid(others[-1]), floor, (op, others[-1].split("/")[3])
    if op is NvlinkOp.COMBINE_LOW_PRECISION:
        grid, floor, timed = slice_for(store, kernel, NvlinkOp.COMBINE, dtype)
        return grid, max(floor, Tier.EXTRAPOLATED), timed
    return None, Tier.ROOFLINE, (op, dtype)


@answers(NvlinkA2a)
def nvlink_a2a(db, q: NvlinkA2a) -> Lookup:
    """The slice `slice_for` picks over (ep, hidden, topk, experts, tokens); a slice timed at another op or
    dtype moves to this one's bytes as the fallback moves a donor's (`transfer_latency`: a launch-bound
    point keeps its latency, a saturated one scales with the bytes). Tier at least EXTRAPOLATED on a donated
    table. A kernel without the op (NVLinkOneSided has no prepare) → 0 s, MEASURED: it does not run. No
    table (a system without it or a donor) → the efficiency donor's answer, else the family median."""
    op, kernel, ep = NvlinkOp(q.op), NvlinkKernel(q.kernel), q.ep_size
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    if ep <= 1 or (op is NvlinkOp.PREPARE and kernel is NvlinkKernel.ONE_SIDED):
        return Lookup.of(np.zeros_like(t), Tier.MEASURED)
    dt = canon_dtype(q.dtype)
    bw = sol.link_bw_bytes_per_s(db.system, ep)
    sol_s = op_sol_s(op, dt, t, q.hidden, q.topk, ep, bw)
    grid, floor, (op_g, dt_g) = slice_for(db.store, kernel, op, dt)
    if grid is None:
        lk = db.fallback.donor_transfer(
            lambda d: d.latency(q), sol_s,
            lambda sp: op_sol_s(op, dt, t, q.hidden, q.topk, ep, sol.link_bw_bytes_per_s(sp, ep)))
        return lk if lk is not None else db.fallback.roofline(sol_s, "nvl_a2a")
    if db.system.table_donor(db.backend, TABLE) is not None:
        floor = max(floor, Tier.EXTRAPOLATED)
    lu, tier = grid.query([float(ep), float(q.hidden), float(q.topk), float(q.num_experts), t])
    sol_g = op_sol_s(op_g, dt_g, t, q.hidden, q.topk, ep, bw)
    lat = transfer_latency(sol_s, sol_g, np.exp(lu)) if (op_g, dt_g) != (op, dt) else sol_g / np.exp(lu)
    return Lookup.of(lat, np.maximum(np.asarray(tier), np.int8(floor)))
