"""Framework versions with silicon data: listing, ordering, resolving a user's request."""
from __future__ import annotations

import re

from .catalog import load_system
from .errors import UnknownVersion
from .source import BACKENDS, system_data_dir, version_dirs

_PRE = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "rc": 3}
_RE = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[.-]?(dev|a|alpha|b|beta|rc)(\d*))?(?:[.-]?post(\d*))?(?:[.+-].*)?$")


def version_key(version: str) -> tuple:
    """Sort key with PEP 440-like order: 1.3.0rc5 < 1.3.0rc20 < 1.3.0 < 1.3.0.post1; 0.5.6.post2 < 0.5.10.

    Trailing zeros of the release are dropped so "2.27" == "2.27.0". Unparseable strings sort first, by text.
    """
    m = _RE.match(version.strip())
    if not m:
        return ((-1,), 0, 0, 0, version)
    release = [int(x) for x in m.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre = (_PRE[m.group(2)], int(m.group(3) or 0)) if m.group(2) else (4, 0)
    post = int(m.group(4) or 0) + 1 if m.group(4) is not None else 0
    return (tuple(release), pre, post, 0, "")


def sort_versions(versions) -> list[str]:
    """Oldest → newest."""
    return sorted(versions, key=version_key)


def backend_name(backend) -> str:
    """The backend as perfdb keys and paths spell it: its value, for a string or a `core.enums.Backend`.

    Why at this edge: Backend is a str-mixin enum, equal to its value and hashing like it, but on Python 3.11
    it formats as "Backend.TRTLLM". Passed through, it would build table paths that do not exist (so no
    versions: a roofline-only PerfDB) and memoize that PerfDB under a key equal to the string's, corrupting
    every later `load_perfdb(system, "trtllm")` in the process. Unknown names are refused by the caller."""
    value = getattr(backend, "value", backend)
    return value if isinstance(value, str) else str(value)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UnknownVersion(backend, list(BACKENDS), field="backend")


def data_versions(system: str, backend: str) -> list[str]:
    """Versions of `backend` on `system` that have both GEMM and attention tables, oldest → newest."""
    backend = backend_name(backend)
    _check_backend(backend)
    root = system_data_dir(load_system(system).silicon_dir, system)
    gemm = set(version_dirs(root, "gemm", backend, "gemm_perf.parquet"))
    attn = set(version_dirs(root, "attention", backend, "context_attention_perf.parquet"))
    return sort_versions(gemm & attn)


def resolve_version(system: str, backend: str, requested: str | None) -> str:
    """None → newest version with data; an exact version with data → itself; otherwise UnknownVersion.

    A roofline-only system (no silicon data at all) accepts any version: nothing is measured, so the
    version changes no number; None resolves to "roofline".
    """
    versions = data_versions(system, backend)
    if not versions:
        return requested or "roofline"
    if requested is None:
        return versions[-1]
    if requested in versions:
        return requested
    raise UnknownVersion(requested, versions)


def nearest_version(system: str, backend: str, version: str) -> str:
    """Closest version with data: the newest ≤ `version`, else the oldest ≥ it."""
    versions = data_versions(system, backend)
    if not versions:
        raise UnknownVersion(version, [])
    return pick_nearest(versions, version)


def pick_nearest(versions: list[str], version: str) -> str:
    """Newest of `versions` ≤ `version`, else the oldest (all are newer). `versions` needn't be sorted."""
    ordered = sort_versions(versions)
    key = version_key(version)
    older = [v for v in ordered if version_key(v) <= key]
    return older[-1] if older else ordered[0]
