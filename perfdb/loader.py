"""load_perfdb: resolve the version, read the disk cache or build it from Parquet, memoize in-process."""
from __future__ import annotations

import threading

from sloplan.core.enums import Phase

from . import cache
from . import overlay as overlay_mod
from .catalog import load_system
from .perfdb import PerfDB
from .source import system_data_dir, version_dirs
from . import family as family_mod
from .tables import attention_grids, gemm_grids, median_efficiency
from .versions import backend_name, data_versions, resolve_version, sort_versions

TORCH = "torch"  # framework folder of `sloplan collect`'s GEMM / attention tables

_MEMO: dict[tuple[str, str, str, str], PerfDB] = {}
_LOCK = threading.RLock()


def load_perfdb(system: str, backend: str, version: str | None = None, overlay=None) -> PerfDB:
    """PerfDB for (system, backend, version); version None → newest with data. Memoized in-process.

    `overlay`: a folder of user tables laid over the shipped ones (overlay.py); None → the configured one
    (`set_overlay`, else $SLOPLAN_PERFDB, else none). Its fingerprint is part of the memo and cache keys.
    `backend`: a name or a `core.enums.Backend` (normalised to its name, versions.backend_name).
    """
    backend = backend_name(backend)
    spec = load_system(system)
    with _LOCK, overlay_mod.using(overlay) as ov:
        resolved = resolve_version(system, backend, version)
        tag = ov.fingerprint(system) if ov and ov.system_dir(system) else ""
        key = (system, backend, resolved, tag)
        if key not in _MEMO:
            _MEMO[key] = _load(spec, backend, resolved, tag)
            _MEMO[key]._overlay = ov if tag else None  # families read on first use read under the same overlay
        return _MEMO[key]


def _load(spec, backend: str, version: str, overlay_tag: str = "") -> PerfDB:
    root = system_data_dir(spec.silicon_dir, spec.name)
    if root is None or not data_versions(spec.name, backend):
        grids, lanes = torch_lane(root, spec, {}, {}) if overlay_tag else ({}, {})
        return PerfDB(spec, backend, version, grids, lanes, median_efficiency(grids), _donor_eff(spec, backend),
                      donor=donor_source(spec, backend))
    path = cache.cache_path(spec, backend, version, overlay_tag)
    loaded = cache.load(path)
    if loaded is None:
        loaded = read_eager(root, spec, backend, version)
        if overlay_tag:
            grids, lanes = torch_lane(root, spec, dict(loaded[0]), dict(loaded[1]))
            loaded = (grids, lanes, median_efficiency(grids))
        cache.save(path, *loaded)
    grids, lanes, eff = loaded
    return PerfDB(spec, backend, version, grids, lanes, eff, cache_file=path, donor=donor_source(spec, backend))


def read_eager(root, spec, backend: str, version: str):
    """Grids, lanes and median efficiencies of every eager family (GEMM, attention, all-reduce): the main
    cache file. Every other family is read on its first query (store.py)."""
    grids, lanes = {}, {}
    for fam in family_mod.eager():
        g, l = fam.read(root, spec, backend, version)
        grids.update(g), lanes.update(l)
    return grids, lanes, median_efficiency(grids)


def torch_lane(root, spec, grids: dict, lanes: dict):
    """Add the overlay's `torch` GEMM / attention grids (`sloplan collect` writes them under framework
    `torch`, folder `<system>/<family>/torch/<torch version>/`, newest version used) for every slice the
    backend's own tables lack; the backend's slices always win. The grids are ordinary ones, so a collected
    point is MEASURED and everything else interpolates as usual. Lanes are recorded as `torch:<lane>@<v>`.
    Only the user's folder holds `torch` tables (the wheel ships none), so this runs only with an overlay."""
    if root is None:
        return grids, lanes
    sources = [("gemm", "gemm_perf.parquet", lambda p, v: gemm_grids(p, spec)),
               ("attention", "context_attention_perf.parquet",
                lambda p, v: attention_grids(p, spec, TORCH, v, Phase.CONTEXT.short)),
               ("attention", "generation_attention_perf.parquet",
                lambda p, v: attention_grids(p, spec, TORCH, v, Phase.GENERATION.short))]
    for family, fname, build in sources:
        versions = version_dirs(root, family, TORCH, fname)
        if not versions:
            continue
        v = sort_versions(versions)[-1]
        new, new_lanes = build(root / family / TORCH / v / fname, v)
        for name, grid in new.items():
            if name not in grids:
                grids[name] = grid
                lane = new_lanes.get(name, new_lanes.get(name.split("/")[0], "?"))
                lanes[name] = f"{TORCH}:{lane}@{v}"
    return grids, lanes


def donor_source(spec, backend: str):
    """The `donor` argument of a PerfDB: loads the catalog donor (a similar GPU with data for this backend)
    when first called, None when there is none. The fallback calls it; it never imports this module."""
    memo: list = []

    def load():
        if not memo:  # once per PerfDB, as the fallback asks on every borrowing query
            name = spec.efficiency_donor
            ok = name and name != spec.name and data_versions(name, backend)
            memo.append(load_perfdb(name, backend) if ok else None)
        return memo[0]
    return load


def _donor_eff(spec, backend: str) -> dict:
    """Median efficiencies of the catalog donor (a similar GPU with silicon data) for roofline-only systems."""
    donor = spec.efficiency_donor
    if not donor or donor == spec.name or not data_versions(donor, backend):
        return {}
    return load_perfdb(donor, backend).eff


def clear_memo() -> None:
    """Forget in-process PerfDBs (tests use it to time a cache-only load)."""
    with _LOCK:
        _MEMO.clear()
