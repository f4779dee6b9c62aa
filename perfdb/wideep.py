"""Wide expert parallelism ("WideEP", peer §1.3): expert compute, attention module and dense MLP tables that
were collected for large-EP DeepSeek-style deployments. Read on first use (lazy family `wideep`).

Tables and grids (log-util over log2 axes, default fill; latency ms → s):
* `moe/trtllm/<v>/wideep_moe_perf.parquet` — TRT-LLM WideEP MoE (op `wideep_moe`, `wideep_moe_eplb` with
  `_eplb` distributions and `num_slots` ≥ experts = redundant EPLB slots). `num_tokens` is the whole
  EP group's token count (`dp_num_tokens` = ceil(num_tokens / ep) per rank is derived from it, and
  `rank0_num_tokens` is the routing simulation's outcome for rank 0 — neither is a query key).
  → `wideep_moe/any/<dtype>/<distribution>` over (hidden, inter, topk, experts, slots, ep, tokens).
* `moe/sglang/<v>/wideep_{context,generation}_moe_perf.parquet` — SGLang DeepEP MoE (`deepepmoe`), keyed
  by the table's `num_tokens`, ep and distribution (uniform, power_law_0.6 … 1.2)
  → `wideep_moe/<context|generation>/<dtype>/<distribution>` (slots = experts).
* `mla/sglang/<v>/wideep_{context,generation}_mla_perf.parquet` — DeepSeek-V3 attention module under
  DP attention; `isl` is the sequence (context: new tokens; generation: KV length; `step` is always 0)
  → `wideep_mla_{ctx,gen}/<kv>/<gemm>` over (heads, batch, seq). Lane: `fa3` on SM90, else most rows
  (flashinfer / trtllm_mla on Blackwell).
* `mlp/sglang/<v>/wideep_{context,generation}_mlp_perf.parquet` — DeepSeek-V3 dense MLP (`avg_ms`,
  `num_token`) → `wideep_mlp/<phase>/<dtype>` over (hidden, inter, tokens); SOL = gate/up GEMM
  (n = 2·inter) + down GEMM.
The only `simulation_mode` shipped is "accurate"; the lane with the most rows is used per slice.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.dtypes import kv_canonical, kv_sibling
from sloplan.core.enums import Phase

from . import sol
from .families_common import canon_dtype, family_table, gather_grids
from .lookup import Lookup, finish
from .deepep import by_step
from .queries import DeepEpMoe, Gemm, MlaModule, Moe, WideEpMla, WideEpMlp, WideEpMoe
from .tier import Tier
from .lanes import pick_lane
from .family import answers, register
from .source import read_columns
from .sparse_grid import SparseGrid

WIDEEP_MOE_AXES = ["hidden_size", "inter_size", "topk", "num_experts", "num_slots", "moe_ep_size", "num_tokens"]
MOE_FILL = [6, 5, 0, 1, 4, 3, 2]
MLA_FILES = {"ctx": "wideep_context_mla_perf.parquet", "gen": "wideep_generation_mla_perf.parquet"}
PHASES = {p.value: p.short for p in Phase}


def _moe_lu(spec, cols, sel, dtype):
    h, i, k, e, _, ep, t = (cols[c][sel] for c in WIDEEP_MOE_AXES)
    return np.log(sol.moe_sol_s(spec, t, h, i, k, e, 1.0, ep, dtype) / (cols["latency"][sel] * 1e-3))


def _moe_grids(path, spec, phase: str, with_slots: bool):
    optional = {} if with_slots else {"num_slots": 0.0}
    text = ["kernel_source", "moe_dtype", "distribution"] + (["simulation_mode"] if with_slots else [])
    cols = read_columns(path, [c for c in WIDEEP_MOE_AXES if with_slots or c != "num_slots"] + ["latency"], text,
                        optional=optional)
    if not with_slots:
        cols["num_slots"] = cols["num_experts"].copy()
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    if with_slots:
        ok &= cols["simulation_mode"] == pick_lane(cols["simulation_mode"][ok], ["accurate"])
    grids, lanes = {}, []
    for raw in np.unique(cols["moe_dtype"][ok]):
        sel_d = ok & (cols["moe_dtype"] == raw)
        lane = pick_lane(cols["kernel_source"][sel_d], [])
        sel_d &= cols["kernel_source"] == lane
        dtype = canon_dtype(raw)
        lanes.append(f"{dtype}={lane}")
        for dist in np.unique(cols["distribution"][sel_d]):
            sel = sel_d & (cols["distribution"] == dist)
            grids[f"wideep_moe/{phase}/{dtype}/{dist}"] = SparseGrid.of(
                [cols[c][sel] for c in WIDEEP_MOE_AXES], _moe_lu(spec, cols, sel, dtype), MOE_FILL)
    return grids, ";".join(lanes)


def _mla_grids(path, spec, kind: str):
    cols = read_columns(path, ["num_heads", "batch_size", "isl", "latency"],
                        ["kernel_source", "kv_cache_dtype", "gemm_type"])
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    lane = pick_lane(cols["kernel_source"][ok], ["fa3"] if spec.sm_version == 90 else [])
    ok &= cols["kernel_source"] == lane
    grids = {}
    for kv_raw, g_raw in {(a, b) for a, b in zip(cols["kv_cache_dtype"][ok], cols["gemm_type"][ok])}:
        sel = ok & (cols["kv_cache_dtype"] == kv_raw) & (cols["gemm_type"] == g_raw)
        kv = canon_dtype(kv_raw)
        h, b, s = cols["num_heads"][sel], cols["batch_size"][sel], cols["isl"][sel]
        lu = np.log(mla_sol(spec, kind, b, s, h, kv) / (cols["latency"][sel] * 1e-3))
        grids[f"wideep_mla_{kind}/{kv}/{canon_dtype(g_raw)}"] = SparseGrid.of([h, b, s], lu, [2, 1, 0])
    return grids, lane


def mla_sol(spec, kind: str, b, s, h, kv: str):
    kvb = sol.KV_BYTES.get(kv, 2.0)
    if kind == Phase.CONTEXT.short:
        return sol.context_mla_sol_s(spec, b, s, h, kvb)
    return sol.generation_mla_sol_s(spec, b, s, h, kvb)


def mlp_sol(spec, tokens, hidden, inter, dtype: str):
    """Dense gated MLP: gate/up GEMM [t, h]×[h, 2·inter] + down GEMM [t, inter]×[inter, h]."""
    return sol.gemm_sol_s(spec, tokens, 2.0 * inter, hidden, dtype) + sol.gemm_sol_s(spec, tokens, hidden, inter, dtype)


def _mlp_grids(path, spec, phase: str):
    cols = read_columns(path, ["num_token", "hidden_size", "intermediate_size", "avg_ms"],
                        ["kernel_source", "quant_type"])
    ok = np.isfinite(cols["avg_ms"]) & (cols["avg_ms"] > 0)
    grids = {}
    for raw in np.unique(cols["quant_type"][ok]):
        sel = ok & (cols["quant_type"] == raw)
        sel &= cols["kernel_source"] == pick_lane(cols["kernel_source"][sel], [])
        dtype = canon_dtype(raw)
        t, h, i = cols["num_token"][sel], cols["hidden_size"][sel], cols["intermediate_size"][sel]
        lu = np.log(mlp_sol(spec, t, h, i, dtype) / (cols["avg_ms"][sel] * 1e-3))
        grids[f"wideep_mlp/{phase}/{dtype}"] = SparseGrid.of([h, i, t], lu, [2, 0, 1])
    return grids


@register("wideep", ("wideep_moe", "wideep_mla_ctx", "wideep_mla_gen", "wideep_mlp"),
          sibling_prefixes=("wideep_moe", "wideep_mlp"))
def wideep_grids(root, spec, backend: str, version: str):
    """Every wide-EP grid this (system, backend) ships (per table: version newest ≤ requested, else nearest)."""
    grids, lanes = {}, {}
    path, ver = family_table(root, "moe", backend, "wideep_moe_perf.parquet", version)
    if path is not None:
        g, lane = _moe_grids(path, spec, "any", True)
        grids.update(g)
        lanes["wideep_moe"] = f"{lane}@{ver}"
    for phase in PHASES:
        path, ver = family_table(root, "moe", backend, f"wideep_{phase}_moe_perf.parquet", version)
        if path is not None:
            g, lane = _moe_grids(path, spec, phase, False)
            grids.update(g)
            lanes[f"wideep_moe/{phase}"] = f"{lane}@{ver}"
    g, lane = gather_grids(root, "mla", backend, version, MLA_FILES, lambda path, kind: _mla_grids(path, spec, kind),
                           lane_key=lambda kind: f"wideep_mla_{kind}")
    grids.update(g)
    lanes.update(lane)
    for phase in PHASES:
        path, ver = family_table(root, "mlp", backend, f"wideep_{phase}_mlp_perf.parquet", version)
        if path is not None:
            grids.update(_mlp_grids(path, spec, phase))
            lanes[f"wideep_mlp/{phase}"] = f"table@{ver}"
    return grids, lanes


def _dist_candidates(distribution: str) -> list[tuple[str, bool]]:
    """(distribution, exact?) in the order tried: the requested slice, then its EPLB twin, then the defaults."""
    twin = distribution[:-5] if distribution.endswith("_eplb") else distribution + "_eplb"
    out = [(distribution, True), (twin, False)]
    for d in ("power_law_1.2", "power_law_1.01", "uniform", "balanced"):
        out += [(d, False), (d + "_eplb", False)]
    seen, uniq = set(), []
    for d, exact in out:
        if d not in seen:
            seen.add(d)
            uniq.append((d, exact))
    return uniq


def _phase(phase: str) -> str:
    if phase not in PHASES:
        raise ValueError(f"phase {phase!r}: accepted context, generation")
    return PHASES[phase]


@answers(WideEpMoe)
def wideep_moe(db, q: WideEpMoe) -> Lookup:
    """`num_tokens`: the EP group's tokens (TRT-LLM table; per-rank = ceil(num_tokens / moe_ep)) or the SGLang
    table's `num_tokens`; `num_slots` EPLB slots (None → num_experts, i.e. no redundant experts); `phase`
    "context" / "generation" picks SGLang's per-phase table, the TRT-LLM table serves both.

    Exact collected point → MEASURED, inside → INTERPOLATED, beyond → EXTRAPOLATED / ROOFLINE as the
    grids. Another distribution slice (the EPLB twin, then power_law_1.2, 1.01, uniform, balanced) →
    at least EXTRAPOLATED. No wide-EP slice: a sibling dtype's util at the same shape (ROOFLINE), the
    donor's same shape (ROOFLINE), else `Moe` (moe_tp 1) tagged at least EXTRAPOLATED."""
    hidden, inter, topk, num_experts, moe_ep, distribution = (q.hidden, q.inter, q.topk, q.num_experts,
                                                               q.moe_ep, q.distribution)
    db.store.ensure("wideep")
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    dt = canon_dtype(q.dtype)
    slots = float(q.num_slots or num_experts)
    coords = [float(hidden), float(inter), float(topk), float(num_experts), slots, float(moe_ep), t]
    sol_s = sol.moe_sol_s(db.system, t, hidden, inter, topk, num_experts, 1, moe_ep, dt)
    phases = ([q.phase, "any"] if q.phase else ["any", "generation", "context"])
    for dist, exact in _dist_candidates(distribution):
        for ph in phases:
            grid = db.store.grid(f"wideep_moe/{ph}/{dt}/{dist}")
            if grid is not None:
                lu, tier = grid.query(coords)
                return finish(sol_s, lu, tier, Tier.MEASURED if exact else Tier.EXTRAPOLATED)
    names = [f"wideep_moe/{ph}/{dt}/{d}" for d, _ in _dist_candidates(distribution) for ph in phases]
    lk = db.fallback.per_shape(sol_s, names, coords,
                               lambda sp, d=dt: sol.moe_sol_s(sp, t, hidden, inter, topk, num_experts, 1, moe_ep, d))
    if lk is not None:
        return lk
    lk = db.latency(Moe(t, hidden, inter, topk, num_experts, 1, moe_ep, dt, distribution.removesuffix("_eplb")))
    return Lookup.of(lk.latency_s, np.maximum(lk.tier, np.int8(Tier.EXTRAPOLATED)))


