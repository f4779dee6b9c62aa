"""MLA (DeepSeek-V3 style multi-head latent attention): context / generation kernels, the absorption BMMs and
the whole-module tables. Table builders and the PerfDB methods.

All MLA tables were collected for the DeepSeek-V3 geometry; `num_heads` is heads per GPU (after TP), so the
`tp_size` column is redundant and ignored. Grids (log-util over log2 axes, same fill as attention):
* `mla_ctx/<kv>` over (heads, batch, new tokens)     — `mla/<fw>/<v>/context_mla_perf.parquet`
* `mla_gen/<kv>` over (heads, batch, kv tokens)      — `generation_mla_perf.parquet` (`step` = kv length)
* `mla_bmm/<pre|post>/<dtype>` over (heads, tokens)  — `mla_bmm/<fw>/<v>/mla_bmm_perf.parquet`
* `mla_ctx_module/<kv>/<gemm>`, `mla_gen_module/<kv>/<gemm>` — the module tables (GEMMs + kernel).
Lane: the one with the most rows (TRT-LLM has one; vLLM module tables: FLASHMLA vs FLASH_ATTN_MLA).
Read on the first MLA query (store.py, family "mla"), never at load: a dense model never reads these
tables, so it neither pays for them nor sees warnings about their rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sloplan.core.dtypes import kv_canonical, kv_sibling
from sloplan.core.enums import Phase

from . import sol
from .families_common import canon_dtype, family_table, gather_grids
from .family import answers, register
from .lanes import pick_lane
from .lookup import Lookup, finish
from .queries import ContextMla, GenerationMla, MlaBmm, MlaModule
from .source import read_columns
from .system_spec import SystemSpec
from .sparse_grid import SparseGrid
from .tables import fill_scheme, node_log_sol
from .tier import Tier

MLA_FILES = {"mla_ctx": "context_mla_perf.parquet", "mla_gen": "generation_mla_perf.parquet",
             "mla_ctx_module": "mla_context_module_perf.parquet",
             "mla_gen_module": "mla_generation_module_perf.parquet"}
BMM_PHASES = {"pre": "mla_gen_pre", "post": "mla_gen_post"}


def _mla_sol(spec: SystemSpec, kind: str, b, seq, h, kv: str):
    kvb = sol.KV_BYTES.get(kv, 2.0)
    if kind.startswith("mla_ctx"):
        return sol.context_mla_sol_s(spec, b, seq, h, kvb)
    return sol.generation_mla_sol_s(spec, b, seq, h, kvb)


def _kernel_grids(path: Path, spec: SystemSpec, kind: str):
    module = kind.endswith("module")
    cols = read_columns(path, ["num_heads", "batch_size", "isl", "step", "latency"],
                        ["kernel_source", "kv_cache_dtype"] + (["gemm_type"] if module else []))
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    lane = pick_lane(cols["kernel_source"][ok], [])
    ok &= cols["kernel_source"] == lane
    gemm = cols["gemm_type"] if module else np.full(len(ok), "")
    grids = {}
    for kv_raw, g_raw in {(k, g) for k, g in zip(cols["kv_cache_dtype"][ok], gemm[ok])}:
        sel = ok & (cols["kv_cache_dtype"] == kv_raw) & (gemm == g_raw)
        kv = canon_dtype(kv_raw)
        seq = cols["isl"][sel] if kind.startswith("mla_ctx") else cols["step"][sel]
        h, b = cols["num_heads"][sel], cols["batch_size"][sel]
        lu = np.log(_mla_sol(spec, kind, b, seq, h, kv) / (cols["latency"][sel] * 1e-3))
        name = f"{kind}/{kv}" + (f"/{canon_dtype(g_raw)}" if module else "")
        grids[name] = SparseGrid.of([h, b, seq], lu, [2, 1, 0])
    return grids, lane


@register("mla", ("mla_ctx", "mla_gen", "mla_ctx_module", "mla_gen_module", "mla_bmm"),
          sibling_prefixes=("mla_bmm",), default_eff={"mla_ctx": 0.3, "mla_gen": 0.1, "mla_bmm": 0.2},
          fill=fill_scheme, log_sol=node_log_sol)
def mla_grids(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """Every MLA grid this (system, backend) ships (version newest ≤ requested, else nearest); a table the
    catalog gives a donor (SystemSpec.table_donors) is the donor's, through this system's SOL."""
    grids, lanes = gather_grids(root, "mla", backend, version, MLA_FILES,
                                lambda path, kind: _kernel_grids(_donated(path, spec, backend), spec, kind))
    path, ver = family_table(root, "mla_bmm", backend, "mla_bmm_perf.parquet", version)
    if path is not None:
        cols = read_columns(path, ["num_tokens", "num_heads", "latency"], ["op_name", "bmm_dtype"])
        ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
        for phase, op in BMM_PHASES.items():
            for raw in np.unique(cols["bmm_dtype"][ok & (cols["op_name"] == op)]):
                sel = ok & (cols["op_name"] == op) & (cols["bmm_dtype"] == raw)
                dtype = canon_dtype(raw)
                t, h = cols["num_tokens"][sel], cols["num_heads"][sel]
                lu = np.log(sol.mla_bmm_sol_s(spec, t, h, dtype) / (cols["latency"][sel] * 1e-3))
                grids[f"mla_bmm/{phase}/{dtype}"] = SparseGrid.of([h, t], lu, [1, 0])
        lanes["mla_bmm"] = f"table@{ver}"
    return grids, lanes


def _donated(path: Path, spec: SystemSpec, backend: str) -> Path:
    """The same table in the donor system's folder where the catalog names one (and it ships it)."""
    donor = spec.table_donor(backend, path.name)
    if donor is None:
        return path
    from .catalog import load_system

    donated = path.parents[4] / str(load_system(donor).silicon_dir) / path.relative_to(path.parents[3])
    return donated if donated.is_file() else path


