"""Disk cache of the compact grids: one uncompressed .npz per (system, backend, version), plus side files.

Reading Parquet costs ~1 s per (system, backend, version); the npz loads in milliseconds. The file name
carries the aiconfigurator-core version, the cache schema number and a hash of the SystemSpec (util
depends on the roofline figures), so any change invalidates it.

A cache is disposable, so it never decides whether a run succeeds:
* every file is whole or absent: written to `.<name>.<random>.tmp` in the same folder, then renamed. A
  writer killed mid-write (SIGKILL) leaves only its `.tmp`, which no reader opens (readers open exact
  `.npz` names); the next writer in that folder deletes `.tmp` files older than `STALE_TMP_S`;
* a file that is there but cannot be read or decoded (truncated, zero bytes, bit rot, foreign content) is
  deleted with ONE warning naming it, and the caller rebuilds and rewrites it (`read`);
* a folder that cannot be written (read-only, `SLOPLAN_CACHE_DIR` naming a regular file, disk full) is
  said ONCE per process, and the run goes on without the cache.
Warnings are `CacheWarning`s (python warnings; the CLI prints each as one `warning: …` line).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
from pathlib import Path
from collections.abc import Callable

import numpy as np

from sloplan.core.cache_folder import cache_dir

from .system_spec import SystemSpec
from .wheel import aic_version
from . import grid_store
from .sparse_grid import SparseGrid

# 2: generation attention filled in latency space; 3: NCCL, a2a, MLA grids; 4: LOO-chosen fill schemes;
# 5: decode kv-edge extrapolation; 6: overlay torch lane; 7: MLA read lazily (side file); 8: grid_store
# layout everywhere, NCCL / all-to-all read lazily, one counter (family side files carry none); 9: block
# scales counted in the SOL of fp8_block / mxfp4 (core/dtypes.py), whose byte counts the name now also hashes;
# 10: the MoE table keeps its kernel lanes beside the default one (perfdb/moe.py KERNEL_LANES)
# 11: kernel lanes another framework's table times (SystemSpec.kernel_donors)
CACHE_SCHEMA = 11
STALE_TMP_S = 3600.0  # a .tmp older than this belongs to a dead writer (a live one renames within seconds)
_MAX_REASON = 120  # characters of an exception message echoed in a warning
_UNWRITABLE_SAID: set[str] = set()  # cache folders already reported unwritable in this process


class CacheWarning(UserWarning):
    """The disk cache could not be used as is (a damaged file rebuilt, a folder not writable); never fatal."""


def _dtype_bytes() -> str:
    """The dtype table's byte counts and the kernels that count them, in a fixed order: the cached grids
    hold utilization = SOL / measured, so a change of the SOL's bytes must not read an old cache."""
    from sloplan.core.dtypes import DTYPES

    return repr(tuple((d.name, d.storage_bytes, tuple(sorted(k.value for k in d.kernels))) for d in DTYPES))


def cache_path(spec: SystemSpec, backend: str, version: str, overlay_tag: str = "") -> Path:
    """`overlay_tag` (overlay.Overlay.fingerprint) keeps grids built with user tables apart."""
    digest = hashlib.sha1((repr(spec) + _dtype_bytes()).encode()).hexdigest()[:10]
    user = f"-o{overlay_tag}" if overlay_tag else ""
    name = f"perfdb-{spec.name}-{backend}-{version}-aic{aic_version()}-s{CACHE_SCHEMA}-{digest}{user}.npz"
    return cache_dir() / name


def dense_path(npz_path: Path, grid_name: str) -> Path:
    """Side file of one densified, filled grid (written on first use: filling a 5-D attention slice
    costs ~0.2 s, reading it back ~1 ms)."""
    return npz_path.with_suffix("") / (grid_name.replace("/", "_") + ".npz")


