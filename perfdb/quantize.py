"""Activation quantization tables (`quantize/<fw>/<v>/computescale_perf`, `scale_matrix_perf`) and the
static-scale fp8 GEMM built from them.

Both tables are keyed (m, k, quant_dtype) with one lane each: `compute_scale` = the dynamic per-tensor
amax/scale computation an fp8 GEMM with dynamic activation scales pays (vLLM ships it already as
dynamic − static quant), `scale_matrix` = casting the [m, k] activation to fp8. Grids `quant/<op>/<dtype>`
over (m, k), util against `sol.quantize_sol_s` (reads m·k bf16, scale_matrix also writes m·k fp8).

`gemm_fp8_static` (also `gemm(..., dtype="fp8_static")`) follows the peer (§2.4): the fp8 GEMM table
times a GEMM whose activation is quantized with a dynamic scale, so a static-scale GEMM =
fp8 GEMM − compute_scale(m, k) [− scale_matrix(m, k) when the input already arrives in fp8], floored at
the fp8 GEMM's roofline. Tier = the worst of the parts.
"""
from __future__ import annotations

import numpy as np

from . import sol
from .families_common import canon_dtype, family_table
from .family import answers, register
from .lookup import Lookup, finish
from .queries import Gemm, GemmFp8Static, Quantize
from .source import read_columns
from .sparse_grid import SparseGrid

QUANT_FILES = {"compute_scale": "computescale_perf.parquet", "scale_matrix": "scale_matrix_perf.parquet"}


@register("quantize", ("quant",))
def quantize_grids(root, spec, backend: str, version: str):
    grids, lanes = {}, {}
    for op, fname in QUANT_FILES.items():
        path, ver = family_table(root, "quantize", backend, fname, version)
        if path is None:
            continue
        cols = read_columns(path, ["m", "k", "latency"], ["quant_dtype", "kernel_source"])
        for raw in np.unique(cols["quant_dtype"]):
            sel = cols["quant_dtype"] == raw
            m, k = cols["m"][sel], cols["k"][sel]
            lu = np.log(sol.quantize_sol_s(spec, op, m, k) / (cols["latency"][sel] * 1e-3))
            grids[f"quant/{op}/{canon_dtype(raw)}"] = SparseGrid.of([m, k], lu, [0, 1])
        lanes[f"quant/{op}"] = f"{cols['kernel_source'][0] if len(cols['kernel_source']) else ''}@{ver}"
    return grids, lanes


@answers(Quantize)
def quantize(db, q: Quantize) -> Lookup:
    """Util from the `quant/<op>/<dtype>` grid over (m, k); no slice → the fallback."""
    op, k = q.op, q.k
    if op not in QUANT_FILES:
        raise ValueError(f"quantize op {op!r}: accepted {', '.join(QUANT_FILES)}")
    m = np.maximum(np.asarray(q.m, dtype=np.float64), 1.0)
    sol_s = sol.quantize_sol_s(db.system, op, m, float(k))
    name = f"quant/{op}/{canon_dtype(q.dtype)}"
    grid = db.store.family_grid("quantize", name)
    if grid is None:
        return db.fallback.roofline(sol_s, "quant", name, [m, float(k)],
                                    lambda sp: sol.quantize_sol_s(sp, op, m, float(k)))
    lu, tier = grid.query([m, float(k)])
    return finish(sol_s, lu, tier)


@answers(GemmFp8Static)
def gemm_fp8_static(db, q: GemmFp8Static) -> Lookup:
    """fp8 GEMM − compute_scale [− scale_matrix when the input is already fp8], floored at the fp8 roofline."""
    n, k = q.n, q.k
    m = np.maximum(np.asarray(q.m, dtype=np.float64), 1.0)
    g = db.latency(Gemm(m, n, k, "fp8"))
    lat, tier = g.latency_s.copy(), g.tier.copy()
    for op in ("compute_scale",) + (("scale_matrix",) if q.fp8_input else ()):
        part = db.latency(Quantize(m, k, op))
        lat, tier = lat - part.latency_s, np.maximum(tier, part.tier)
    floor = sol.gemm_sol_s(db.system, m, n, k, "fp8")
    return Lookup.of(np.maximum(lat, floor), tier)
