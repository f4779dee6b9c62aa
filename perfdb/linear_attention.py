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
from .family import register
from .lookup import Lookup
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


class LinearAttentionMixin:
    """PerfDB methods for GDN and Mamba2 (mixed into PerfDB); read on first use."""

    def _linear_part(self, name: str, coords: list, sol_s, sol_fn) -> Lookup:
        grid = self.store.family_grid("linear", name)
        if grid is None:
            return self.fallback.roofline(sol_s, name.split("/")[0], name, coords, sol_fn)
        lu, tier = grid.query(coords)
        return self._finish(sol_s, lu, tier)

    def gdn(self, phase: str, batch, seq_len, num_k_heads: int, num_v_heads: int, head_k_dim: int = 128,
            head_v_dim: int = 128) -> Lookup:
        """One Gated DeltaNet layer's kernels per GPU (heads per GPU): conv1d + gated delta rule.
        `phase` "context" (`seq_len` new tokens per request) or "generation" (seq_len 1)."""
        if phase not in PHASES:
            raise ValueError(f"gdn phase {phase!r}: accepted {', '.join(PHASES)}")
        b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (batch, seq_len)))
        cd = float(2 * num_k_heads * head_k_dim + num_v_heads * head_v_dim)
        conv = self._linear_part(f"gdn/{phase}/conv", [cd, b, s], sol.conv1d_sol_s(self.system, b * s, cd),
                                 lambda sp: sol.conv1d_sol_s(sp, b * s, cd))

        def core_sol(sp):
            return sol.gdn_core_sol_s(sp, b, b * s, num_k_heads, num_v_heads, head_k_dim, head_v_dim)
        core = self._linear_part(f"gdn/{phase}/core", [float(num_k_heads), float(num_v_heads), b, s],
                                 core_sol(self.system), core_sol)
        return Lookup.of(conv.latency_s + core.latency_s, np.maximum(conv.tier, core.tier))

    def mamba2(self, phase: str, batch, seq_len, nheads: int, head_dim: int = 64, n_groups: int = 8,
               d_state: int = 128) -> Lookup:
        """Mamba2 layer's causal conv1d per GPU (the only Mamba2 kernel the wheel collected; the SSM scan is
        not included). `phase` "context" or "generation" (seq_len 1)."""
        if phase not in PHASES:
            raise ValueError(f"mamba2 phase {phase!r}: accepted {', '.join(PHASES)}")
        b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (batch, seq_len)))
        cd = float(nheads * head_dim + 2 * n_groups * d_state)
        return self._linear_part(f"mamba2/{phase}/conv", [cd, b, s], sol.conv1d_sol_s(self.system, b * s, cd),
                                 lambda sp: sol.conv1d_sol_s(sp, b * s, cd))