# --------------------------------------------------------------------------- the read boundary
def read(path: Path | None, decode: Callable[[dict], object] = lambda arrays: arrays):
    """`decode(arrays)` of one cache file; None when it is absent — or damaged, in which case it is deleted
    with one `CacheWarning` naming it (the caller then rebuilds and rewrites it)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return decode(arrays)
    except Exception as exc:  # noqa: BLE001 — a disposable file: any failure means "rebuild", never a crash.
        # Seen: zipfile.BadZipFile (truncated), EOFError (zero bytes; click turns it into a bare "Abort"),
        # zlib.error / CRC errors (bit rot), ValueError / KeyError / TypeError (foreign or partial content),
        # OSError (unreadable), MemoryError (a corrupt header announcing a huge array).
        _discard(path, exc)
        return None


def _discard(path: Path, exc: BaseException) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # the rewrite replaces it, or the folder is not writable (said once by the writer)
    warnings.warn(f"perf cache file {path} was damaged or unreadable ({_reason(exc)}); discarded and rebuilt",
                  CacheWarning, stacklevel=3)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


# --------------------------------------------------------------------------- the write boundary
def _atomic_savez(path: Path, arrays: dict) -> None:
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def atomic_write(path: Path, write: Callable) -> None:
    """Whole or absent: `write(binary file)` into a temp file next to `path`, then rename. Failures only
    cost speed (an unwritable folder is said once per process)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
        sweep_stale_tmp(path.parent)
    except OSError as exc:
        _say_unwritable(exc)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def sweep_stale_tmp(folder: Path, max_age_s: float = STALE_TMP_S) -> None:
    """Delete `*.tmp` files in `folder` older than `max_age_s` (left by writers killed before their rename)."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False) \
                    and now - entry.stat(follow_symlinks=False).st_mtime > max_age_s:
                os.unlink(entry.path)
        except OSError:
            pass


def _say_unwritable(exc: OSError) -> None:
    """One warning per process and cache folder: every later write there would fail the same way."""
    root = str(cache_dir())
    if root in _UNWRITABLE_SAID:
        return
    _UNWRITABLE_SAID.add(root)
    warnings.warn(f"perf cache directory {root} is not a writable folder ({_reason(exc)}); working without the disk "
                  "cache, so every run pays the cold start (set SLOPLAN_CACHE_DIR to a writable folder)",
                  CacheWarning, stacklevel=4)


# --------------------------------------------------------------------------- file kinds
def save_dense(path: Path, lu: np.ndarray, tier: np.ndarray) -> None:
    """Atomic write of a filled grid; failures only cost speed."""
    _atomic_savez(path, {"lu": lu, "tier": tier})


def load_dense(path: Path | None, shape: tuple[int, ...] | None = None):
    """(lu, tier) of a filled grid of `shape`, or None (absent, or damaged: then discarded)."""
    def decode(arrays):
        lu, tier = arrays["lu"], arrays["tier"]
        if lu.shape != tier.shape or (shape is not None and lu.shape != tuple(shape)):
            raise ValueError(f"grid shape {lu.shape}, expected {shape}")
        return lu, tier
    return read(path, decode)


def save(path: Path, grids: dict[str, SparseGrid], lanes: dict, eff: dict) -> None:
    """Write atomically (grid_store's layout); a failure to write (read-only home, full disk) is not fatal."""
    _atomic_savez(path, grid_store.pack(grids, {"lanes": lanes, "eff": eff}))


def _decode_main(data: dict):
    grids, meta = grid_store.unpack(data)
    return grids, meta["lanes"], meta["eff"]


def load(path: Path):
    """(grids, lanes, eff) from a cache file, or None when absent or damaged (then discarded). The grids are a
    `grid_store.LazyGrids`: each is built on first access."""
    return read(path, _decode_main)


def save_arrays(path: Path, arrays: dict) -> None:
    """Atomic write of a family's flat arrays (MoE curves, lazily read families); failures only cost speed."""
    _atomic_savez(path, arrays)


def load_arrays(path: Path | None, decode: Callable[[dict], object] = lambda arrays: arrays):
    """`decode` of the arrays written by `save_arrays`, or None when absent or damaged (then discarded).
    `decode` raising (a missing key, a wrong shape) counts as damage."""
    return read(path, decode)
