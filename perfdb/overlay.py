"""User perf data laid over the shipped tables (`--perfdb DIR`, `SLOPLAN_PERFDB`, `set_overlay`).

The overlay folder has the wheel's layout, `DIR/<system>/<family>/<framework>/<version>/*.parquet`, where
`<system>` is a catalog name (`sloplan systems`). For a system the overlay touches, perfdb reads from a
*merged tree*: a folder of symlinks to every shipped and every user table of that system, built once per
overlay fingerprint under the cache dir. So the table readers see one ordinary folder (an overlay-only
version or table simply exists there), and `source.read_columns` reads both files behind a path that both
have, letting user rows win on identical keys and adding the user's new keys as points.

Why a fingerprint: the disk cache and the in-process memo must not serve shipped-only grids once the user
adds or edits a table, so their keys carry a hash of the overlay path and every file's size and mtime.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "SLOPLAN_PERFDB"
LAYOUT = "DIR/<system>/<family>/<framework>/<version>/*.parquet"
BUILD_PREFIX = ".build-"  # a merged tree being built (renamed into place when whole)


class BadOverlay(ValueError):
    """The overlay path is not a folder with the expected layout (one line, field `perfdb`)."""

    field = "perfdb"


@dataclass(frozen=True)
class Overlay:
    """A validated overlay folder (absolute path)."""

    root: Path

    def system_dir(self, system: str) -> Path | None:
        path = self.root / system
        return path if path.is_dir() else None

    def fingerprint(self, system: str) -> str:
        """Hash of the overlay path and (relative path, size, mtime) of every file of one system."""
        h = hashlib.sha1(str(self.root).encode())
        base = self.system_dir(system)
        for path in sorted(_files(base)) if base else ():
            st = path.stat()
            h.update(f"\0{path.relative_to(base)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()[:12]


_STATE = threading.local()
_EXPLICIT: list[Overlay | None] = [None]
_VALIDATED: dict[str, Overlay] = {}
_FARMS: dict[Path, tuple[Path | None, Path]] = {}  # merged tree → (shipped system dir, user system dir)


def open_overlay(path: str | os.PathLike) -> Overlay:
    """Validate a user folder: it must exist and hold at least one `<system>/` folder of the catalog."""
    key = str(path)
    if key in _VALIDATED:
        return _VALIDATED[key]
    from .catalog import list_systems

    root = Path(path).expanduser()
    if not root.is_dir():
        raise BadOverlay(f"perfdb: {path} is not a directory; expected {LAYOUT}")
    systems = list_systems()
    if not any((root / s).is_dir() for s in systems):
        raise BadOverlay(f"perfdb: {path} holds no <system> folder; expected {LAYOUT} with <system> one of: "
                         + ", ".join(systems))
    _VALIDATED[key] = Overlay(root.resolve())
    return _VALIDATED[key]


def set_overlay(path: str | os.PathLike | None) -> None:
    """Use this folder's tables over the shipped ones from now on (None: back to $SLOPLAN_PERFDB / none)."""
    _EXPLICIT[0] = open_overlay(path) if path is not None else None


_NO_OVERLAY = object()  # `pinned(None)`: no overlay inside the block, whatever is configured


def active() -> Overlay | None:
    """The overlay in force: a `using` / `pinned` block, else `set_overlay`, else $SLOPLAN_PERFDB, else None."""
    scoped = getattr(_STATE, "overlay", None)
    if scoped is _NO_OVERLAY:
        return None
    if scoped is not None:
        return scoped
    if _EXPLICIT[0] is not None:
        return _EXPLICIT[0]
    env = os.environ.get(ENV_VAR)
    return open_overlay(env) if env else None


@contextlib.contextmanager
def using(path: str | os.PathLike | Overlay | None):
    """Make `path` the active overlay inside the block (None: keep the configured one)."""
    previous = getattr(_STATE, "overlay", None)
    _STATE.overlay = path if isinstance(path, Overlay) or path is None else open_overlay(path)
    try:
        yield active()
    finally:
        _STATE.overlay = previous


@contextlib.contextmanager
def pinned(ov: Overlay | None):
    """Exactly `ov` (None: no overlay) is active inside the block: a PerfDB reading a table family on first
    use reads it under the overlay it was loaded with, which its cache files are keyed by."""
    previous = getattr(_STATE, "overlay", None)
    _STATE.overlay = ov if ov is not None else _NO_OVERLAY
    try:
        yield ov
    finally:
        _STATE.overlay = previous


def data_root(system: str, shipped: Path | None, wheel_tag: str) -> Path | None:
    """Folder the table readers use for `system`: the shipped folder, or the merged tree when the active
    overlay has tables for this system."""
    ov = active()
    user = ov.system_dir(system) if ov else None
    if user is None:
        return shipped
    key = hashlib.sha1(f"{ov.fingerprint(system)}|{shipped}|{wheel_tag}".encode()).hexdigest()[:12]
    farm = _build_farm(f"{system}-{key}", shipped, user)
    _FARMS[farm] = (shipped, user)
    return farm


def sources(path: Path) -> list[tuple[Path, bool]] | None:
    """(file, shipped?) pairs behind a path inside a merged tree, shipped first; None for other paths."""
    for farm, (shipped, user) in _FARMS.items():
        try:
            rel = path.relative_to(farm)
        except ValueError:
            continue
        out = [(shipped / rel, True)] if shipped and (shipped / rel).is_file() else []
        out += [(user / rel, False)] if (user / rel).is_file() else []
        return out or [(path, False)]
    return None


def _files(root: Path):
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".parquet"):
                yield Path(dirpath) / name


def _sweep_stale_builds(parent: Path) -> None:
    """Remove half-built trees left by a builder killed before its rename (older than cache.STALE_TMP_S)."""
    import time

    from .cache import STALE_TMP_S

    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(BUILD_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_TMP_S:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass


def _build_farm(name: str, shipped: Path | None, user: Path) -> Path:
    """Symlink every shipped and user table into one tree (once per fingerprint; atomic rename)."""
    from .cache import cache_dir

    parent = cache_dir() / "overlay"
    final = parent / name
    if final.is_dir():
        return final
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        parent = Path(tempfile.gettempdir()) / f"sloplan-overlay-{os.getuid()}"
        parent.mkdir(parents=True, exist_ok=True)
        final = parent / name
        if final.is_dir():
            return final
    _sweep_stale_builds(parent)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=BUILD_PREFIX))
    for root in (r for r in (shipped, user) if r):
        for src in _files(root):
            dst = tmp / src.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                os.symlink(src, dst)
    try:
        os.rename(tmp, final)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return final
