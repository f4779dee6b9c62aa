"""The slack of a disaggregated plan: the largest s such that every service time (1 + s) times longer
still meets the SLOs, the prefill queueing recomputed at the utilisation that implies.

Why not ``limit / TTFT - 1`` as for replicas (solver/slack.py): a disaggregated TTFT holds an M/D/1
wait, and slower kernels lengthen it twice — the batch takes longer *and* the worker is busier
(utilisation ``sigma u`` at the same load, sigma = 1 + s). Scaling the TTFT by sigma would call a plan
on its utilisation cap robust when it is not. The definition here is the one the headroom tightening
(`DisaggInstance.service_scale`, solver/disagg_tables.py) enforces, so a plan planned with headroom h
has a slack of at least h, and the plans with slack >= X are exactly the plans of the instance
tightened by 1 + X (tests/test_slack_disagg.py checks both against an independent enumeration).

For a loaded prefill row p (utilisation u, batch latency l) and a used decode row d, with
``a = l + kv[p, d] + first_step_d`` (plus ``(osl - 1) tpot_d`` for the request-latency SLO), the scaled
time is ``g(sigma) = sigma (a + W(sigma u, l))``, ``W(r, l) = r l / (2 (1 - r))``: increasing on
``[0, 1 / u)`` from 0 to infinity, so ``g(sigma) = L`` has one root there. Clearing the denominator,

    u (l - 2 a) sigma^2 + 2 (a + L u) sigma - 2 L = 0,

whose root in that interval is ``sigma = 4 L / (B + sqrt(B^2 + 8 L A))`` with ``B = 2 (a + L u)`` and
``A = u (l - 2 a)`` (the stable form of the smaller positive root; ``L / a`` at u = 0). TPOT scales
linearly: ``sigma <= L / tpot``. The slack is the smallest root over the SLOs set and the pairs
used, minus 1; None without an SLO.

The result is rounded to 1e-9: a plan planned on its cap meets the tightened SLO with equality, and
the float arithmetic of the cap and of this root cannot separate such a plan's slack from h below
that (a slack is reported as a percentage).
"""
from __future__ import annotations

import math

from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance
from .slo import Slo

DIGITS = 9  # module docstring: the precision a slack is reported to


def scale_root(limit_s: float, fixed_s: float, latency_s: float, utilisation: float) -> float:
    """The sigma at which ``sigma (fixed_s + W(sigma u, latency_s))`` reaches `limit_s` (module docstring);
    0 when `fixed_s` alone breaks nothing can (limit <= 0)."""
    if limit_s <= 0:
        return 0.0
    b = 2.0 * (fixed_s + limit_s * utilisation)
    a = utilisation * (latency_s - 2.0 * fixed_s)
    return 4.0 * limit_s / (b + math.sqrt(max(b * b + 8.0 * limit_s * a, 0.0)))


def _pair_roots(inst: DisaggInstance, dep: DisaggDeployment, slo: Slo) -> list[float]:
    P, D = inst.prefill, inst.decode
    d_rows = [d for d, _ in dep.decode]
    out = []
    for (p, _), u in zip(dep.prefill, dep.prefill_utilisation):
        if u <= 0:
            continue  # an unloaded row serves nobody (as the deployment's TTFT ignores it)
        lat = float(P.latency_s[p])
        for d in d_rows:
            fixed = lat + float(inst.kv_pair_s[p, d]) + float(D.first_step_s[d])
            if slo.ttft_s is not None:
                out.append(scale_root(slo.ttft_s, fixed, lat, u))
            if slo.request_latency_s is not None:
                out.append(scale_root(slo.request_latency_s, fixed + (inst.osl - 1) * float(D.tpot_s[d]), lat, u))
    return out


def disagg_slack(slo: Slo, inst: DisaggInstance, dep: DisaggDeployment) -> float | None:
    """The plan's slack against the request's own `slo` (module docstring); `inst` gives its tables."""
    roots = _pair_roots(inst, dep, slo)
    if slo.tpot_s is not None:
        roots.append(slo.tpot_s / dep.tpot_s)
    return round(min(roots) - 1.0, DIGITS) if roots else None


def any_plan_slack(slo: Slo, plan, inst: DisaggInstance | None) -> float | None:
    """A Plan's slack, whichever mode: disaggregated plans by `disagg_slack` over `inst`, replica plans
    by solver/slack.py's ``limit / value - 1``."""
    if isinstance(plan.deployment, DisaggDeployment):
        return disagg_slack(slo, inst, plan.deployment)
    from .slack import plan_slack

    return plan_slack(slo, plan.metrics)