@answers(DeepEpMoe)
def deepep_moe(db, q: DeepEpMoe) -> Lookup:
    """SGLang's DeepEP expert compute (`run_moe_core` timed alone: no dispatch / combine, those are
    `DeepEpStep`). The collector logs `num_tokens` = tokens per rank x EP (collector/sglang/
    collect_wideep_deepep_moe.py: `num_tokens_log = num_token * moe_ep_size`), so it is the EP group's
    count here too. Decode steps read the generation table (DeepEP low-latency layout, masked grouped
    GEMM), prefill / mixed steps the context table (normal layout, contiguous grouped GEMM); each answer
    keeps its own tier (WideEpMoe's rules): a dtype the tables have no slice of (they hold DeepSeek's
    fp8_block experts only) is fp8_block's utilization on that dtype's roofline, tagged ROOFLINE. The
    generic MoE table's measured NVFP4 curve is not used instead: it times another runner (its fp8_block
    curve is 1.3-4.3x this table's at EP 32, 1-128 decode tokens per rank); with it the GB200 SGLang
    disaggregated rows' TPOT MAPE was 43 %, with this 38 % (development split)."""
    t, dec = np.broadcast_arrays(np.asarray(q.num_tokens, dtype=np.float64), np.asarray(q.decode, dtype=np.float64))
    key = (q.hidden, q.inter, q.topk, q.num_experts, q.moe_ep, q.dtype, q.distribution, None)
    return by_step(dec, db.latency(WideEpMoe(t, *key, Phase.GENERATION.value)),
                   db.latency(WideEpMoe(t, *key, Phase.CONTEXT.value)))


