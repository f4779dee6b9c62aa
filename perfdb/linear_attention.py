"""Linear attention: Gated DeltaNet (`gdn_perf`, Qwen3.5) and Mamba2 (`mamba2_perf`, Nemotron-H) tables.

Tables (`linear_attention/<fw>/<v>/…`, version newest ≤ requested, else nearest) hold one row per kernel
(`kernel_source`) and `phase` (context: batch × seq_len tokens; generation: seq_len = 1). Each phase runs
a short causal conv1d (`causal_conv1d_fn` / `causal_conv1d_update`) and — GDN only — the gated delta rule
(`chunk_gated_delta_rule*` / `fused_recurrent_gated_delta_rule*`). The Mamba2 table ships only the conv1d
kernels (the SSM scan was not collected), so `mamba2` answers the conv part alone.

Grids (log-util in log2 axes, filled like GEMM):
* `gdn/<phase>/conv`, `mamba2/<phase>/conv` over (conv_dim, batch, seq_len) — conv_dim = 2·nk·dk + nv·dv
  (GDN) or nheads·head_dim + 2·n_groups·d_state (Mamba2): the conv's only size; SOL `sol.conv1d_sol_s`.
* `gdn/<phase>/core` over (num_k_heads, num_v_heads, batch, seq_len); SOL `sol.gdn_core_sol_s`.
Lane per (phase, role): the kernel_source with the most rows.
"""
from __future__ import annotations

import numpy as np

from . import sol
from .families_common import family_table
from .lanes import pick_lane
from .family import answers, register
from .lookup import Lookup, finish
from .queries import Gdn, Mamba2
from .source import read_columns
from .sparse_grid import SparseGrid

PHASES = ("context", "generation")


def _role(kernel: np.ndarray) -> np.ndarray:
    return np.where(np.char.find(np.char.lower(kernel.astype(str)), "conv") >= 0, "conv", "core")


def _lanes(cols, op: str, lanes: dict, ver: str):
    """Mask of the chosen lane per (phase, role) and the role of each row."""
    role = _role(cols["kernel_source"])
    keep = np.zeros(len(role), dtype=bool)
    for ph in PHASES:
        for r in ("conv", "core"):
            sel = (cols["phase"] == ph) & (role == r)
            if sel.any():
                lane = pick_lane(cols["kernel_source"][sel], [])
                keep |= sel & (cols["kernel_source"] == lane)
                lanes[f"{op}/{ph}/{r}"] = f"{lane}@{ver}"
    return keep, role


@register("linear", ("gdn", "mamba2"))
def linear_grids(root, spec, backend: str, version: str):
    grids, lanes = {}, {}
    path, ver = family_table(root, "linear_attention", backend, "gdn_perf.parquet", version)
    if path is not None:
        cols = read_columns(path, ["batch_size", "seq_len", "d_model", "num_k_heads", "num_v_heads", "head_k_dim",
                                   "head_v_dim", "latency"], ["phase", "kernel_source"])
        keep, role = _lanes(cols, "gdn", lanes, ver)
        b, s = cols["batch_size"], cols["seq_len"]
        nk, nv, dk, dv = cols["num_k_heads"], cols["num_v_heads"], cols["head_k_dim"], cols["head_v_dim"]
        lat = cols["latency"] * 1e-3
        for ph in PHASES:
            sel = keep & (cols["phase"] == ph) & (role == "conv")
            if sel.any():
                cd = 2 * nk[sel] * dk[sel] + nv[sel] * dv[sel]
                lu = np.log(sol.conv1d_sol_s(spec, b[sel] * s[sel], cd) / lat[sel])
                grids[f"gdn/{ph}/conv"] = SparseGrid.of([cd, b[sel], s[sel]], lu, [2, 1, 0])
            sel = keep & (cols["phase"] == ph) & (role == "core")
            if sel.any():
                lu = np.log(sol.gdn_core_sol_s(spec, b[sel], b[sel] * s[sel], nk[sel], nv[sel], dk[sel], dv[sel])
                            / lat[sel])
                grids[f"gdn/{ph}/core"] = SparseGrid.of([nk[sel], nv[sel], b[sel], s[sel]], lu, [3, 2, 1, 0])
    path, ver = family_table(root, "linear_attention", backend, "mamba2_perf.parquet", version)
    if path is not None:
        cols = read_columns(path, ["batch_size", "seq_len", "d_model", "d_state", "nheads", "head_dim", "n_groups",
                                   "chunk_size", "latency"], ["phase", "kernel_source"])
        keep, role = _lanes(cols, "mamba2", lanes, ver)
        for ph in PHASES:
            sel = keep & (cols["phase"] == ph) & (role == "conv")
            if sel.any():
                cd = cols["nheads"][sel] * cols["head_dim"][sel] + 2 * cols["n_groups"][sel] * cols["d_state"][sel]
                b, s = cols["batch_size"][sel], cols["seq_len"][sel]
                lu = np.log(sol.conv1d_sol_s(spec, b * s, cd) / (cols["latency"][sel] * 1e-3))
                grids[f"mamba2/{ph}/conv"] = SparseGrid.of([cd, b, s], lu, [2, 1, 0])
    return grids, lanes


def _linear_part(db, name: str, coords: list, sol_s, sol_fn) -> Lookup:
    grid = db.store.family_grid("linear", name)
    if grid is None:
        return db.fallback.roofline(sol_s, name.split("/")[0], name, coords, sol_fn)
    lu, tier = grid.query(coords)
    return finish(sol_s, lu, tier)


@answers(Gdn)
def gdn(db, q: Gdn) -> Lookup:
    """Sum of the conv1d grid and the gated-delta-rule core grid of the phase (generation: seq_len 1)."""
    phase, nk, nv, dk, dv = q.phase, q.num_k_heads, q.num_v_heads, q.head_k_dim, q.head_v_dim
    if phase not in PHASES:
        raise ValueError(f"gdn phase {phase!r}: accepted {', '.join(PHASES)}")
    b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (q.batch, q.seq_len)))
    cd = float(2 * nk * dk + nv * dv)
    conv = _linear_part(db, f"gdn/{phase}/conv", [cd, b, s], sol.conv1d_sol_s(db.system, b * s, cd),
                        lambda sp: sol.conv1d_sol_s(sp, b * s, cd))

    def core_sol(sp):
        return sol.gdn_core_sol_s(sp, b, b * s, nk, nv, dk, dv)
    core = _linear_part(db, f"gdn/{phase}/core", [float(nk), float(nv), b, s], core_sol(db.system), core_sol)
    return Lookup.of(conv.latency_s + core.latency_s, np.maximum(conv.tier, core.tier))


@answers(Mamba2)
def mamba2(db, q: Mamba2) -> Lookup:
    """The conv1d grid of the phase (the only Mamba2 kernel the wheel collected; no SSM scan)."""
    phase = q.phase
    if phase not in PHASES:
        raise ValueError(f"mamba2 phase {phase!r}: accepted {', '.join(PHASES)}")
    b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (q.batch, q.seq_len)))
    cd = float(q.nheads * q.head_dim + 2 * q.n_groups * q.d_state)
    return _linear_part(db, f"mamba2/{phase}/conv", [cd, b, s], sol.conv1d_sol_s(db.system, b * s, cd),
                        lambda sp: sol.conv1d_sol_s(sp, b * s, cd))
