"""Errors raised for bad user input: each names the field and the accepted values, so the CLI can
print one line (design.md: "Bad input gets a one-line error that names the field and the accepted values")."""
from __future__ import annotations


class PerfDBInputError(ValueError):
    """A request names something perfdb does not know; `field` and `accepted` drive the one-line message."""

    def __init__(self, field: str, value: object, accepted: list[str], what: str | None = None):
        self.field = field
        self.value = value
        self.accepted = list(accepted)
        shown = ", ".join(self.accepted) if self.accepted else "(none)"
        super().__init__(f"unknown {what or field} {value!r}; accepted {field} values: {shown}")


class UnknownSystem(PerfDBInputError):
    """The hardware catalog has no such system."""

    def __init__(self, name: object, accepted: list[str]):
        super().__init__("system", name, accepted)


class UnknownVersion(PerfDBInputError):
    """The (system, backend) has no silicon data for the requested framework version (or no such backend)."""

    def __init__(self, value: object, accepted: list[str], field: str = "version"):
        super().__init__(field, value, accepted)
