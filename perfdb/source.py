"""Silicon data source: where the aiconfigurator-core wheel keeps its Parquet tables, and Parquet → numpy.

The wheel is located with importlib's finder, never imported: importing it loads a Rust extension (slow),
and sloplan never calls its estimator. pyarrow is imported lazily, only when a table is actually read
(cached loads never touch it), and pandas is never used.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

BACKENDS = ("trtllm", "vllm", "sglang")


@functools.lru_cache(maxsize=1)
def wheel_dir() -> Path:
    """Folder of the installed aiconfigurator_core package (without importing it)."""
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("aiconfigurator-core is not installed; sloplan reads its silicon tables")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def aic_version() -> str:
    """Version of the installed wheel, from its dist-info folder name (cheap; keys the disk cache)."""
    for info in sorted(wheel_dir().parent.glob("aiconfigurator_core-*.dist-info")):
        return info.name[len("aiconfigurator_core-"):-len(".dist-info")]
    from importlib.metadata import version

    return version("aiconfigurator-core")


def system_data_dir(silicon_dir: str | None) -> Path | None:
    """`systems/data/<silicon_dir>` inside the wheel, or None when the system has no measured data."""
    if not silicon_dir:
        return None
    path = wheel_dir() / "systems" / "data" / silicon_dir
    return path if path.is_dir() else None


@functools.lru_cache(maxsize=None)
def version_dirs(root: Path | None, family: str, framework: str, filename: str) -> tuple[str, ...]:
    """Version folder names under `<root>/<family>/<framework>/` that hold `filename` (unordered)."""
    if root is None:
        return ()
    base = root / family / framework
    if not base.is_dir():
        return ()
    return tuple(p.name for p in base.iterdir() if (p / filename).is_file())


def read_columns(path: Path, numeric: list[str], text: list[str],
                 optional: dict[str, object] | None = None) -> dict[str, np.ndarray]:
    """Read the named columns of one Parquet file into numpy arrays.

    A missing required column or an unreadable file raises ValueError naming the file and column, so a
    corrupt wheel fails loudly instead of producing wrong latencies. `optional` columns absent from the
    file are filled with the given default (old tables lack e.g. `window_size`).
    """
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ValueError(f"cannot read perf table {path}: {exc}") from exc
    names = set(table.column_names)
    out: dict[str, np.ndarray] = {}
    for col in numeric + text + list(optional or {}):
        if col not in names:
            if optional and col in optional:
                out[col] = np.full(table.num_rows, optional[col])
                continue
            raise ValueError(f"perf table {path} lacks column {col!r}")
        arr = table.column(col).to_numpy()
        if col in text:
            out[col] = arr.astype(str)
        else:
            try:
                out[col] = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"perf table {path}: column {col!r} is not numeric") from exc
    return out
