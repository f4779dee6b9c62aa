"""Errors the front door turns into exit codes (design.md, Contracts)."""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: printed as one line naming the field and what is accepted; exit code 2."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class Infeasible(Exception):
    """A valid request no deployment can meet; exit code 3 with the reason."""


EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3
