"""What a backend returns: a status enum, the values of every column, the objective value."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class SolveStatus(Enum):
    """Outcome of one solve. Only OPTIMAL carries values that callers may trust as optimal."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


@dataclass(frozen=True, eq=False)
class Solution:
    """Column values in formulation order (None unless a solution exists)."""

    status: SolveStatus
    values: np.ndarray | None = None
    objective: float | None = None

    @property
    def optimal(self) -> bool:
        return self.status is SolveStatus.OPTIMAL
