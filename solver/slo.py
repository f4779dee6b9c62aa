"""Service-level objectives and which options violate them.

An option that violates an SLO may not be used at all: a deployment's TTFT/TPOT/request latency is
the maximum over the options it uses, so one violating replica breaks the SLO for its requests.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from sloplan.model.option_table import OptionTable

from .groups import ConstraintGroup


class SloKind(str, Enum):
    """The three SLOs. `field` names both the `Slo` attribute and the OptionTable column (seconds)."""

    TTFT = "ttft"
    TPOT = "tpot"
    REQUEST_LATENCY = "request_latency"

    @property
    def field(self) -> str:
        return _FIELD[self]

    @property
    def group(self) -> ConstraintGroup:
        """The constraint group holding this SLO's rows in a formulation."""
        return _GROUP[self]


_FIELD = {SloKind.TTFT: "ttft_s", SloKind.TPOT: "tpot_s", SloKind.REQUEST_LATENCY: "request_latency_s"}
_GROUP = {SloKind.TTFT: ConstraintGroup.SLO_TTFT, SloKind.TPOT: ConstraintGroup.SLO_TPOT,
          SloKind.REQUEST_LATENCY: ConstraintGroup.SLO_REQUEST_LATENCY}


@dataclass(frozen=True)
class Slo:
    """Upper limits in seconds; None means "no limit"."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    request_latency_s: float | None = None

    def __post_init__(self) -> None:
        for kind in SloKind:
            value = self.limit(kind)
            if value is not None and not value > 0:
                raise ValueError(f"Slo.{kind.field} must be a positive number of seconds or None, got {value!r}")

    def limit(self, kind: SloKind) -> float | None:
        return getattr(self, kind.field)

    def violators(self, table: OptionTable) -> dict[SloKind, np.ndarray]:
        """SLO kind -> row indices of `table` that break that SLO (only SLOs that are set)."""
        out = {}
        for kind in SloKind:
            limit = self.limit(kind)
            if limit is not None:
                out[kind] = np.flatnonzero(~(getattr(table, kind.field) <= limit))  # NaN violates
        return out

    def allowed(self, table: OptionTable) -> np.ndarray:
        """Boolean mask of rows that meet every SLO (the one definition of "meets the SLO" per row)."""
        mask = np.ones(len(table), dtype=bool)
        for rows in self.violators(table).values():
            mask[rows] = False
        return mask
