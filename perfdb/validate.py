"""Bad perf data → an error naming the file and column, or rows dropped with a warning; never a wrong number.

Rules (perfdb/README.md, "Bad data"), applied to every table `source.read_columns` reads:

* An unreadable or truncated Parquet file, a missing required column, or a numeric column holding text →
  `BadPerfData` (a ValueError) whose one-line message names the file and the column.
* A NaN, infinite, zero or negative latency → the row is dropped with a `PerfDataWarning` naming the file,
  the column and how many rows went. A latency of 0 is a failed measurement, not a free kernel.
* A numeric key (a size: m, n, k, batch, heads, tokens, GPUs, …) outside its domain — not a finite integer,
  below 1 (0 allowed for `step` outside generation tables and for `window_size`), above 2^40 — is refused:
  `BadPerfData` naming file and column in user data; rows dropped with a warning in the shipped wheel (none
  today). Without this a negative `m` became a NaN latency and `m = 0` or NaN a "duplicate key".
* Duplicate keys (rows equal in every column the reader uses except the measured values): latencies within
  `MAX_DUPLICATE_SPREAD` (2×) of each other are all kept and the grid takes their geometric mean — repeat
  measurements are normal (the shipped tables sloplan reads hold ~600 such keys, spread ≤ 1.8×), so this
  is silent. A spread above 2× means two different things were measured under one key:
    - in user data (an overlay, collector output) → `BadPerfData` naming the file, column and one key,
      because the user can fix it and no average of the two is trustworthy;
    - in the shipped wheel (the user cannot fix it) → the contested rows are dropped with a warning, so
      the point is interpolated from its neighbours instead of being reported MEASURED at a doubtful value.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

MAX_DUPLICATE_SPREAD = 2.0
_LATENCY = re.compile(r"^(latency|avg_ms)$|_(us|ms)$")
_VALUE = re.compile(r"^(latency|avg_ms|power|power_limit)$|_(us|ms|gbps)$")


class BadPerfData(ValueError):
    """A perf table sloplan cannot trust; the CLI prints the one-line message and exits 2."""

    field = "perfdb"

    def __init__(self, path: Path | str, column: str | None, problem: str):
        self.path, self.column, self.problem = Path(path), column, problem
        where = f"perf table {path}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


class PerfDataWarning(UserWarning):
    """Rows dropped from a perf table (bad latency, contested duplicates in shipped data)."""


def is_latency(column: str) -> bool:
    """Columns holding a measured time (ms or µs): must be finite and > 0."""
    return bool(_LATENCY.search(column))


def is_value(column: str) -> bool:
    """Measured columns (times, power, bandwidth); every other column a reader uses is part of the key."""
    return bool(_VALUE.search(column))


def take(cols: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {c: a[keep] for c, a in cols.items()}


def drop_bad_latency(cols: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Drop rows whose latency is NaN, ±inf, zero or negative; warn once per column with the count."""
    keep = np.ones(_rows(cols), dtype=bool)
    for col in (c for c in cols if is_latency(c)):
        ok = np.isfinite(cols[col]) & (cols[col] > 0)
        bad = int((keep & ~ok).sum())
        if bad:
            warnings.warn(f"perf table {path}, column {col!r}: dropped {bad} of {len(ok)} rows with a NaN, "
                          "infinite, zero or negative latency", PerfDataWarning, stacklevel=3)
        keep &= ok
    return cols if keep.all() else take(cols, keep)


MAX_SIZE = float(2 ** 40)  # beyond this a size overflows the roofline arithmetic (2·m·n·k) for no real kernel
ZERO_OK = ("step", "window_size")  # 0 = no cached tokens (context tables) / full attention


def size_domain(column: str, path: Path) -> float:
    """Smallest accepted value of a numeric key column: 1, or 0 where 0 means "none" (`window_size`, and `step`
    except in generation tables, where it is the KV length and an axis in log2)."""
    if column in ZERO_OK and not (column == "step" and "generation" in Path(path).name):
        return 0.0
    return 1.0


