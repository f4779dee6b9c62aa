"""SparseGrids ↔ the arrays of one cache file: every grid's axes and log-utils in one float64 array, its cell
indices in one int64 array, and a JSON index of where each grid's pieces sit.

One scheme for every file that holds grids (the main file of a PerfDB and each family's side file). A load
decodes three arrays instead of four per grid (293 zip members for h200_sxm trtllm cost ~35 ms in numpy's
per-member overhead; three cost ~2 ms), and each grid is a set of views into them, built when first asked
for (`LazyGrids`). Every byte is still read — and CRC-checked by zipfile — at load, so a damaged file is
found there, where the cache can discard and rebuild it, not at a later query.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping

import numpy as np

from .sparse_grid import SparseGrid

META = "__meta__"
F64, I64 = "__f64__", "__i64__"


def pack(grids: dict[str, SparseGrid], meta: dict) -> dict[str, np.ndarray]:
    """Arrays to write (`np.savez`): the grids' numbers in two flat arrays, `meta` + the index as JSON."""
    f64: list[np.ndarray] = []
    i64: list[np.ndarray] = []
    sizes = {"f": 0, "i": 0}

    def put(parts: list, key: str, arr, dtype) -> list[int]:
        a = np.ascontiguousarray(arr, dtype=dtype).ravel()
        parts.append(a)
        start = sizes[key]
        sizes[key] += a.size
        return [start, a.size]

    index = {}
    for name, g in grids.items():
        index[name] = {"order": list(g.fill_order),
                       "axes": [put(f64, "f", a, np.float64) for a in g.axes],
                       "flat": put(i64, "i", g.flat, np.int64), "lu": put(f64, "f", g.lu, np.float64)}
    return {META: np.array(json.dumps({**meta, "index": index})),
            F64: np.concatenate(f64) if f64 else np.zeros(0),
            I64: np.concatenate(i64) if i64 else np.zeros(0, np.int64)}


def unpack(arrays: dict) -> tuple["LazyGrids", dict]:
    """(grids, meta) of arrays written by `pack`; KeyError / ValueError on foreign or inconsistent content
    (the cache counts that as damage)."""
    meta = json.loads(str(arrays[META]))
    f64, i64 = arrays[F64], arrays[I64]
    if f64.dtype != np.float64 or i64.dtype != np.int64 or f64.ndim != 1 or i64.ndim != 1:
        raise ValueError("grid arrays of the wrong kind")
    index = meta.pop("index")
    for entry in index.values():
        spans = [(f64, s) for s in entry["axes"]] + [(i64, entry["flat"]), (f64, entry["lu"])]
        if any(s[0] < 0 or s[1] < 0 or s[0] + s[1] > arr.size for arr, s in spans) \
                or entry["flat"][1] != entry["lu"][1] or len(entry["order"]) != len(entry["axes"]):
            raise ValueError("grid index out of range")
    return LazyGrids(index, f64, i64), meta


class LazyGrids(MutableMapping):
    """name → SparseGrid, each built (as views into the file's two arrays) on first access. Names are known
    without building anything, so `name in grids`, `sorted(grids)` and `len` cost nothing; grids added later
    (families read on first use) are stored as given."""

    def __init__(self, index: dict, f64: np.ndarray, i64: np.ndarray):
        self._index, self._f64, self._i64 = dict(index), f64, i64
        self._built: dict[str, SparseGrid] = {}

    def _build(self, name: str) -> SparseGrid:
        e = self._index[name]
        axes = [self._f64[s:s + n] for s, n in e["axes"]]
        (fs, fn), (ls, ln) = e["flat"], e["lu"]
        return SparseGrid(axes, self._i64[fs:fs + fn], self._f64[ls:ls + ln], list(e["order"]))

    def __getitem__(self, name: str) -> SparseGrid:
        if name not in self._built:
            if name not in self._index:
                raise KeyError(name)
            self._built[name] = self._build(name)
        return self._built[name]

    def __setitem__(self, name: str, grid: SparseGrid) -> None:
        self._index.pop(name, None)
        self._built[name] = grid

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._index:
            raise KeyError(name)
        self._built.pop(name, None)
        self._index.pop(name, None)

    def __contains__(self, name) -> bool:
        return name in self._built or name in self._index

    def __iter__(self) -> Iterator[str]:
        yield from self._index
        yield from (n for n in self._built if n not in self._index)

    def __len__(self) -> int:
        return len(self._index) + sum(1 for n in self._built if n not in self._index)

    def built(self) -> list[str]:
        """Names of the grids decoded so far (a test sees a dense query decode only what it reads)."""
        return sorted(self._built)
