"""Service-level objectives and which options violate them.

An option that violates an SLO may not be used at all: a deployment's TTFT/TPOT/request latency is
the maximum over the options it uses, so one violating replica breaks the SLO for its requests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import SloKind
from sloplan.model.option_table import OptionTable



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
