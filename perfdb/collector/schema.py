"""Columns, Arrow types and folder layout of the tables the collector writes.

They are the shipped aiconfigurator-core tables' own (reference/peer-aiconfigurator.md §2.1–2.3), so that
perfdb reads a collected folder with the same code as the wheel. Attention columns follow the vLLM/SGLang
order (`window_size` last); readers select columns by name, and the TRT-LLM tables hold the same set.
Latency is in milliseconds here only because that is the tables' unit; everything else in the collector
works in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD = (("framework", "string"), ("version", "string"), ("device", "string"), ("op_name", "string"),
        ("kernel_source", "string"))
ATTN_KEYS = (("batch_size", "int64"), ("isl", "int64"), ("num_heads", "int64"), ("num_key_value_heads", "int64"),
             ("head_dim", "int64"), ("beam_width", "int64"), ("attn_dtype", "string"),
             ("kv_cache_dtype", "string"), ("step", "int64"), ("window_size", "int64"))
LATENCY = (("latency", "double"),)

FRAMEWORK = "torch"
NCCL_FRAMEWORK_DIR = "nccl"


@dataclass(frozen=True)
class TableSchema:
    """One table: its file stem, the family folder it lives in, and its ordered (column, Arrow type) list."""
    name: str
    family: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def filename(self) -> str:
        return f"{self.name}.parquet"


GEMM = TableSchema("gemm_perf", "gemm", HEAD + (("gemm_dtype", "string"), ("m", "int64"), ("n", "int64"),
                                                ("k", "int64")) + LATENCY)
CONTEXT_ATTENTION = TableSchema("context_attention_perf", "attention", HEAD + ATTN_KEYS + LATENCY)
GENERATION_ATTENTION = TableSchema("generation_attention_perf", "attention", HEAD + ATTN_KEYS + LATENCY)
NCCL = TableSchema("nccl_perf", "comm", HEAD + (("nccl_dtype", "string"), ("num_gpus", "int64"),
                                                ("message_size", "int64")) + LATENCY)
TABLES = {t.name: t for t in (GEMM, CONTEXT_ATTENTION, GENERATION_ATTENTION, NCCL)}


def arrow_schema(table: TableSchema):
    """The pyarrow schema (pyarrow imported here, lazily: sloplan's CLI start-up never loads it)."""
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "double": pa.float64()}
    return pa.schema([(name, types[kind]) for name, kind in table.columns])


def version_dir(out: Path, system: str, table: TableSchema, framework_version: str, nccl_version: str) -> Path:
    """`<out>/<system>/<family>/<framework>/<version>/` — the wheel's layout.

    GEMM and attention go under framework `torch` at the torch version. NCCL goes where the wheel (and
    perfdb's reader) keep it: `comm/nccl/<NCCL version>/`, because its latency depends on NCCL, not torch.
    """
    if table is NCCL:
        return Path(out) / system / table.family / NCCL_FRAMEWORK_DIR / nccl_version
    return Path(out) / system / table.family / FRAMEWORK / framework_version


def table_path(out: Path, system: str, table: TableSchema, framework_version: str, nccl_version: str) -> Path:
    return version_dir(out, system, table, framework_version, nccl_version) / table.filename
