"""Silicon data source: where the aiconfigurator-core wheel keeps its Parquet tables, and Parquet → numpy.

The wheel is located with importlib's finder, never imported: importing it loads a Rust extension (slow),
and sloplan never calls its estimator. pyarrow is imported lazily, only when a table is actually read
(cached loads never touch it), and pandas is never used.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from sloplan.core.enums import BACKEND_NAMES

from . import overlay
from .wheel import aic_version, wheel_dir

BACKENDS = BACKEND_NAMES  # the frameworks silicon tables exist for: all of sloplan.core.Backend


def system_data_dir(silicon_dir: str | None, system: str | None = None) -> Path | None:
    """Folder of a system's measured tables, or None when it has none.

    Normally `systems/data/<silicon_dir>` inside the wheel. When the active overlay (overlay.py) has tables
    for `system` (default: `silicon_dir`), the merged tree of shipped and user tables instead — so a
    roofline-only system gains measured data from the user's folder alone.
    """
    shipped = wheel_dir() / "systems" / "data" / silicon_dir if silicon_dir else None
    shipped = shipped if shipped is not None and shipped.is_dir() else None
    name = system or silicon_dir
    return overlay.data_root(name, shipped, aic_version()) if name else shipped


@functools.cache
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
    """Read the named columns of one Parquet table into numpy arrays, validated (validate.py).

    A missing required column or an unreadable file raises BadPerfData naming the file and column, so a
    corrupt table fails loudly instead of producing wrong latencies; bad latencies are dropped with a
    warning. `optional` columns absent from the file are filled with the given default (old tables lack
    e.g. `window_size`). Behind a merged-tree path (overlay.py) both the shipped and the user table are
    read and the user's rows win on identical keys.
    """
    from . import validate  # only when a table is read: a warm cache never gets here

    parts = overlay.sources(Path(path)) or [(Path(path), _is_shipped(Path(path)))]
    tables = [_read_valid(p, numeric, text, optional, shipped) for p, shipped in parts]
    return tables[0] if len(tables) == 1 else validate.overlay_rows(tables[0], tables[1])


def _is_shipped(path: Path) -> bool:
    try:
        return path.is_relative_to(wheel_dir())
    except RuntimeError:
        return False


def _read_valid(path: Path, numeric: list[str], text: list[str], optional: dict | None,
                shipped: bool) -> dict[str, np.ndarray]:
    """One file: columns → key domain → drop bad latencies → (user files) implausible latencies warned →
    duplicate-key rule. User files must keep some rows."""
    from . import validate

    cols = _read_file(path, numeric, text, optional or {})
    cols = validate.check_domain(cols, path, shipped, skip=cols.filled)
    total = len(next(iter(cols.values()))) if cols else 0
    cols = validate.drop_bad_latency(cols, path)
    if not shipped and total and not len(next(iter(cols.values()))):
        lat = next((c for c in cols if validate.is_latency(c)), None)
        raise validate.BadPerfData(path, lat, "no row has a finite, positive latency")
    if not shipped:
        from .bounds import warn_implausible  # imports sol / catalog: only when a user table is read

        warn_implausible(path, cols)
    return validate.check_duplicates(cols, path, shipped)


def _read_file(path: Path, numeric: list[str], text: list[str], optional: dict) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    from . import validate

    try:
        names = set(pq.read_schema(path).names)
        wanted = [c for c in dict.fromkeys(numeric + text + list(optional)) if c in names]
        table = pq.read_table(path, columns=wanted)
    except Exception as exc:  # pyarrow raises several types for corrupt or truncated files
        raise validate.BadPerfData(path, None, f"not a readable Parquet file ({_first_line(exc)})") from None
    out = _Columns()
    for col in numeric + text + list(optional):
        if col not in names:
            if col in optional:
                out[col] = np.full(table.num_rows, optional[col])
                out.filled.append(col)
                continue
            raise validate.BadPerfData(path, col, "required column is missing")
        arr = table.column(col).to_numpy(zero_copy_only=False)
        if col in text:
            out[col] = arr.astype(str)
            continue
        try:
            out[col] = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise validate.BadPerfData(path, col, "column is not numeric") from None
    return out


class _Columns(dict):
    """Column name → array, remembering which optional columns were absent and filled with their default
    (a placeholder, e.g. wideep `num_slots` = 0, not data: the key-domain rule skips them)."""

    def __init__(self):
        super().__init__()
        self.filled: list[str] = []


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
