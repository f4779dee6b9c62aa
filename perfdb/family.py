"""One record per kernel family (gemm, attention, all-reduce, nccl, a2a, mla, moe, …) behind one registry.

A `Family` says how the family's tables are read (Parquet → sparse grids and lanes), which grid-name
prefixes it owns, how its grids' holes are filled and their node SOLs (for families filled in latency
space), which of its grids carry a compute dtype (so a missing dtype borrows a sibling's slice), its
last-resort efficiencies, and whether it is read at load (`eager`: GEMM, attention, all-reduce, stored in
the main cache file) or on its first query (its own side file). The family modules register their record
at import; perfdb.py imports every family module, so the registry is complete before any PerfDB exists.
This module imports nothing from perfdb (a leaf), so every other module may read the registry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

FALLBACK_EFF = 0.1  # last-resort util of a prefix no family names a default for


def _no_log_sol(spec, name: str, axes) -> None:
    return None


@dataclass(frozen=True)
class Family:
    """How one kernel family is read, filled and fallen back on (see the module docstring)."""
    name: str
    read: Callable  # (root, spec, backend, version) -> (grids: dict[str, SparseGrid], lanes: dict)
    prefixes: tuple[str, ...]  # first part of its grid names ("gemm" of "gemm/fp8")
    eager: bool = False  # read at load into the main cache file (else on first use, own side file)
    sibling_prefixes: tuple[str, ...] = ()  # prefixes whose grid names carry a compute dtype
    default_eff: dict[str, float] = field(default_factory=dict)  # prefix → util when no data anywhere
    fill: Callable | None = None  # (name, axes) -> FillScheme; None → the default scheme
    log_sol: Callable = _no_log_sol  # (spec, name, axes) -> log SOL per dense cell, or None
    check: Callable | None = None  # a curve family (MoE): `read` returns arrays, `check` validates a side file


FAMILIES: dict[str, Family] = {}
_BY_PREFIX: dict[str, Family] = {}
ANSWERS: dict[type, Callable] = {}  # query type (queries.py) → fn(db, query) -> Lookup, from its family's module


def add(family: Family) -> Family:
    """Register one family record (a module's import does it once; re-registering replaces it)."""
    FAMILIES[family.name] = family
    for p in family.prefixes:
        _BY_PREFIX[p] = family
    return family


def register(name: str, prefixes: tuple[str, ...], **fields):
    """Decorator: the decorated function is the `read` of a lazily read family `name`."""
    def deco(fn):
        add(Family(name, fn, tuple(prefixes), **fields))
        return fn
    return deco


def answers(query_type: type):
    """Decorator: the decorated `fn(db, query) -> Lookup` answers queries of `query_type` (queries.py); the
    module of the query's family registers it at import. `db` is the PerfDB facade: its `system`, `store`
    (FamilyStore) and `fallback` are what the function reads, `db.latency` what it asks other families."""
    def deco(fn):
        ANSWERS[query_type] = fn
        return fn
    return deco


def owner(prefix: str) -> Family | None:
    """The family whose grids are named `prefix/…`, or None."""
    return _BY_PREFIX.get(prefix)


def of_grid(name: str) -> Family | None:
    return _BY_PREFIX.get(name.split("/")[0])


def lazy_family(prefix: str) -> str | None:
    """Name of the lazily read grid family owning `prefix`, None for an eager, curve or unknown prefix."""
    fam = _BY_PREFIX.get(prefix)
    return fam.name if fam is not None and not fam.eager and fam.check is None else None


def eager() -> list[Family]:
    """The families read at load, in registration order."""
    return [f for f in FAMILIES.values() if f.eager]


def carries_dtype(prefix: str) -> bool:
    fam = _BY_PREFIX.get(prefix)
    return fam is not None and prefix in fam.sibling_prefixes


def default_eff(prefix: str) -> float:
    fam = _BY_PREFIX.get(prefix)
    return fam.default_eff.get(prefix, FALLBACK_EFF) if fam is not None else FALLBACK_EFF
