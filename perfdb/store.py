"""FamilyStore: the grids, filled grids, medians and lanes of one PerfDB, every family read on first use.

The eager families (GEMM, attention, all-reduce) arrive with the store, from the main cache file or Parquet
(loader.py); every other family is read on its first query (`ensure`): from its side file
`family_<name>.npz` (in the folder named after the main file, so cache.CACHE_SCHEMA versions it too), else
through its `Family.read` under the overlay the db was loaded with, then written there. Grid families merge
their grids into the store's sparse grids, their medians into `eff`, their lanes into `lanes`; a curve
family (MoE: token curves per collected shape, `Family.check` set) keeps its arrays as read (`curves`).
A slice is densified and filled by its family's scheme on first use (`grid`) and side-cached.
"""
from __future__ import annotations

import numpy as np

from . import cache, grid_store
from . import family as family_mod
from . import overlay as overlay_mod
from .fill import FillScheme
from .grid import Grid
from .source import system_data_dir
from .sparse_grid import SparseGrid


def pack(grids: dict[str, SparseGrid], lanes: dict) -> dict:
    return grid_store.pack(grids, {"lanes": lanes})


def unpack(arrays: dict):
    """(grids, lanes) of a side file written by `pack`; raises KeyError / ValueError on foreign content."""
    grids, meta = grid_store.unpack(arrays)
    return grids, meta["lanes"]


class FamilyStore:
    """Owns what the old PerfDB mixins shared: sparse and dense grids, medians, lanes, families read."""

    def __init__(self, system, backend: str, version: str, grids, lanes: dict, eff: dict, cache_file=None):
        self.system, self.backend, self.version = system, backend, version
        self.sparse = grids
        self.dense: dict[str, Grid] = {}
        self.lanes, self.eff = dict(lanes), dict(eff)
        self.cache_file = cache_file  # npz of this db; filled grids and families go to side files next to it
        self.overlay = None  # the overlay the db was loaded with (loader.py): families read later use it too
        self.loaded: dict[str, list[str]] = {}  # grid family → its grid names
        self.curve_data: dict[str, dict] = {}  # curve family → its arrays
        self.derived: dict[str, object] = {}  # curve family → what its module built from them (MoE: index)

    def _side(self, name: str):
        return cache.dense_path(self.cache_file, name) if self.cache_file else None

    def _read(self, fam, without_data=None):
        """Run a family's reader under the db's own overlay (not whatever is active at first use);
        `without_data` when the system has no data folder at all."""
        with overlay_mod.pinned(self.overlay):
            root = system_data_dir(self.system.silicon_dir, self.system.name)
            return fam.read(root, self.system, self.backend, self.version) if root else without_data

    def ensure(self, family: str) -> list[str]:
        """Read a lazily loaded grid family once (then from its side file); its grid names."""
        if family in self.loaded:
            return self.loaded[family]
        side = self._side(f"family_{family}")
        grids, lanes = cache.load_arrays(side, unpack) or (None, None)
        if grids is None:
            grids, lanes = self._read(family_mod.FAMILIES[family], ({}, {}))
            if side:
                cache.save_arrays(side, pack(grids, lanes))
        for name, g in grids.items():
            self.sparse.setdefault(name, g)
            self.eff.setdefault(name, float(np.exp(np.median(g.lu))))
        for p in {n.split("/")[0] for n in grids}:
            lus = [g.lu for n, g in grids.items() if n.split("/")[0] == p]
            self.eff.setdefault(p, float(np.exp(np.median(np.concatenate(lus)))))
        self.lanes.update(lanes)
        self.loaded[family] = sorted(grids)
        return self.loaded[family]

    def curves(self, family: str) -> dict:
        """The arrays of a curve family (MoE), read once: side file (checked by `Family.check`), else
        `Family.read` (which returns the arrays to store, or None when the system ships no such table)."""
        if family not in self.curve_data:
            fam = family_mod.FAMILIES[family]
            side = self._side(f"family_{family}")
            data = cache.load_arrays(side, fam.check)
            if data is None:
                data = self._read(fam, fam.read(None, self.system, self.backend, self.version))
                if side:
                    cache.save_arrays(side, data)
            self.curve_data[family] = data
        return self.curve_data[family]

    def families_read(self) -> list[str]:
        """The lazily read families read so far (grid and curve families)."""
        return sorted(set(self.loaded) | set(self.curve_data))

    def grid(self, name: str) -> Grid | None:
        """Densified, filled grid of one slice (built on first use, then kept and side-cached)."""
        if name not in self.dense:
            sg = self.sparse.get(name)
            if sg is None:
                return None
            side = self._side(name)
            stored = cache.load_dense(side, tuple(len(a) for a in sg.axes)) if side else None
            if stored is not None:
                self.dense[name] = Grid(sg.axes, *stored)
            else:
                self.dense[name] = self._fill(name, sg)
                if side:
                    cache.save_dense(side, self.dense[name].lu, self.dense[name].tier)
        return self.dense[name]

    def family_grid(self, family: str, name: str) -> Grid | None:
        """Filled grid `name` of a lazily read family, or None when the wheel has no such slice."""
        self.ensure(family)
        return self.grid(name)

    def _fill(self, name: str, sg: SparseGrid) -> Grid:
        """Densify and fill one slice by its family's scheme (attention fills batch / seq in latency space and
        uses batch × heads equivalents; GEMM m keeps tile-boundary pairs apart: tables.fill_scheme)."""
        fam = family_mod.of_grid(name)
        log_sol = fam.log_sol(self.system, name, sg.axes) if fam is not None else None
        scheme = fam.fill(name, sg.axes) if fam is not None and fam.fill is not None else FillScheme()
        return Grid.from_flat(sg.axes, sg.flat, sg.lu, sg.fill_order, log_sol=log_sol, scheme=scheme)
