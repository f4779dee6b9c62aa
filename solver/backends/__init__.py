"""Solver backends behind one interface (`SolverBackend`), chosen by name.

A backend is a file in this folder plus one line in `_REGISTRY`: the next ones ("pyomo", "ortools")
are added that way. `backend_for(name)` imports a backend's module when it is asked for, and no
backend imports its solver library before it builds a model, so importing the solver never imports
one (highspy costs ~50 ms). The default backend's module is light and loads with the package, so
the first solve does not pay for loading it.
"""
from __future__ import annotations

from importlib import import_module

from . import highs as _default  # noqa: F401  (the default backend: loaded with the package)
from .base import (EXACT, Iis, SolveOptions, BackendResult, SolverBackend, SolverError, SolveStatus,
                   export_suffix)

DEFAULT_BACKEND = "highs"

# backend name -> (module in this package, class name)
_REGISTRY: dict[str, tuple[str, str]] = {
    "highs": ("highs", "HighsBackend"),
}


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
    module, cls = _REGISTRY[known_backend(name)]
    return getattr(import_module(f"{__name__}.{module}"), cls)


__all__ = ["DEFAULT_BACKEND", "EXACT", "Iis", "SolveOptions", "BackendResult", "SolveStatus", "SolverBackend",
           "SolverError", "UnknownBackend", "backend_for", "backend_names",
           "known_backend", "export_suffix"]
