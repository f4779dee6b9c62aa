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
from .family import register
from .lookup import Lookup
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


class QuantizeMixin:
    """PerfDB methods for activation quantization (mixed into PerfDB); read on first use."""

    def quantize(self, m, k: int, op: str = "compute_scale", dtype: str = "fp8") -> Lookup:
        """Quantizing an [m, k] bf16 activation: `op` "compute_scale" (dynamic scale) or "scale_matrix"
        (the cast itself)."""
        if op not in QUANT_FILES:
            raise ValueError(f"quantize op {op!r}: accepted {', '.join(QUANT_FILES)}")
        m = np.maximum(np.asarray(m, dtype=np.float64), 1.0)
        sol_s = sol.quantize_sol_s(self.system, op, m, float(k))
        name = f"quant/{op}/{canon_dtype(dtype)}"
        grid = self.store.family_grid("quantize", name)
        if grid is None:
            return self.fallback.roofline(sol_s, "quant", name, [m, float(k)],
                                          lambda sp: sol.quantize_sol_s(sp, op, m, float(k)))
        lu, tier = grid.query([m, float(k)])
        return self._finish(sol_s, lu, tier)

    def gemm_fp8_static(self, m, n: int, k: int, fp8_input: bool = False) -> Lookup:
        """fp8 GEMM with a static activation scale: fp8 GEMM − compute_scale [− scale_matrix when the input
        is already fp8], floored at the fp8 roofline."""
        m = np.maximum(np.asarray(m, dtype=np.float64), 1.0)
        g = self.gemm(m, n, k, "fp8")
        lat, tier = g.latency_s.copy(), g.tier.copy()
        for op in ("compute_scale",) + (("scale_matrix",) if fp8_input else ()):
            q = self.quantize(m, k, op)
            lat, tier = lat - q.latency_s, np.maximum(tier, q.tier)
        floor = sol.gemm_sol_s(self.system, m, n, k, "fp8")
        return Lookup.of(np.maximum(lat, floor), tier)
