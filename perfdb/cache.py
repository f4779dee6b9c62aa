"""Disk cache of the compact grids: one uncompressed .npz per (system, backend, version).

Reading Parquet costs ~1 s per (system, backend, version); the npz loads in milliseconds. The file name
carries the aiconfigurator-core version, the cache schema number and a hash of the SystemSpec (util
depends on the roofline figures), so any change invalidates it. Written atomically (temp + rename) so
concurrent processes never read a half-written file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .source import aic_version
from .system_spec import SystemSpec
from .tables import SparseGrid

CACHE_SCHEMA = 6  # 2: generation attention filled in latency space; 3: NCCL, a2a, MLA grids; 4: LOO-chosen fill schemes; 5: decode kv-edge extrapolation; 6: overlay torch lane


def cache_dir() -> Path:
    """$SLOPLAN_CACHE_DIR, else platformdirs' user cache dir for "sloplan"."""
    env = os.environ.get("SLOPLAN_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sloplan"))


def cache_path(spec: SystemSpec, backend: str, version: str, overlay_tag: str = "") -> Path:
    """`overlay_tag` (overlay.Overlay.fingerprint) keeps grids built with user tables apart."""
    digest = hashlib.sha1(repr(spec).encode()).hexdigest()[:10]
    user = f"-o{overlay_tag}" if overlay_tag else ""
    name = f"perfdb-{spec.name}-{backend}-{version}-aic{aic_version()}-s{CACHE_SCHEMA}-{digest}{user}.npz"
    return cache_dir() / name


def dense_path(npz_path: Path, grid_name: str) -> Path:
    """Side file of one densified, filled grid (written on first use: filling a 5-D attention slice
    costs ~0.2 s, reading it back ~1 ms)."""
    return npz_path.with_suffix("") / (grid_name.replace("/", "_") + ".npz")


def save_dense(path: Path, lu: np.ndarray, tier: np.ndarray) -> None:
    """Atomic write of a filled grid; failures only cost speed."""
    _atomic_savez(path, {"lu": lu, "tier": tier})


def load_dense(path: Path):
    """(lu, tier) of a filled grid, or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["lu"], npz["tier"]
    except (OSError, ValueError, KeyError):
        return None


def _atomic_savez(path: Path, arrays: dict) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def save(path: Path, grids: dict[str, SparseGrid], lanes: dict, eff: dict) -> None:
    """Write atomically; a failure to write (read-only home, full disk) is not fatal — just no cache."""
    arrays: dict[str, np.ndarray] = {}
    orders = {}
    for name, g in grids.items():
        for i, axis in enumerate(g.axes):
            arrays[f"{name}|a{i}"] = np.asarray(axis, dtype=np.float64)
        arrays[f"{name}|flat"] = g.flat
        arrays[f"{name}|lu"] = g.lu
        orders[name] = g.fill_order
    meta = {"grids": orders, "lanes": lanes, "eff": eff}
    arrays["__meta__"] = np.array(json.dumps(meta))
    _atomic_savez(path, arrays)


def load(path: Path):
    """(grids, lanes, eff) from a cache file, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        meta = json.loads(str(data.pop("__meta__")))
        grids = {}
        for name, order in meta["grids"].items():
            axes = [data[f"{name}|a{i}"] for i in range(len(order))]
            grids[name] = SparseGrid(axes, data[f"{name}|flat"], data[f"{name}|lu"], list(order))
        return grids, meta["lanes"], meta["eff"]
    except (OSError, ValueError, KeyError):
        return None


def save_arrays(path: Path, arrays: dict) -> None:
    """Atomic write of a family's flat arrays (MoE curves); failures only cost speed."""
    _atomic_savez(path, arrays)


def load_arrays(path: Path | None) -> dict | None:
    """The arrays written by `save_arrays`, or None when absent or unreadable."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError):
        return None
