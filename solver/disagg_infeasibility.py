"""Why no disaggregated plan meets the SLOs, in one line (the disaggregated side of infeasibility.py).

The best value it names for an SLO is the certificate's tight bound of that SLO (solver/cert_disagg.py
`DisaggCert.slo_bound`), computed over the same pairs: the least value a (prefill row, decode row)
pair reaches while every other group holds — the GPU budget (one worker of each), the per-pool
limits, the decode KV memory and the other SLOs. So `sloplan solve`'s first line and the
certificate's bound are one quantity with one definition (a disaggregated TTFT bound: the pair's
unloaded prefill + KV transfer + first decode step, at the float where its utilisation cap turns
positive), rendered by the same `best_ms_text`. When the other groups already exclude every pair, no
SLO bound exists and the line says which non-SLO group leaves nothing.
"""
from __future__ import annotations

from sloplan.core.enums import SloKind

from .cert_disagg import DisaggCert
from .disagg_tables import DisaggInstance
from .infeasibility import SLO_LABEL, best_ms_text


def disagg_infeasibility_reason(inst: DisaggInstance) -> str:
    cert = DisaggCert(inst)
    parts = []
    for kind in SloKind:
        limit = inst.slo.limit(kind)
        bound = None if limit is None else cert.slo_bound(kind, cert.groups)
        if bound is not None and bound.value > limit:
            parts.append(f"{SLO_LABEL[kind]} ≤ {limit * 1e3:g} ms is unreachable by a disaggregated plan: best "
                         f"{best_ms_text(bound.value)} ms while the rest holds")
    if parts:
        return "; ".join(parts)
    if not inst.decode_memory_ok.any():
        return "no decode worker's KV memory holds its concurrency"
    return "no disaggregated plan within the GPU budgets meets all SLOs together"
