"""Sparse attention: DeepSeek-V3.2 / GLM-5 DSA module tables and the GLM-5 kernel-level tables.

Tables (`sparse_attention/<fw>/<v>/…`, version newest ≤ requested, else nearest):
* `dsa_context_module_perf`, `dsa_generation_module_perf`: the whole DSA attention module (projections,
  lightning indexer, top-k, sparse MLA) per GPU; `num_heads` is heads per GPU (`tp_size` redundant).
  Slices `dsa_{ctx,gen}/<arch>/<kv>/<gemm>` (arch `dsv32` = DeepseekV32ForCausalLM, `glm5` =
  GlmMoeDsaForCausalLM; kv/gemm canonical dtypes), axes (heads, batch, tokens): context tokens = `isl`
  (rows with `step` = 0, i.e. no prefix), generation tokens = `step` (cached KV length). Lane: the
  non-`skip_indexer` op, then the kernel_source with the most rows (SGLang ships several; its context
  table prefers `*flashmla_sparse`, the sparse prefill kernel, over the dense-MHA short-sequence path).
* `glm5_{dsa_attn,mqa_logits,topk}_module_perf` (SGLang, kernel level, 64 heads): slices
  `glm5/<op>[/<score_mode>]` over (batch, isl, kv = isl + step).
Utilization is against `sol.dsa_module_sol_s` / `sol.glm5_kernel_sol_s` (indexer over all pairs in fp8 +
MLA over ≤ 2048 selected keys), filled and interpolated like every grid (log-util in log2 axes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sloplan.core.enums import Phase

from . import sol
from .families_common import canon_dtype, family_table, gather_grids
from .lanes import pick_lane
from .family import answers, register
from .lookup import Lookup, finish
from .queries import DsaModule, Glm5Kernel
from .source import read_columns
from .sparse_grid import SparseGrid
from .tier import Tier

DSA_FILES = {"dsa_ctx": "dsa_context_module_perf.parquet", "dsa_gen": "dsa_generation_module_perf.parquet"}
GLM5_FILES = {"dsa_attn": "glm5_dsa_attn_module_perf.parquet", "mqa_logits": "glm5_mqa_logits_module_perf.parquet",
              "topk": "glm5_topk_module_perf.parquet"}
ARCH = {"DeepseekV32ForCausalLM": "dsv32", "GlmMoeDsaForCausalLM": "glm5"}
MODEL_ALIASES = {"dsv32": "dsv32", "deepseek_v32": "dsv32", "deepseek-v3.2": "dsv32", "glm5": "glm5", "glm-5": "glm5"}


def _kv(name: str) -> str:
    return "fp8" if canon_dtype(name).startswith("fp8") else "bf16"


def _dsa_grids(path: Path, spec, kind: str):
    cols = read_columns(path, ["num_heads", "batch_size", "isl", "step", "latency"],
                        ["op_name", "kernel_source", "architecture", "model", "kv_cache_dtype", "gemm_type"])
    ok = np.char.find(cols["op_name"], "skip_indexer") < 0
    if kind == "dsa_ctx":
        ok &= cols["step"] == 0
    if not ok.any():
        return {}, ""
    lane = pick_lane(cols["kernel_source"][ok], ["flashmla_sparse"] if kind == "dsa_ctx" else [])
    ok &= cols["kernel_source"] == lane
    grids = {}
    keys = np.stack([cols["architecture"], cols["kv_cache_dtype"], cols["gemm_type"]])
    for arch_raw, kv_raw, g_raw in {tuple(k) for k in keys[:, ok].T}:
        sel = ok & (keys[0] == arch_raw) & (keys[1] == kv_raw) & (keys[2] == g_raw)
        kv, arch = _kv(kv_raw), ARCH.get(arch_raw, arch_raw.lower())
        h, b = cols["num_heads"][sel], cols["batch_size"][sel]
        seq = cols["isl"][sel] if kind == "dsa_ctx" else cols["step"][sel]
        phase = "context" if kind == "dsa_ctx" else "generation"
        lu = np.log(sol.dsa_module_sol_s(spec, phase, b, seq, h, sol.KV_BYTES[kv]) / (cols["latency"][sel] * 1e-3))
        grids[f"{kind}/{arch}/{kv}/{canon_dtype(g_raw)}"] = SparseGrid.of([h, b, seq], lu, [2, 1, 0])
    return grids, lane


def _glm5_grids(path: Path, spec, op: str):
    text = ["kernel_source"] + (["score_mode"] if op == "topk" else [])
    cols = read_columns(path, ["batch_size", "isl", "step", "num_heads", "latency"], text)
    cols.setdefault("score_mode", np.full(len(cols["latency"]), ""))
    grids = {}
    for mode in np.unique(cols["score_mode"]):
        sel = cols["score_mode"] == mode
        b, q = cols["batch_size"][sel], cols["isl"][sel]
        kv = q + cols["step"][sel]
        lu = np.log(sol.glm5_kernel_sol_s(spec, op, b, q, kv, cols["num_heads"][sel]) / (cols["latency"][sel] * 1e-3))
        grids[f"glm5/{op}" + (f"/{mode}" if mode else "")] = SparseGrid.of([b, q, kv], lu, [2, 1, 0])
    return grids


@register("sparse", ("dsa_ctx", "dsa_gen", "glm5"))
def sparse_grids(root, spec, backend: str, version: str):
    """Every sparse-attention grid this (system, backend) ships, and the lanes used."""
    grids, lanes = gather_grids(root, "sparse_attention", backend, version, DSA_FILES,
                                lambda path, kind: _dsa_grids(path, spec, kind))
    for op, fname in GLM5_FILES.items():
        path, ver = family_table(root, "sparse_attention", backend, fname, version)
        if path is not None:
            grids.update(_glm5_grids(path, spec, op))
            lanes[f"glm5/{op}"] = f"table@{ver}"
    return grids, lanes


@answers(DsaModule)
def dsa_module(db, q: DsaModule) -> Lookup:
    """`phase` "context" (`seq` new tokens over `prefix` cached ones) or "generation" (`seq` = cached KV
    length, one new token per request); `num_heads` per GPU; `model` "dsv32" (DeepSeek-V3.2) or "glm5".

    Slice fallbacks: other model → EXTRAPOLATED; other GEMM dtype or KV dtype → ROOFLINE tier (util
    of that slice through this query's SOL); no slice → roofline fallback (donor's util at this shape).
    Context with a prefix: looked up at the full length, scaled by the new tokens' share of the
    (top-k capped) causal pairs."""
    phase, h = q.phase, float(q.num_heads)
    kind = {Phase.CONTEXT: "dsa_ctx", Phase.GENERATION: "dsa_gen"}[phase]
    b, s, p = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (q.batch, q.seq, q.prefix)))
    b, s, p = np.maximum(b, 1.0), np.maximum(s, 1.0), np.maximum(p, 0.0)
    full = s + p if phase == Phase.CONTEXT else s
    kv, gemm = _kv(q.kv_dtype), canon_dtype(q.gemm_dtype)
    arch = MODEL_ALIASES.get(str(q.model).lower(), str(q.model).lower())
    sol_s = sol.dsa_module_sol_s(db.system, phase, b, full, h, sol.KV_BYTES[kv])
    share = 1.0
    if phase == Phase.CONTEXT:
        w = sol.DSA_TOPK
        share = (sol.causal_pairs(full, w) - sol.causal_pairs(p, w)) / sol.causal_pairs(full, w)
    db.store.ensure("sparse")
    other = {"dsv32": "glm5", "glm5": "dsv32"}.get(arch, "dsv32")
    tries = [(arch, kv, gemm, Tier.MEASURED), (other, kv, gemm, Tier.EXTRAPOLATED)]
    tries += [(a, k, g, Tier.ROOFLINE) for a in (arch, other) for k in (kv, "bf16", "fp8")
              for g in (gemm, "fp8_block", "bf16")]
    for a, k, g, floor in tries:
        grid = db.store.grid(f"{kind}/{a}/{k}/{g}")
        if grid is not None:
            lu, tier = grid.query([h, b, full])
            lk = finish(sol_s, lu, tier, floor)
            return Lookup.of(lk.latency_s * share, lk.tier)
    lk = db.fallback.roofline(sol_s, kind, f"{kind}/{arch}/{kv}/{gemm}", [h, b, full],
                              lambda sp: sol.dsa_module_sol_s(sp, phase, b, full, h, sol.KV_BYTES[kv]))
    return Lookup.of(lk.latency_s * share, lk.tier)


@answers(Glm5Kernel)
def glm5_kernel(db, q: Glm5Kernel) -> Lookup:
    """`op` "dsa_attn", "mqa_logits" or "topk" (`score_mode` flat / top_last), `isl` queries per request
    over `kv_len` keys (kv_len ≥ isl)."""
    op = q.op
    if op not in GLM5_FILES:
        raise ValueError(f"glm5_kernel op {op!r}: accepted {', '.join(GLM5_FILES)}")
    b, qs, kv = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0)
                                      for x in (q.batch, q.isl, q.kv_len)))
    kv = np.maximum(kv, qs)
    sol_s = sol.glm5_kernel_sol_s(db.system, op, b, qs, kv)
    name = f"glm5/{op}" + (f"/{q.score_mode}" if op == "topk" else "")
    grid = db.store.family_grid("sparse", name)
    if grid is None:
        return db.fallback.roofline(sol_s, "glm5", name, [b, qs, kv],
                                    lambda sp: sol.glm5_kernel_sol_s(sp, op, b, qs, kv))
    lu, tier = grid.query([b, qs, kv])
    return finish(sol_s, lu, tier)
