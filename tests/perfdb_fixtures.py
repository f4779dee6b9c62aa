"""Small Parquet tables in the wheel's schema, written into tmp overlay folders (shared by the perfdb tests)."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GEMM_REL = "gemm/trtllm/1.3.0rc20/gemm_perf.parquet"
LANE = "torch_flow"  # the lane sloplan uses for h200_sxm trtllm GEMM (db.lanes)


def gemm_rows(*rows: tuple) -> dict:
    """rows of (m, n, k, dtype, latency_ms) → columns in the wheel's gemm_perf schema."""
    cols = {"framework": [], "version": [], "device": [], "op_name": [], "kernel_source": [], "gemm_dtype": [],
            "m": [], "n": [], "k": [], "latency": []}
    for m, n, k, dtype, lat in rows:
        for c, v in zip(("framework", "version", "device", "op_name", "kernel_source", "gemm_dtype", "m", "n", "k",
                         "latency"), ("TRTLLM", "1.3.0rc20", "test", "gemm", LANE, dtype, m, n, k, lat)):
            cols[c].append(v)
    return cols


def write_table(path: Path, cols: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path)
    return path


def overlay_gemm(root: Path, *rows: tuple, system: str = "h200_sxm", rel: str = GEMM_REL) -> Path:
    """Write a GEMM table into `root/<system>/<rel>`; returns the file."""
    return write_table(root / system / rel, gemm_rows(*rows))


def attention_rows(phase: str, rows: list[tuple]) -> dict:
    """rows of (batch, seq, heads, kv_heads, head_dim, latency_ms); seq = isl (context) or step (generation)."""
    cols = {c: [] for c in ("kernel_source", "attn_dtype", "kv_cache_dtype", "batch_size", "isl", "num_heads",
                            "num_key_value_heads", "head_dim", "step", "window_size", "latency")}
    for b, s, h, kv, d, lat in rows:
        isl, step = (s, 0) if phase == "ctx" else (1, s)
        for c, v in zip(cols, ("user", "bfloat16", "bfloat16", b, isl, h, kv, d, step, 0, lat)):
            cols[c].append(v)
    return cols
