"""ConstraintGroup: the closed set of named constraint groups a formulation may use.

A group is the unit an explainer relaxes and a driver re-bounds ("lower the GPU budget", "drop the
TTFT rows"), so its name is a fact shared by the problems that build rows, the drivers that change
them and the certificate code that reports them: one enum instead of string constants in each.
A new kind of row (a disaggregated pool's rate balance, a memory row) is a new member here.
"""
from __future__ import annotations

from enum import Enum


class ConstraintGroup(str, Enum):
    """Named groups of constraint rows; the value is also the default name of the group's block."""

    GPU_BUDGET = "gpu_budget"  # sum of GPUs used <= N
    MIN_REPLICAS = "min_replicas"  # at least one replica
    SLO_TTFT = "slo_ttft"  # options breaking the TTFT limit are not used
    SLO_TPOT = "slo_tpot"
    SLO_REQUEST_LATENCY = "slo_request_latency"
    USER_SPEED_FLOOR = "user_speed_floor"  # the Pareto tracer's epsilon row per option
    THROUGHPUT_FLOOR = "throughput_floor"  # served tokens/s >= T (lexicographic tie-breaks)