def check_domain(cols: dict[str, np.ndarray], path: Path, shipped: bool, skip=()) -> dict[str, np.ndarray]:
    """Numeric key columns (but `skip`: defaults filled in for absent optional columns) must hold finite
    integers in [size_domain, MAX_SIZE]: an error for user data (naming file, column and one bad value),
    dropped rows with a warning for the wheel."""
    keep = np.ones(_rows(cols), dtype=bool)
    for col in (c for c in key_columns(cols) if cols[c].dtype.kind == "f" and c not in skip):
        a, low = cols[col], size_domain(col, path)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(a) & (a == np.round(a)) & (a >= low) & (a <= MAX_SIZE)
        if ok.all():
            continue
        bad = int((~ok).sum())
        accepted = f"finite integers from {low:g} to 2^40"
        if not shipped:
            raise BadPerfData(path, col, f"{bad} of {len(a)} rows hold a key outside its domain (e.g. "
                              f"{a[~ok][0]:g}); accepted: {accepted}")
        warnings.warn(f"perf table {path}, column {col!r}: dropped {bad} of {len(a)} rows whose key is not "
                      f"{accepted}", PerfDataWarning, stacklevel=3)
        keep &= ok
    return cols if keep.all() else take(cols, keep)


def key_columns(cols: dict[str, np.ndarray]) -> list[str]:
    return [c for c in cols if not is_value(c)]


def group_ids(cols: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    """One integer per row, equal for rows with equal values in every key column."""
    n = _rows(cols)
    if not keys or n == 0:
        return np.arange(n)
    combined = np.zeros(n, dtype=np.int64)
    for k in keys:  # mixed-radix code, re-compacted each step so it never overflows (1-D unique is fast)
        values, code = np.unique(cols[k], return_inverse=True)
        combined = np.unique(combined * len(values) + code.ravel(), return_inverse=True)[1].ravel()
    return combined


def check_duplicates(cols: dict[str, np.ndarray], path: Path, shipped: bool) -> dict[str, np.ndarray]:
    """Apply the duplicate-key rule (module docstring): error for user data, drop + warn for the wheel."""
    lat_cols = [c for c in cols if is_latency(c)]
    gid = group_ids(cols, key_columns(cols))
    if not lat_cols or len(np.unique(gid)) == len(gid):
        return cols
    contested = np.zeros(gid.max() + 1, dtype=bool)
    for col in lat_cols:
        hi = np.full(gid.max() + 1, -np.inf)
        lo = np.full(gid.max() + 1, np.inf)
        np.maximum.at(hi, gid, cols[col])
        np.minimum.at(lo, gid, cols[col])
        bad = hi > MAX_DUPLICATE_SPREAD * lo
        if bad.any() and not shipped:
            row = int(np.nonzero(bad[gid])[0][0])
            key = ", ".join(f"{k}={cols[k][row]}" for k in key_columns(cols))
            raise BadPerfData(path, col, f"duplicate key ({key}) has latencies {lo[gid[row]]:g} and "
                              f"{hi[gid[row]]:g}, more than {MAX_DUPLICATE_SPREAD:g}x apart")
        contested |= bad
    if not contested.any():
        return cols
    drop = contested[gid]
    warnings.warn(f"perf table {path}, column {lat_cols[0]!r}: dropped {int(drop.sum())} rows of "
                  f"{int(contested.sum())} duplicate keys whose latencies differ more than "
                  f"{MAX_DUPLICATE_SPREAD:g}x", PerfDataWarning, stacklevel=3)
    return take(cols, ~drop)


def overlay_rows(base: dict[str, np.ndarray], user: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Shipped rows plus user rows; on identical keys the user's rows replace the shipped ones."""
    n_base = _rows(base)
    both = {c: np.concatenate([base[c], user[c]]) for c in base}
    gid = group_ids(both, key_columns(both))
    user_keys = np.zeros(gid.max() + 1 if len(gid) else 0, dtype=bool)
    user_keys[gid[n_base:]] = True
    keep = np.ones(len(gid), dtype=bool)
    keep[:n_base] = ~user_keys[gid[:n_base]]
    return take(both, keep)


def _rows(cols: dict[str, np.ndarray]) -> int:
    return len(next(iter(cols.values()))) if cols else 0
