"""Physical bounds on the latencies of a user's perf table: one warning per file and column, never an error.

A latency of 1e-30 s or 1e30 s is a unit slip or a broken timer, not a kernel, yet it would become a MEASURED
point. The bound is the op's roofline (sol.py, the same SOL the grids divide by), evaluated per row on the
system the table sits under (`<overlay>/<system>/<family>/<framework>/<version>/<file>`):

| rows of                                       | too fast               | too slow                        |
|-----------------------------------------------|------------------------|---------------------------------|
| GEMM (bf16, fp8, fp8_block, nvfp4), context / | < `FAST_VS_SOL` (0.1)  | > `SLOW_S` (1 s) and            |
| generation attention, MLA, all-reduce, NCCL   | × roofline             | > `SLOW_VS_SOL` (1000) × roofline |
| any other table (no roofline bound here)      | < `ANY_FAST_S` (1 ns)  | > `ANY_SLOW_S` (1 h)            |

Why a tenth and not the roofline itself: the roofline counts HBM traffic, and a small kernel whose operands
stay in L2 beats it — the shipped L40S tables (96 MB L2) reach 4.7× the roofline; nothing reaches 10×.
Why "over a second *and* 1000× the roofline": real kernels take over a second (the shipped tables hold
context attention at 2 s, a GEMM at 1.35 s) but then they are near their roofline. The other families'
rooflines here are estimates, not bounds (shipped quantize / GDN rows beat them 20×), so only absurd values
are flagged there. The rows are kept: the user decides.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from sloplan.core.enums import Phase

from . import sol
from .dtypes import canon_dtype
from .validate import PerfDataWarning, is_latency, is_value

FAST_VS_SOL, SLOW_S, SLOW_VS_SOL = 0.1, 1.0, 1000.0
ANY_FAST_S, ANY_SLOW_S = 1e-9, 3600.0
GEMM_DTYPES = {"bfloat16": "bf16", "bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8_block", "nvfp4": "nvfp4"}
MLA_KINDS = {"context_mla_perf.parquet": "ctx", "mla_context_module_perf.parquet": "ctx",
             "generation_mla_perf.parquet": "gen", "mla_generation_module_perf.parquet": "gen"}


def unit_s(column: str) -> float:
    """Seconds per unit of a latency column (`*_us` µs; every other one ms; the MoE all-to-all table, whose
    `latency` is in µs, has no roofline bound here, so only its absurd values are checked — in ms: lenient)."""
    return 1e-6 if column.endswith("_us") else 1e-3


def system_of(path: Path):
    """The SystemSpec of the `<system>` folder a user table sits under, or None (not in the layout)."""
    from .catalog import list_systems, load_system

    parts = Path(path).parts
    name = parts[-5] if len(parts) >= 5 else None
    return load_system(name) if name in list_systems() else None


def roofline_s(name: str, cols: dict[str, np.ndarray], spec) -> np.ndarray | None:
    """Per-row roofline (s) of a table whose roofline is a bound, NaN on rows it does not cover; else None."""
    try:
        return _roofline(name, cols, spec)
    except KeyError:  # the reader did not ask for a column the formula needs
        return None


def _roofline(name: str, c: dict[str, np.ndarray], spec) -> np.ndarray | None:
    if name == "gemm_perf.parquet":
        out = np.full(len(c["m"]), np.nan)
        for raw in np.unique(c["gemm_dtype"]):
            sel, dt = c["gemm_dtype"] == raw, GEMM_DTYPES.get(str(raw))
            if dt is not None:
                out[sel] = sol.gemm_sol_s(spec, c["m"][sel], c["n"][sel], c["k"][sel], dt)
        return out
    if name in ("context_attention_perf.parquet", "generation_attention_perf.parquet"):
        kvb = np.array([sol.KV_BYTES.get(canon_dtype(d), 2.0) for d in c["kv_cache_dtype"]])
        b, h, nkv, d, w = (c[k] for k in ("batch_size", "num_heads", "num_key_value_heads", "head_dim", "window_size"))
        if name.startswith("generation"):
            return sol.generation_attention_sol_s(spec, b, c["step"], h, nkv, d, w, kvb)
        out = np.empty(len(b))
        for raw in np.unique(c["attn_dtype"]):
            sel = c["attn_dtype"] == raw
            out[sel] = sol.context_attention_sol_s(spec, b[sel], c["isl"][sel], 0.0, h[sel], nkv[sel], d[sel],
                                                   w[sel], kvb[sel], canon_dtype(raw))
        return out
    if name in MLA_KINDS:
        kvb = np.array([sol.KV_BYTES.get(canon_dtype(d), 2.0) for d in c["kv_cache_dtype"]])
        if MLA_KINDS[name] == Phase.CONTEXT.short:
            return sol.context_mla_sol_s(spec, c["batch_size"], c["isl"], c["num_heads"], kvb)
        return sol.generation_mla_sol_s(spec, c["batch_size"], c["step"], c["num_heads"], kvb)
    if name == "mla_bmm_perf.parquet":
        out = np.empty(len(c["num_tokens"]))
        for raw in np.unique(c["bmm_dtype"]):
            sel = c["bmm_dtype"] == raw
            out[sel] = sol.mla_bmm_sol_s(spec, c["num_tokens"][sel], c["num_heads"][sel], canon_dtype(raw))
        return out
    if name == "custom_allreduce_perf.parquet":
        return sol.all_reduce_sol_s(c["message_size"], c["num_gpus"], spec.intra_node_bw_bytes_per_s)
    if name == "nccl_perf.parquet":
        out = np.full(len(c["num_gpus"]), np.nan)
        for op in np.unique(c["op_name"]):
            sel = c["op_name"] == op
            nbytes = np.array([sol.NCCL_BYTES.get(canon_dtype(d), 2.0) for d in c["nccl_dtype"][sel]])
            out[sel] = sol.nccl_sol_s(str(op), c["message_size"][sel], c["num_gpus"][sel], nbytes,
                                      spec.intra_node_bw_bytes_per_s)
        return out
    return None


def implausible(t_s: np.ndarray, sol_s: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(too fast, too slow) masks of latencies `t_s` given per-row rooflines (None / NaN: absurd-only)."""
    sol_s = np.full(len(t_s), np.nan) if sol_s is None else np.broadcast_to(np.asarray(sol_s, float), t_s.shape)
    bounded = np.isfinite(sol_s) & (sol_s > 0)
    with np.errstate(invalid="ignore"):
        fast = np.where(bounded, t_s < FAST_VS_SOL * sol_s, t_s < ANY_FAST_S)
        slow = np.where(bounded, (t_s > SLOW_S) & (t_s > SLOW_VS_SOL * sol_s), t_s > ANY_SLOW_S)
    return fast, slow


