"""Lazily read table families (NCCL, MoE all-to-all, MLA, sparse / linear attention, quantize, encoder, mHC, …).

These tables matter only to some models, so they are read on the first query of their family, never at
load: a family builder turns its Parquet table(s) into `SparseGrid`s (log-util over log2 axes, exactly like
GEMM / attention), the grids are merged into the PerfDB's sparse grids (so `PerfDB.grid` densifies, fills
and side-caches them like any other) and written together to one side file of the disk cache
(`family_<name>.npz`, in the folder named after the main file, so cache.CACHE_SCHEMA versions it too), so
later processes skip Parquet. A family's median utils are added
to `db.eff` (used by the roofline fallback of a slice without data).
"""
from __future__ import annotations

import numpy as np

from . import cache, grid_store
from . import family as family_mod
from . import overlay as overlay_mod
from .source import system_data_dir
from .sparse_grid import SparseGrid

def pack(grids: dict[str, SparseGrid], lanes: dict) -> dict:
    return grid_store.pack(grids, {"lanes": lanes})


def unpack(arrays: dict):
    """(grids, lanes) of a side file written by `pack`; raises KeyError / ValueError on foreign content."""
    grids, meta = grid_store.unpack(arrays)
    return grids, meta["lanes"]


class LazyFamilyMixin:
    """`_ensure_family(name)`: read a lazily loaded family once per PerfDB (then from the side cache)."""

    def _ensure_family(self, family: str) -> list[str]:
        loaded = self.__dict__.setdefault("_lazy_loaded", {})
        if family in loaded:
            return loaded[family]
        side = (cache.dense_path(self._cache_file, f"family_{family}")
                if self._cache_file else None)
        grids, lanes = cache.load_arrays(side, unpack) or (None, None)
        if grids is None:
            with self._own_overlay():
                root = system_data_dir(self.system.silicon_dir, self.system.name)
                read = family_mod.FAMILIES[family].read
                grids, lanes = read(root, self.system, self.backend, self.version) if root else ({}, {})
            if side:
                cache.save_arrays(side, pack(grids, lanes))
        for name, g in grids.items():
            self._sparse.setdefault(name, g)
            self.eff.setdefault(name, float(np.exp(np.median(g.lu))))
        prefixes = {n.split("/")[0] for n in grids}
        for p in prefixes:
            lus = [g.lu for n, g in grids.items() if n.split("/")[0] == p]
            self.eff.setdefault(p, float(np.exp(np.median(np.concatenate(lus)))))
        self.lanes.update(lanes)
        loaded[family] = sorted(grids)
        return loaded[family]

    def families_read(self) -> list[str]:
        """The lazily read families this PerfDB has read so far (MoE curves count as "moe")."""
        read = set(self.__dict__.get("_lazy_loaded", {}))
        return sorted(read | ({"moe"} if getattr(self, "_moe", None) is not None else set()))

    def _own_overlay(self):
        """Read tables under the overlay this db was loaded with (not whatever is active at first use), so a
        family read later sees the same user tables as the eager ones and as its cache key says."""
        return overlay_mod.pinned(getattr(self, "_overlay", None))

    def _family_grid(self, family: str, name: str):
        """Filled grid `name` of a lazily read family, or None when the wheel has no such slice."""
        self._ensure_family(family)
        return self.grid(name)
