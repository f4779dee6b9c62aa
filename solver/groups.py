"""ConstraintGroup: the closed set of named constraint groups a formulation may use.

A group is the unit an explainer relaxes and a driver re-bounds ("lower the GPU budget", "drop the
TTFT rows"), so its name is a fact shared by the problems that build rows, the drivers that change
them and the certificate code that reports them: one enum instead of string constants in each.
A new kind of row (a disaggregated pool's rate balance, a memory row) is a new member here.
"""
from __future__ import annotations

from sloplan.core.enums import ConstraintGroup

__all__ = ["ConstraintGroup"]
