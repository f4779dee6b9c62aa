"""Parquet tables → compact sparse grids (the form stored in the disk cache).

One `SparseGrid` per (family, slice): its numeric axes, the flat cell index of every measured row and
log(util) there. Densify-and-fill happens lazily at query time (perfdb.py), so loads stay cheap.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sloplan.core.enums import Phase

from . import family as family_mod
from . import sol
from .family import Family
from .fill import FillScheme
from .lanes import attention_preference, pick_lane
from .source import read_columns, version_dirs
from .sparse_grid import SparseGrid
from .system_spec import SystemSpec
from .versions import pick_nearest, sort_versions

DTYPE_NAMES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
ATTN_KEYS = ["batch_size", "isl", "num_heads", "num_key_value_heads", "head_dim", "step", "latency"]
ATTN_FILL_ORDER = [4, 3, 0, 1, 2]  # sequence, batch, heads, GQA ratio, head_dim


def _valid(lat_ms: np.ndarray) -> np.ndarray:
    return np.isfinite(lat_ms) & (lat_ms > 0)


def gemm_grids(path: Path, spec: SystemSpec) -> tuple[dict[str, SparseGrid], dict]:
    """GEMM: one grid per dtype over (m, n, k); lane = most rows per dtype."""
    cols = read_columns(path, ["m", "n", "k", "latency"], ["gemm_dtype", "kernel_source"])
    grids, lanes = {}, {}
    for raw_dtype in np.unique(cols["gemm_dtype"]):
        dtype = DTYPE_NAMES.get(raw_dtype, raw_dtype)
        sel = (cols["gemm_dtype"] == raw_dtype) & _valid(cols["latency"])
        lane = pick_lane(cols["kernel_source"][sel], [])
        sel &= cols["kernel_source"] == lane
        m, n, k = cols["m"][sel], cols["n"][sel], cols["k"][sel]
        lu = np.log(sol.gemm_sol_s(spec, m, n, k, dtype) / (cols["latency"][sel] * 1e-3))
        grids[f"gemm/{dtype}"] = SparseGrid.of([m, n, k], lu, [0, 1, 2])
        lanes[f"gemm/{dtype}"] = lane
    return grids, lanes


def attention_grids(path: Path, spec: SystemSpec, backend: str, version: str, phase: str):
    """Attention: one grid per (attn dtype, kv dtype, window) over (heads, heads/kv_heads, head_dim, batch, seq).

    The GQA ratio (not kv-heads) is the axis so that MHA (ratio 1) rows line up across head counts.
    Context seq = `isl` (new tokens); generation seq = `step` (cached KV tokens).
    """
    cols = read_columns(path, ATTN_KEYS, ["kernel_source", "attn_dtype", "kv_cache_dtype"],
                        optional={"window_size": 0.0})
    ok = _valid(cols["latency"])
    lane = pick_lane(cols["kernel_source"][ok], attention_preference(backend, version, spec.sm_version, phase))
    ok &= cols["kernel_source"] == lane
    grids = {}
    keys = np.stack([cols["attn_dtype"], cols["kv_cache_dtype"], cols["window_size"].astype(int).astype(str)])
    for key in {tuple(k) for k in keys[:, ok].T}:
        sel = ok & (keys[0] == key[0]) & (keys[1] == key[1]) & (keys[2] == key[2])
        attn, kv, window = DTYPE_NAMES.get(key[0], key[0]), DTYPE_NAMES.get(key[1], key[1]), int(key[2])
        b, h, nkv, d = (cols[c][sel] for c in ("batch_size", "num_heads", "num_key_value_heads", "head_dim"))
        kvb = sol.KV_BYTES.get(kv, 2.0)
        if phase == Phase.CONTEXT.short:
            seq = cols["isl"][sel]
            s = sol.context_attention_sol_s(spec, b, seq, 0.0, h, nkv, d, window, kvb, attn)
            name = f"ctx/{attn}/{kv}/{window}"
        else:
            seq = cols["step"][sel]
            s = sol.generation_attention_sol_s(spec, b, seq, h, nkv, d, window, kvb)
            name = f"gen/{attn}/{kv}/{window}"
        lu = np.log(s / (cols["latency"][sel] * 1e-3))
        grids[name] = SparseGrid.of([h, h / nkv, d, b, seq], lu, ATTN_FILL_ORDER)
    return grids, {phase: lane}


def _comm_grid(path: Path, spec: SystemSpec, dtype_col: str, dtype_ok, lane_tokens, op: str | None):
    text = [dtype_col, "kernel_source"] + (["op_name"] if op else [])
    cols = read_columns(path, ["num_gpus", "message_size", "latency"], text)
    sel = _valid(cols["latency"]) & np.isin(cols[dtype_col], dtype_ok)
    if op:
        sel &= cols["op_name"] == op
    if not sel.any():
        return None, None
    lane = pick_lane(cols["kernel_source"][sel], lane_tokens)
    sel &= cols["kernel_source"] == lane
    g, msg = cols["num_gpus"][sel], cols["message_size"][sel]
    lu = np.log(sol.all_reduce_sol_s(msg, g, spec.intra_node_bw_bytes_per_s) / (cols["latency"][sel] * 1e-3))
    return SparseGrid.of([g, msg], lu, [1, 0]), lane


def comm_grids(root: Path | None, spec: SystemSpec, backend: str, version: str):
    """All-reduce: the backend's custom all-reduce table (version newest ≤ requested, else nearest) and the
    system's newest NCCL all_reduce (half) table as fallback."""
    grids, lanes = {}, {}
    versions = version_dirs(root, "comm", backend, "custom_allreduce_perf.parquet")
    if versions:
        v = pick_nearest(list(versions), version)
        grid, lane = _comm_grid(root / "comm" / backend / v / "custom_allreduce_perf.parquet", spec,
                                "allreduce_dtype", ["bfloat16", "half", "float16"], ["graph"], None)
        if grid is not None:
            grids["ar/custom"], lanes["ar/custom"] = grid, f"{lane}@{v}"
    nccl = sort_versions(version_dirs(root, "comm", "nccl", "nccl_perf.parquet"))
    if nccl:
        path = root / "comm" / "nccl" / nccl[-1] / "nccl_perf.parquet"
        grid, lane = _comm_grid(path, spec, "nccl_dtype", ["half", "bfloat16"], [], "all_reduce")
        if grid is not None:
            grids["ar/nccl"], lanes["ar/nccl"] = grid, f"{lane}@{nccl[-1]}"
    return grids, lanes


