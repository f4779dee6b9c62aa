"""load_perfdb: resolve the version, read the disk cache or build it from Parquet, memoize in-process."""
from __future__ import annotations

import threading

from . import cache
from . import overlay as overlay_mod
from .catalog import load_system
from .perfdb import PerfDB
from .source import system_data_dir
from .tables import build_all
from .versions import data_versions, resolve_version

_MEMO: dict[tuple[str, str, str, str], PerfDB] = {}
_LOCK = threading.RLock()


def load_perfdb(system: str, backend: str, version: str | None = None, overlay=None) -> PerfDB:
    """PerfDB for (system, backend, version); version None → newest with data. Memoized in-process.

    `overlay`: a folder of user tables laid over the shipped ones (overlay.py); None → the configured one
    (`set_overlay`, else $SLOPLAN_PERFDB, else none). Its fingerprint is part of the memo and cache keys.
    """
    spec = load_system(system)
    with _LOCK, overlay_mod.using(overlay) as ov:
        resolved = resolve_version(system, backend, version)
        tag = ov.fingerprint(system) if ov and ov.system_dir(system) else ""
        key = (system, backend, resolved, tag)
        if key not in _MEMO:
            _MEMO[key] = _load(spec, backend, resolved, tag)
        return _MEMO[key]


def _load(spec, backend: str, version: str, overlay_tag: str = "") -> PerfDB:
    root = system_data_dir(spec.silicon_dir, spec.name)
    if root is None or not data_versions(spec.name, backend):
        return PerfDB(spec, backend, version, {}, {}, {}, _donor_eff(spec, backend))
    path = cache.cache_path(spec, backend, version, overlay_tag)
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
