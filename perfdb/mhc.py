"""DeepSeek-V4 manifold hyper-connections: `mhc/<fw>/<v>/mhc_module_perf` (ops `pre`, `post`).

Keyed (num_tokens, hidden_size) at hc_mult 4, 2 sites, 20 Sinkhorn iterations (the only values
collected). Lanes: TRT-LLM ships several `pre` kernels, each timed only where its dispatcher may pick it
(FMA for few tokens, DeepGEMM split-K / no-split above), so per (hidden, tokens) the fastest lane is kept.
Grid `mhc/<op>` over (hidden, tokens),
util against `sol.mhc_sol_s`.
"""
from __future__ import annotations

import numpy as np

from . import sol
from .families_common import family_table
from .family import answers, register
from .lookup import Lookup, finish
from .queries import Mhc
from .source import read_columns
from .sparse_grid import SparseGrid

MHC_OPS = ("pre", "post")


@register("mhc", ("mhc",))
def mhc_grids(root, spec, backend: str, version: str):
    path, ver = family_table(root, "mhc", backend, "mhc_module_perf.parquet", version)
    if path is None:
        return {}, {}
    cols = read_columns(path, ["num_tokens", "hidden_size", "hc_mult", "latency"], ["op_name", "kernel_source"])
    grids, lanes = {}, {}
    for op in MHC_OPS:
        sel = cols["op_name"] == op
        if not sel.any():
            continue
        key = np.stack([cols["hidden_size"][sel], cols["num_tokens"][sel], cols["hc_mult"][sel]], axis=1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        fastest = np.full(len(uniq), np.inf)
        np.minimum.at(fastest, inv.ravel(), cols["latency"][sel])
        h, t, hc = uniq[:, 0], uniq[:, 1], uniq[:, 2]
        lu = np.log(sol.mhc_sol_s(spec, t, h, hc) / (fastest * 1e-3))
        grids[f"mhc/{op}"] = SparseGrid.of([h, t], lu, [1, 0])
        lanes[f"mhc/{op}"] = "fastest of " + ",".join(np.unique(cols["kernel_source"][sel])) + f"@{ver}"
    return grids, lanes


@answers(Mhc)
def mhc(db, q: Mhc) -> Lookup:
    """Grid `mhc/<op>` over (hidden, tokens); no slice → the fallback."""
    op, hidden, hc_mult = q.op, float(q.hidden), q.hc_mult
    if op not in MHC_OPS:
        raise ValueError(f"mhc op {op!r}: accepted pre, post")
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    sol_s = sol.mhc_sol_s(db.system, t, hidden, hc_mult)
    grid = db.store.family_grid("mhc", f"mhc/{op}")
    if grid is None:
        return db.fallback.roofline(sol_s, "mhc", f"mhc/{op}", [hidden, t],
                                    lambda sp: sol.mhc_sol_s(sp, t, hidden, hc_mult))
    lu, tier = grid.query([hidden, t])
    return finish(sol_s, lu, tier)