def gemm_family(root: Path, spec: SystemSpec, backend: str, version: str):
    """The eager GEMM family: `gemm/<backend>/<version>/gemm_perf.parquet` when shipped."""
    path = root / "gemm" / backend / version / "gemm_perf.parquet"
    return gemm_grids(path, spec) if path.is_file() else ({}, {})


def attention_family(root: Path, spec: SystemSpec, backend: str, version: str):
    """The eager attention family: context and generation tables of exactly this version, when shipped."""
    grids, lanes = {}, {}
    for phase, fname in (("ctx", "context_attention_perf.parquet"), ("gen", "generation_attention_perf.parquet")):
        path = root / "attention" / backend / version / fname
        if path.is_file():
            g, l = attention_grids(path, spec, backend, version, phase)
            grids.update(g), lanes.update(l)
    return grids, lanes


def median_efficiency(grids: dict[str, SparseGrid]) -> dict[str, float]:
    """Median measured util per grid and per family ("gemm", "ctx", "gen", "ar", "nccl", "a2a", "mla_*"):
    the roofline scale for slices with no data."""
    eff = {name: float(np.exp(np.median(g.lu))) for name, g in grids.items()}
    for fam in ("gemm", "ctx", "gen", "ar", "nccl", "a2a", "mla_ctx", "mla_gen", "mla_bmm"):
        lus = [g.lu for n, g in grids.items() if n.startswith(fam + "/")]
        if lus:
            eff[fam] = float(np.exp(np.median(np.concatenate(lus))))
    return eff


GEN_LINEAR_AXES = (3, 4)  # batch, kv length: decode latency ≈ floor + c·batch·kv_len is affine along each
GEN_PRIMARY_AXES = (4,)  # a hole bracketed along kv length is filled from that axis alone (LOO: 2.6 → 1.7 %)
MLA_GEN_LINEAR_AXES, MLA_GEN_PRIMARY_AXES = (1, 2), (2,)  # mla_gen grids: (heads, batch, kv length)
HEADS_AXIS, BATCH_AXIS = 0, 3  # attention grids: (heads, GQA ratio, head_dim, batch, seq)
# Chosen by leave-one-out (bench/perfdb_loo.py; README "Accuracy: leave-one-out"):
GEN_SCHEME = FillScheme({3: "lat", 4: "lat"}, (4,), equiv=(HEADS_AXIS, BATCH_AXIS, 1),  # + kv extrapolation:
                        extrap=(4,), extrap_votes=True)  # LOO 1.3 % / 8.4 % → 1.3 % / 7.9 % (seed 0)
