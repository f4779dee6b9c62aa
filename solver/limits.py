"""A wall-clock budget shared by the solves of one request, and the honest outcome of a limited run.

Why a deadline rather than a per-solve limit: `--time-limit S` promises the user S seconds of
optimization, while a best plan is up to a handful of MIP solves (the lexicographic levels) and a
front is one per ε-step. Every solve gets the time that is left (at least MIN_SLICE_S, so a solve
that starts can find an incumbent; the whole may overrun S by that much). Without a limit the
deadline hands out `EXACT` and nothing changes.

`Outcome` says how far an answer is proved: OPTIMAL (gap 0, the default path), INFEASIBLE, or the
limit that stopped it (TIME_LIMIT) with the relative gap of the first objective (tokens/s) and a
line saying which part is unproved. A limited answer is never presented as optimal.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .backends.base import EXACT, SolveOptions, SolveStatus

MIN_SLICE_S = 0.01


@dataclass(frozen=True)
class Deadline:
    """`end` on `time.perf_counter`'s clock, or None for no limit."""

    end: float | None = None

    @staticmethod
    def after(seconds: float | None) -> "Deadline":
        return Deadline(None if seconds is None else time.perf_counter() + float(seconds))

    @property
    def limited(self) -> bool:
        return self.end is not None

    def expired(self) -> bool:
        return self.end is not None and time.perf_counter() >= self.end

    def options(self) -> SolveOptions:
        """Options for the next solve: EXACT without a limit, else the time left (≥ MIN_SLICE_S)."""
        if self.end is None:
            return EXACT
        return SolveOptions(time_limit_s=max(self.end - time.perf_counter(), MIN_SLICE_S))


NO_LIMIT = Deadline()


@dataclass(frozen=True)
class Outcome:
    """How far a driver's answer is proved. `gap`: relative gap of tokens/s (0 proved, inf: no incumbent)."""

    status: SolveStatus
    gap: float = 0.0
    detail: str = ""

    @property
    def proved(self) -> bool:
        return self.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE)

    def to_dict(self) -> dict:
        """JSON form: status value, gap (None when there is no incumbent), detail."""
        return {"status": self.status.value, "gap": self.gap if math.isfinite(self.gap) else None,
                "detail": self.detail}


PROVED = Outcome(SolveStatus.OPTIMAL)