def warn_implausible(path: Path, cols: dict[str, np.ndarray]) -> None:
    """One PerfDataWarning per latency column of a user table holding implausible rows (module docstring)."""
    lat_cols = [c for c in cols if is_latency(c)]
    if not lat_cols or not len(cols[lat_cols[0]]):
        return
    spec = system_of(path)
    sol_s = roofline_s(Path(path).name, cols, spec) if spec is not None else None
    for col in lat_cols:
        t = cols[col] * unit_s(col)
        fast, slow = implausible(t, sol_s)
        parts = [_part(cols, t, sol_s, mask, what) for mask, what in
                 ((fast, "faster than physically possible"), (slow, "implausibly slow")) if mask.any()]
        if parts:
            warnings.warn(f"perf table {path}, column {col!r}: " + "; ".join(parts) + " (kept; check the unit: "
                          + ("µs" if col.endswith("_us") else "ms") + ")", PerfDataWarning, stacklevel=4)


def _part(cols, t, sol_s, mask, what: str) -> str:
    i = int(np.nonzero(mask)[0][0])
    keys = ", ".join(f"{k}={_fmt(cols[k][i])}" for k in cols if not is_value(k))
    bound = sol_s is not None and np.isfinite(sol_s[i])
    ref = (f"roofline {sol_s[i]:.3g} s" if bound else f"any kernel takes {ANY_FAST_S:g} s to {ANY_SLOW_S:g} s")
    return f"{int(mask.sum())} of {len(t)} rows {what} (e.g. {keys}: {t[i]:.3g} s; {ref})"


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)
