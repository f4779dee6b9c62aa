"""sloplan.perfdb — primitive latencies (GEMM, attention, communication, memory ops) with source tiers.

Silicon tables come from the aiconfigurator-core wheel (read directly, never its estimator); queries are
vectorized and every answer says whether it was measured, interpolated, extrapolated or a roofline.
"""
from .catalog import list_systems, load_system
from .coverage import FamilyCoverage, coverage
from .errors import UnknownSystem, UnknownVersion
from .loader import load_perfdb
from .lookup import Lookup
from .overlay import BadOverlay, set_overlay
from .perfdb import PerfDB
from .system_spec import SystemSpec
from .tier import Tier, worst
from .versions import data_versions, nearest_version, resolve_version

_LAZY = {"BadPerfData": "validate", "PerfDataWarning": "validate"}  # the checks run only when a table is read


def __getattr__(name: str):
    """Names whose module a warm solve never runs, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Tier", "worst", "Lookup", "PerfDB", "SystemSpec", "load_system", "list_systems", "data_versions",
    "resolve_version", "nearest_version", "load_perfdb", "UnknownSystem", "UnknownVersion",
    "set_overlay", "BadPerfData", "BadOverlay", "PerfDataWarning", "coverage", "FamilyCoverage",
]
