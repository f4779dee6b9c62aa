"""Vision-encoder (ViT) attention: `encoder_attention/<fw>/<v>/encoder_attention_perf`.

Bidirectional attention keyed (batch_size, isl, num_heads, head_dim, attn_dtype), one lane per table.
Grid `enc/<dtype>` over (heads, head_dim, batch, seq), util against `sol.encoder_attention_sol_s`.
"""
from __future__ import annotations

import numpy as np

from . import sol
from .families_common import canon_dtype, family_table
from .family import register
from .lookup import Lookup
from .source import read_columns
from .sparse_grid import SparseGrid


@register("encoder", ("enc",))
def encoder_grids(root, spec, backend: str, version: str):
    path, ver = family_table(root, "encoder_attention", backend, "encoder_attention_perf.parquet", version)
    if path is None:
        return {}, {}
    cols = read_columns(path, ["batch_size", "isl", "num_heads", "head_dim", "latency"],
                        ["attn_dtype", "kernel_source"])
    grids = {}
    for raw in np.unique(cols["attn_dtype"]):
        sel = cols["attn_dtype"] == raw
        b, s, h, d = (cols[c][sel] for c in ("batch_size", "isl", "num_heads", "head_dim"))
        lu = np.log(sol.encoder_attention_sol_s(spec, b, s, h, d) / (cols["latency"][sel] * 1e-3))
        grids[f"enc/{canon_dtype(raw)}"] = SparseGrid.of([h, d, b, s], lu, [3, 2, 0, 1])
    return grids, {"enc": f"{cols['kernel_source'][0] if len(cols['kernel_source']) else ''}@{ver}"}


class EncoderMixin:
    """PerfDB method for ViT encoder attention (mixed into PerfDB); read on first use."""

    def encoder_attention(self, batch, seq, num_heads: int, head_dim: int, dtype: str = "bf16") -> Lookup:
        """Bidirectional attention of `batch` images of `seq` patches each, per layer per GPU."""
        b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (batch, seq)))
        sol_s = sol.encoder_attention_sol_s(self.system, b, s, float(num_heads), float(head_dim))
        name = f"enc/{canon_dtype(dtype)}"
        coords = [float(num_heads), float(head_dim), b, s]
        grid = self.store.family_grid("encoder", name)
        if grid is None:
            def sol_on(sp):
                return sol.encoder_attention_sol_s(sp, b, s, float(num_heads), float(head_dim))
            return self.fallback.roofline(sol_s, "enc", name, coords, sol_on)
        lu, tier = grid.query(coords)
        return self._finish(sol_s, lu, tier)
