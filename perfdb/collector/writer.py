"""Rows → Parquet in the wheel's schema, and the `collection_meta.yaml` beside each table; atomic writes.

Atomic (temp file in the same folder, then rename) because a collection runs for hours and a reader
(perfdb's overlay) must never see a half-written table if the run is interrupted.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .schema import TableSchema, arrow_schema


def _atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_rows(table: TableSchema, rows: list[dict]) -> None:
    """Every row has exactly the table's columns and a finite positive latency (a bad row is a bug here)."""
    want = set(table.column_names)
    for i, row in enumerate(rows):
        if set(row) != want:
            raise ValueError(f"{table.name} row {i}: columns {sorted(set(row) ^ want)} differ from the schema")
        lat = row["latency"]
        if not (isinstance(lat, (int, float)) and lat > 0 and lat < float("inf")):
            raise ValueError(f"{table.name} row {i}: latency {lat!r} is not a positive finite number of ms")


def write_table(path: Path, table: TableSchema, rows: list[dict]) -> Path:
    """Write `rows` (dicts keyed by column, latency in ms) as one Parquet file with the exact schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_rows(table, rows)
    schema = arrow_schema(table)
    columns = {name: [row[name] for row in rows] for name in table.column_names}
    data = pa.Table.from_pydict(columns, schema=schema)
    return _atomic_write(Path(path), lambda tmp: pq.write_table(data, tmp))


def write_meta(path: Path, meta: dict) -> Path:
    """Write a `collection_meta.yaml` (plain YAML, keys in insertion order)."""
    text = yaml.safe_dump(meta, sort_keys=False, default_flow_style=False)
    return _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def collection_meta(framework: str, version: str, tables: dict[str, str], details: dict) -> dict:
    """The wheel's metadata keys (schema_version, provenance, runtime, per-table status) plus ours.

    `tables` maps table name → "complete" | "partial" (partial: a quick grid, or cases skipped).
    `details` carries what the wheel does not record: GPU, driver, CUDA, torch, date, grid, timing.
    """
    return {"schema_version": 1, "provenance": "collected",
            "runtime": {"framework": framework, "version": version},
            "tables": {name: {"status": status} for name, status in tables.items()},
            "collector": details}