CTX_SCHEME = FillScheme({3: "lat", 4: "sqrt"}, (3,), equiv=(HEADS_AXIS, BATCH_AXIS, 2))
CTX_QUERY_SPACES = ("lat", "sqrt")  # context queries: latency linear in batch, sqrt(latency) in seq
MLA_GEN_SCHEME = FillScheme({1: "lat", 2: "lat"}, (2,))
TILE_PAIR_MIN = 16  # GEMM m keys x+1 next to a collected x ≥ 16 sit just past a tile boundary


def gemm_m_classes(m_keys: np.ndarray) -> np.ndarray:
    """1 for an m key x+1 whose x (≥ 16) is also collected (the far side of a tile boundary), else 0."""
    m = np.asarray(m_keys, dtype=np.float64)
    return (np.isin(m - 1.0, m) & (m - 1.0 >= TILE_PAIR_MIN)).astype(np.int8)


def fill_scheme(name: str, axes: list[np.ndarray]) -> FillScheme:
    """How the holes of grid `name` are filled (grid.FillScheme); the default is log-util in log2 x on every
    axis, 1/width-weighted."""
    if name.startswith("gen/"):
        return GEN_SCHEME
    if name.startswith("ctx/"):
        return CTX_SCHEME
    if name.startswith("mla_gen/"):
        return MLA_GEN_SCHEME
    if name.startswith("gemm/"):
        return FillScheme(classes={0: gemm_m_classes(axes[0])})
    return FillScheme()


def latency_space_axes(name: str):
    """(linear axes, primary axes) of a grid filled in latency space (decode kernels), else None
    (kept for callers of the older API; fill_scheme is the full description)."""
    if name.startswith("gen/"):
        return GEN_LINEAR_AXES, GEN_PRIMARY_AXES
    if name.startswith("mla_gen/"):
        return MLA_GEN_LINEAR_AXES, MLA_GEN_PRIMARY_AXES
    return None


def node_log_sol(spec: SystemSpec, name: str, axes: list[np.ndarray]) -> np.ndarray | None:
    """log SOL at every dense cell of a grid whose fill interpolates latency (attention), else None.

    Needed because those axes are filled in latency space: latency = SOL(cell) / util."""
    shape = tuple(len(a) for a in axes)
    if name.startswith("gen/"):
        _, _, kv, window = name.split("/")
        h, ratio, d, b, seq = np.meshgrid(*axes, indexing="ij", sparse=True)
        s = sol.generation_attention_sol_s(spec, b, seq, h, h / ratio, d, int(window), sol.KV_BYTES.get(kv, 2.0))
    elif name.startswith("ctx/"):
        _, attn, kv, window = name.split("/")
        h, ratio, d, b, seq = np.meshgrid(*axes, indexing="ij", sparse=True)
        s = sol.context_attention_sol_s(spec, b, seq, 0.0, h, h / ratio, d, int(window), sol.KV_BYTES.get(kv, 2.0),
                                        attn)
    elif name.startswith("mla_gen/"):
        h, b, seq = np.meshgrid(*axes, indexing="ij", sparse=True)
        s = sol.generation_mla_sol_s(spec, b, seq, h, sol.KV_BYTES.get(name.split("/")[1], 2.0))
    else:
        return None
    return np.log(np.broadcast_to(s, shape))


family_mod.add(Family("gemm", gemm_family, ("gemm",), eager=True, sibling_prefixes=("gemm",),
                      default_eff={"gemm": 0.5}, fill=fill_scheme))
family_mod.add(Family("attention", attention_family, (Phase.CONTEXT.short, Phase.GENERATION.short), eager=True,
                      default_eff={Phase.CONTEXT.short: 0.3, Phase.GENERATION.short: 0.05}, fill=fill_scheme,
                      log_sol=node_log_sol))
family_mod.add(Family("ar", comm_grids, ("ar",), eager=True, default_eff={"ar": 0.15}))
