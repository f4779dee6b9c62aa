"""Vision-encoder (ViT) attention: `encoder_attention/<fw>/<v>/encoder_attention_perf`.

Bidirectional attention keyed (batch_size, isl, num_heads, head_dim, attn_dtype), one lane per table.
Grid `enc/<dtype>` over (heads, head_dim, batch, seq), util against `sol.encoder_attention_sol_s`.
"""
from __future__ import annotations

import numpy as np

from . import sol
from .families_common import canon_dtype, family_table
from .family import answers, register
from .lookup import Lookup, finish
from .queries import EncoderAttention
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


@answers(EncoderAttention)
def encoder_attention(db, q: EncoderAttention) -> Lookup:
    """Grid `enc/<dtype>` over (heads, head_dim, batch, seq); no slice → the fallback."""
    nh, hd = float(q.num_heads), float(q.head_dim)
    b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (q.batch, q.seq)))
    sol_s = sol.encoder_attention_sol_s(db.system, b, s, nh, hd)
    name = f"enc/{canon_dtype(q.dtype)}"
    coords = [nh, hd, b, s]
    grid = db.store.family_grid("encoder", name)
    if grid is None:
        return db.fallback.roofline(sol_s, "enc", name, coords,
                                    lambda sp: sol.encoder_attention_sol_s(sp, b, s, nh, hd))
    lu, tier = grid.query(coords)
    return finish(sol_s, lu, tier)