def _donated_kind(db, kind: str) -> bool:
    return db.system.table_donor(db.backend, MLA_FILES.get(kind, "")) is not None


def mla_lookup(db, kind: str, batch, seq, num_heads: int, kv_dtype: str, gemm: str | None = None) -> Lookup:
    """One MLA grid `kind/<kv>[/<gemm>]` over (heads per GPU, batch, seq); the other KV dtype's util through
    this dtype's SOL (ROOFLINE); no slice → the fallback. Decode in latency space (as generation attention)."""
    b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (batch, seq)))
    kv = kv_canonical(kv_dtype)
    suffix = f"/{canon_dtype(gemm)}" if gemm else ""
    db.store.ensure("mla")
    grid, floor = db.store.grid(f"{kind}/{kv}{suffix}"), Tier.EXTRAPOLATED if _donated_kind(db, kind) else Tier.MEASURED
    if grid is None:  # other KV dtype's util through this dtype's SOL
        other = kv_sibling(kv)
        grid, floor = db.store.grid(f"{kind}/{other}{suffix}"), Tier.ROOFLINE
    h = float(num_heads)
    sol_s = _mla_sol(db.system, kind, b, s, h, kv)
    if grid is None:
        return db.fallback.roofline(sol_s, kind.split("_module")[0], f"{kind}/{kv}{suffix}", [h, b, s],
                                    lambda sp: _mla_sol(sp, kind, b, s, h, kv))
    if kind == "mla_gen":  # decode: latency bilinear in raw (batch, kv), as generation attention
        lat, tier = grid.query_latency([h], [b, s], lambda bb, ss: _mla_sol(db.system, kind, bb, ss, h, kv))
        return Lookup.of(lat, np.maximum(tier, np.int8(floor)))
    lu, tier = grid.query([h, b, s])
    return finish(sol_s, lu, tier, floor)


@answers(ContextMla)
def context_mla(db, q: ContextMla) -> Lookup:
    """Looked up at the full length and scaled by the new tokens' share of causal pairs,
    (full² − prefix²)/full² (peer §1.7)."""
    b, s, p = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (q.batch, q.new_tokens, q.prefix)))
    full = np.maximum(s, 1.0) + np.maximum(p, 0.0)
    lk = mla_lookup(db, "mla_ctx", b, full, q.num_heads, q.kv_dtype)
    share = (sol.causal_pairs(full, 0) - sol.causal_pairs(np.maximum(p, 0.0), 0)) / sol.causal_pairs(full, 0)
    return Lookup.of(lk.latency_s * share, lk.tier)


@answers(GenerationMla)
def generation_mla(db, q: GenerationMla) -> Lookup:
    return mla_lookup(db, "mla_gen", q.batch, q.kv_len, q.num_heads, q.kv_dtype)


@answers(MlaModule)
def mla_module(db, q: MlaModule) -> Lookup:
    """`phase` "context" (seq = new tokens, no prefix) or "generation" (seq = kv length)."""
    kind = {Phase.CONTEXT: "mla_ctx_module", Phase.GENERATION: "mla_gen_module"}[q.phase]
    return mla_lookup(db, kind, q.batch, q.seq, q.num_heads, q.kv_dtype, q.gemm_dtype)


@answers(MlaBmm)
def mla_bmm(db, q: MlaBmm) -> Lookup:
    """Grid `mla_bmm/<phase>/<dtype>` over (heads, tokens); no slice → the fallback (sibling dtype, donor)."""
    phase, spec = q.phase, db.system
    if phase not in BMM_PHASES:
        raise ValueError(f"mla_bmm phase {phase!r}: accepted pre, post")
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    dt = canon_dtype(q.dtype)
    h = float(q.num_heads)
    sol_s = sol.mla_bmm_sol_s(spec, t, h, dt)
    db.store.ensure("mla")
    grid = db.store.grid(f"mla_bmm/{phase}/{dt}")
    if grid is None:
        return db.fallback.roofline(sol_s, "mla_bmm", f"mla_bmm/{phase}/{dt}", [h, t],
                                    lambda sp: sol.mla_bmm_sol_s(sp, t, h, dt),
                                    dtype_sol=lambda d: sol.mla_bmm_sol_s(spec, t, h, d))
    lu, tier = grid.query([h, t])
    return finish(sol_s, lu, tier)
