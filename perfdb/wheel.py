"""Where the aiconfigurator-core wheel is installed and which version it is — found, never imported.

Importing the wheel loads a Rust extension (slow) and sloplan never calls its estimator. A leaf module, so
the disk cache (keyed by the wheel version) and the table reader (source.py) both use it without importing
each other.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


@functools.lru_cache(maxsize=1)
def wheel_dir() -> Path:
    """Folder of the installed aiconfigurator_core package (without importing it)."""
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("aiconfigurator-core is not installed; sloplan reads its silicon tables")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def aic_version() -> str:
    """Version of the installed wheel, from its dist-info folder name (cheap; keys the disk cache)."""
    for info in sorted(wheel_dir().parent.glob("aiconfigurator_core-*.dist-info")):
        return info.name[len("aiconfigurator_core-"):-len(".dist-info")]
    from importlib.metadata import version

    return version("aiconfigurator-core")
