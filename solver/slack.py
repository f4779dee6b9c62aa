"""Slack and robust SLOs: how far a plan's latencies may be underestimated before it breaks an SLO.

A plan's slack is ``min over the SLOs that are set of limit / value - 1``, where value is the plan's
TTFT, TPOT or request latency (each the maximum over its replica groups): if every latency of the plan
is really ``(1 + s)`` times its estimate, the plan still meets its SLOs exactly when ``s`` is at most
its slack. Without an SLO nothing can break: the slack is None (unbounded).

Headroom and a minimum slack are the same tightening: ``limit / (1 + x)`` on every SLO.

* ``headroom h`` plans for kernels ``(1 + h)`` slower: a latency scaled by ``(1 + h)`` meets ``limit``
  exactly when the unscaled one meets ``limit / (1 + h)``.
* ``min_slack X`` keeps only plans with slack ≥ X. Slack ≥ X means ``value ≤ limit / (1 + X)`` for
  every SLO; the plan's value is a maximum over its groups, so that holds exactly when *every option
  it uses* meets the tightened limit. The set of plans with slack ≥ X is therefore exactly the set of
  plans of the tightened SLO, and the exact front (and best plan) of that set is what the solver
  computes for the tightened SLO, nothing missed and nothing dominated. Filtering the untightened
  front afterwards would not be: a point dominated only by a fragile plan belongs to the robust front
  but was never on the untightened one.

Both at once tighten by the larger factor. The reported slack is always measured against the
request's own SLOs, so a plan planned with headroom h shows a slack of at least h.

Disaggregated plans (solver/disagg_slack.py) follow the same rule with one difference: their TTFT
holds an M/D/1 prefill wait, which slower kernels lengthen more than in proportion (the worker gets
busier too). "(1 + x) slower" there means every service time — prefill batch, KV transfer, first
decode step, TPOT — times (1 + x) at the same load, the wait recomputed at the utilisation that
implies; the tightening is the SLOs divided by (1 + x) *and* the prefill utilisation cap computed at
the scaled service times (`DisaggInstance.service_scale`), and the slack is the largest x that holds.
The set of plans with slack >= X is again exactly the plans of the tightened instance.
"""
from __future__ import annotations

from sloplan.core.enums import SloKind

from .slo import Slo


def tightening(headroom: float | None, min_slack: float | None) -> float:
    """The factor ``1 + max(h, X)`` every SLO limit is divided by (1 when neither is set)."""
    return 1.0 + max(headroom or 0.0, min_slack or 0.0)


def tightening_note(headroom: float | None, min_slack: float | None) -> str:
    """What an infeasibility reason adds when the SLOs it names were tightened ('' when they were not)."""
    factor = tightening(headroom, min_slack)
    return "" if factor == 1.0 else f" (the SLOs divided by {factor:g} for headroom / min_slack)"


def robust_slo(slo: Slo, headroom: float | None = None, min_slack: float | None = None) -> Slo:
    """`slo` with every limit divided by `tightening(headroom, min_slack)`; the same object when 1."""
    factor = tightening(headroom, min_slack)
    if factor == 1.0:
        return slo

    def tight(limit: float | None) -> float | None:
        return None if limit is None else limit / factor

    return Slo(ttft_s=tight(slo.ttft_s), tpot_s=tight(slo.tpot_s), request_latency_s=tight(slo.request_latency_s))


def slack(slo: Slo, ttft_s: float, tpot_s: float, request_latency_s: float) -> float | None:
    """``min(limit / value) - 1`` over the SLOs that are set; None when none is."""
    values = {SloKind.TTFT: ttft_s, SloKind.TPOT: tpot_s, SloKind.REQUEST_LATENCY: request_latency_s}
    ratios = [slo.limit(k) / values[k] for k in SloKind if slo.limit(k) is not None]
    return min(ratios) - 1.0 if ratios else None


def plan_slack(slo: Slo, metrics) -> float | None:
    """The slack of a Plan's metrics (or a Deployment: anything with ttft_s, tpot_s, request_latency_s)."""
    return slack(slo, metrics.ttft_s, metrics.tpot_s, metrics.request_latency_s)
