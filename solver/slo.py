"""Service-level objectives and which options violate them.

An option that violates an SLO may not be used at all: a deployment's TTFT/TPOT/request latency is
the maximum over the options it uses, so one violating replica breaks the SLO for its requests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.model.option_table import OptionTable

# (Slo field, OptionTable column, constraint group) for every SLO kind, in one place.
SLO_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ttft_s", "ttft_s", "slo_ttft"),
    ("tpot_s", "tpot_s", "slo_tpot"),
    ("request_latency_s", "request_latency_s", "slo_request_latency"),
)


@dataclass(frozen=True)
class Slo:
    """Upper limits in seconds; None means "no limit"."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    request_latency_s: float | None = None

    def __post_init__(self) -> None:
        for name, _, _ in SLO_COLUMNS:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Slo.{name} must be a positive number of seconds or None, got {value!r}")

    def violators(self, table: OptionTable) -> dict[str, np.ndarray]:
        """Constraint group -> row indices of `table` that break that SLO (only SLOs that are set)."""
        out = {}
        for name, column, group in SLO_COLUMNS:
            limit = getattr(self, name)
            if limit is not None:
                out[group] = np.flatnonzero(~(getattr(table, column) <= limit))  # NaN violates
        return out

    def allowed(self, table: OptionTable) -> np.ndarray:
        """Boolean mask of rows that meet every SLO."""
        mask = np.ones(len(table), dtype=bool)
        for rows in self.violators(table).values():
            mask[rows] = False
        return mask
