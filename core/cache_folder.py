"""Where sloplan keeps its disposable cache files: one rule for every cache (perf tables, parsed YAML, the
dataclass methods' code), in the bottom layer so the console script can find the folder before it imports
anything heavy (perfdb/cache.py re-exports it)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$SLOPLAN_CACHE_DIR, else platformdirs' user cache dir for "sloplan"."""
    env = os.environ.get("SLOPLAN_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sloplan"))
