"""Canonical dtype names of perfdb's grid names (a leaf: table readers, bounds and families all use it).

The spellings live in the one dtype table, core/dtypes.py; this module keeps perfdb's old names for them.
"""
from __future__ import annotations

from sloplan.core.dtypes import DTYPES, canonical

DTYPE_ALIASES = {s: d.name for d in DTYPES for s in (d.name, *d.aliases)}


def canon_dtype(name: str) -> str:
    """Canonical dtype name used in grid names ("bfloat16", "half", vLLM's "default" → "bf16")."""
    return canonical(name)
