"""Why no deployment meets the SLOs, in one line: the SLOs no option reaches, with the best value one does.

A deployment's TTFT/TPOT/request latency is the maximum over the options it uses, so an SLO that no
single option meets is unreachable by any deployment, and the best option's value is the bound. When
each SLO is reachable alone but no option meets them all, that is said instead. This is the first line
of an infeasible result; the certificate under it (minimal conflicting groups, tight bounds,
relaxations) is solver/certificate.py's and sloplan/prove.py's.
"""
from __future__ import annotations

from sloplan.model.option_table import OptionTable

from .slo import Slo, SloKind

SLO_LABEL = {  # one word per SLO, as the one-line reasons name them
    SloKind.TTFT: "TTFT", SloKind.TPOT: "TPOT", SloKind.REQUEST_LATENCY: "request latency"}


def best_ms_text(value_s: float) -> str:
    """A bound in milliseconds as the one-line reasons and the certificate's summary print it: whole
    milliseconds from 100 ms up, three significant digits below (never in exponent notation)."""
    ms = value_s * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def infeasibility_reason(table: OptionTable, slo: Slo) -> str:
    """One line naming each unreachable SLO with the best value any option reaches (milliseconds)."""
    parts = []
    for kind in SloKind:
        limit, best = slo.limit(kind), float(getattr(table, kind.field).min())
        if limit is not None and best > limit:
            parts.append(f"{SLO_LABEL[kind]} ≤ {limit * 1e3:g} ms is unreachable (best option: {best * 1e3:.1f} ms)")
    return "; ".join(parts) or "no single option meets all SLOs together (each is reachable alone)"