@answers(WideEpMla)
def wideep_mla(db, q: WideEpMla) -> Lookup:
    """`phase` "context" (seq = new tokens, no prefix) or "generation" (seq = KV length), `num_heads` per
    GPU. Other KV dtype → its util (ROOFLINE); no table → `MlaModule` tagged at least EXTRAPOLATED (same
    module, not DP-collected), donor's same shape on a GPU without data."""
    kind = _phase(q.phase)
    h = float(q.num_heads)
    db.store.ensure("wideep")
    b, s = np.broadcast_arrays(*(np.maximum(np.asarray(x, dtype=np.float64), 1.0) for x in (q.batch, q.seq)))
    kv = kv_canonical(q.kv_dtype)
    g = canon_dtype(q.gemm_dtype)
    coords = [h, b, s]
    sol_s = mla_sol(db.system, kind, b, s, h, kv)
    for kv_try, floor in ((kv, Tier.MEASURED), (kv_sibling(kv), Tier.ROOFLINE)):
        grid = db.store.grid(f"wideep_mla_{kind}/{kv_try}/{g}")
        if grid is not None:
            lu, tier = grid.query(coords)
            return finish(sol_s, lu, tier, floor)
    lk = db.fallback.per_shape(sol_s, [f"wideep_mla_{kind}/{kv}/{g}"], coords,
                               lambda sp: mla_sol(sp, kind, b, s, h, kv))
    if lk is not None:
        return lk
    lk = db.latency(MlaModule(q.phase, b, s, q.num_heads, kv, g))
    return Lookup.of(lk.latency_s, np.maximum(lk.tier, np.int8(Tier.EXTRAPOLATED)))


