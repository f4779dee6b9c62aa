"""Shared helpers of the family modules (comm, MLA, MoE): which version folder to read, dtype names."""
from __future__ import annotations

from pathlib import Path

from .dtypes import DTYPE_ALIASES, canon_dtype  # noqa: F401 — re-exported for the family modules
from .source import version_dirs
from .versions import pick_nearest, sort_versions


def family_table(root: Path | None, family: str, framework: str, filename: str, version: str | None):
    """(path, version) of `<family>/<framework>/<v>/<filename>` with v = newest ≤ `version` (else the oldest
    newer one; None → newest); (None, None) when the wheel ships no such table for this system."""
    versions = version_dirs(root, family, framework, filename)
    if not versions:
        return None, None
    v = sort_versions(versions)[-1] if version is None else pick_nearest(list(versions), version)
    return root / family / framework / v / filename, v


def gather_grids(root: Path | None, family: str, backend: str, version: str | None, files: dict,
                 build, lane_key=lambda kind: kind) -> tuple[dict, dict]:
    """Grids and lanes of every `files` table (kind → file name) the family ships for this backend.

    `build(path, kind)` turns one table into (grids, lane name); a table the system lacks is skipped.
    """
    grids, lanes = {}, {}
    for kind, fname in files.items():
        path, ver = family_table(root, family, backend, fname, version)
        if path is not None:
            g, lane = build(path, kind)
            grids.update(g)
            lanes[lane_key(kind)] = f"{lane}@{ver}"
    return grids, lanes
