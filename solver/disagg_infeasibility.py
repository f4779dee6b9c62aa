"""Why no disaggregated plan meets the SLOs, in one line (the disaggregated side of infeasibility.py).

A plan's TPOT is its slowest decode row's, and its TTFT at least the unloaded prefill latency + KV
transfer + first decode step of a used pair, so a TPOT no decode row meets, or a TTFT budget no pair
leaves room in (`DisaggInstance.rho` is 0 for every pair of usable rows), is unreachable; the best
value a row or pair reaches is the bound.
"""
from __future__ import annotations

import numpy as np

from .disagg_tables import DisaggInstance


def disagg_infeasibility_reason(inst: DisaggInstance) -> str:
    slo, d = inst.slo, inst.decode
    if slo.tpot_s is not None and not inst.decode_tpot_ok.any():
        return (f"TPOT ≤ {slo.tpot_s * 1e3:g} ms is unreachable (best decode worker: "
                f"{float(d.tpot_s.min()) * 1e3:.1f} ms)")
    if not inst.decode_memory_ok.any():
        return "no decode worker's KV memory holds its concurrency"
    usable = inst.decode_allowed
    if not (inst.rho[:, usable] > 0).any():
        unloaded = (inst.prefill.latency_s[:, None] + inst.kv_pair_s + d.first_step_s[None, :])[:, usable]
        limit = min(x for x in (slo.ttft_s, slo.request_latency_s) if x is not None)
        return (f"TTFT ≤ {limit * 1e3:g} ms is unreachable by a disaggregated plan (best prefill + KV transfer + "
                f"first decode step: {float(np.min(unloaded)) * 1e3:.1f} ms)")
    return "no disaggregated plan within the GPU budgets meets all SLOs together"