@answers(WideEpMlp)
def wideep_mlp(db, q: WideEpMlp) -> Lookup:
    """No table → gate/up + down `Gemm` sum, tier at least EXTRAPOLATED; sibling dtype / donor same shape →
    ROOFLINE."""
    hidden, inter = q.hidden, q.inter
    ph = _phase(q.phase) and q.phase
    db.store.ensure("wideep")
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    dt = canon_dtype(q.dtype)
    coords = [float(hidden), float(inter), t]
    sol_s = mlp_sol(db.system, t, hidden, inter, dt)
    grid = db.store.grid(f"wideep_mlp/{ph}/{dt}")
    if grid is not None:
        lu, tier = grid.query(coords)
        return finish(sol_s, lu, tier)
    lk = db.fallback.per_shape(sol_s, [f"wideep_mlp/{ph}/{dt}"], coords,
                               lambda sp, d=dt: mlp_sol(sp, t, hidden, inter, d))
    if lk is not None:
        return lk
    up, down = db.latency(Gemm(t, 2 * inter, hidden, dt)), db.latency(Gemm(t, hidden, inter, dt))
    return Lookup.of(up.latency_s + down.latency_s,
                     np.maximum(np.maximum(up.tier, down.tier), np.int8(Tier.EXTRAPOLATED)))
