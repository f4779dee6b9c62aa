"""load_perfdb: resolve the version, read the disk cache or build it from Parquet, memoize in-process."""
from __future__ import annotations

import threading

from . import cache
from .catalog import load_system
from .perfdb import PerfDB
from .source import system_data_dir
from .tables import build_all
from .versions import data_versions, resolve_version

_MEMO: dict[tuple[str, str, str], PerfDB] = {}
_LOCK = threading.RLock()


def load_perfdb(system: str, backend: str, version: str | None = None) -> PerfDB:
    """PerfDB for (system, backend, version); version None → newest with data. Memoized in-process."""
    spec = load_system(system)
    resolved = resolve_version(system, backend, version)
    key = (system, backend, resolved)
    with _LOCK:
        if key not in _MEMO:
            _MEMO[key] = _load(spec, backend, resolved)
        return _MEMO[key]


def _load(spec, backend: str, version: str) -> PerfDB:
    root = system_data_dir(spec.silicon_dir)
    if root is None or not data_versions(spec.name, backend):
        return PerfDB(spec, backend, version, {}, {}, {}, _donor_eff(spec, backend))
    path = cache.cache_path(spec, backend, version)
    loaded = cache.load(path)
    if loaded is None:
        loaded = build_all(root, spec, backend, version)
        cache.save(path, *loaded)
    grids, lanes, eff = loaded
    return PerfDB(spec, backend, version, grids, lanes, eff, cache_file=path)


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
