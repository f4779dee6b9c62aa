"""Solver backends behind one interface (`SolverBackend`), chosen by name.

A backend is a file in this folder plus one row in `registry.REGISTRY` (``highs``, ``pyomo:<solver>``,
``ortools:<solver>``, ``ortools:cp-sat``). `backend_for(name)` imports a backend's module when it is
asked for, and no backend imports its solver library before it builds a model, so importing the solver never imports
one (highspy costs ~50 ms). The default backend's module is light and loads with the package, so
the first solve does not pay for loading it.
"""
from __future__ import annotations

from . import highs as _default  # noqa: F401  (the default backend: loaded with the package)
from .base import (EXACT, Iis, SolveOptions, BackendResult, SolverBackend, SolverError, SolveStatus,
                   export_suffix)
from .registry import REGISTRY
from .state import BackendRefused

DEFAULT_BACKEND = "highs"

_REGISTRY = REGISTRY


class UnknownBackend(ValueError):
    """A backend name that is not registered."""


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def known_backend(name: str) -> str:
    """`name` if it is a registered backend, else UnknownBackend naming the known ones. Checks
    without importing anything, so a driver can reject a bad name before any work."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownBackend(f"unknown solver backend {name!r}; known: {', '.join(_REGISTRY)}")
    return name


def backend_for(name: str = DEFAULT_BACKEND) -> type[SolverBackend]:
    """The backend class registered as `name`; call it with a Formulation to build a model."""
    return _REGISTRY[known_backend(name)].load()


def installed_backends() -> tuple[str, ...]:
    """Registered backends that can run here (probes may import the solver library: not on the default
    path, only when a non-default backend is chosen or listed)."""
    return tuple(name for name, entry in _REGISTRY.items() if entry.installed())


def installed_backend(name: str) -> str:
    """`name` if it is registered and installed, else UnknownBackend naming the installed ones."""
    if name == DEFAULT_BACKEND:
        return name
    if not isinstance(name, str) or name not in _REGISTRY or not _REGISTRY[name].installed():
        state = "not installed" if isinstance(name, str) and name in _REGISTRY else "unknown solver backend"
        raise UnknownBackend(f"{state} {name!r}; installed: {', '.join(installed_backends())}")
    return name


__all__ = ["DEFAULT_BACKEND", "EXACT", "BackendRefused", "Iis", "SolveOptions", "BackendResult", "SolveStatus",
           "SolverBackend", "SolverError", "UnknownBackend", "backend_for", "backend_names", "installed_backend",
           "installed_backends", "known_backend", "export_suffix"]
