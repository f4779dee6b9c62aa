"""A sizing answer inverted into typed Plans: its replicas (problems/replica.py's `replica_plan`), its
disaggregated pool pair (disagg.py's `disagg_plan`) and the whole fleet.

Why three: each part is verified and launched by its own mode's machinery (the replicas' commands,
the pool pair's launch bundle), while the fleet's figures are what the sizing promises. Each part's
tokens/s/GPU is over its own GPUs (sizing buys no idle GPU); the fleet's over all of them. The fleet
serves the sum of the parts' rates; its latencies are the worst part's, its user speed the slowest's.
"""
from __future__ import annotations

from dataclasses import replace

from .deployment import Deployment
from .disagg import disagg_plan
from .disagg_deployment import DisaggDeployment
from .disagg_tables import DisaggInstance
from .plan import Plan, PlanMetrics
from .problems.replica import replica_plan
from .problems.sizing import Sizing


def sized_plan(table, disagg: DisaggInstance | None, best: Sizing):
    """The SizePlan of `best` (solver/size.py)."""
    from .size import SizePlan

    parts, rep, pool, inst = [], None, None, None
    if best.replicas:
        rep_gpus = sum(int(table.gpus[r]) * c for r, c in best.replicas)
        rep = replica_plan(table, Deployment.from_counts(table, dict(best.replicas), rep_gpus))
        parts.append(rep)
    if best.pair is not None:
        p, d, k, m = best.pair
        gpus = int(disagg.prefill.gpus[p]) * k + int(disagg.decode.gpus[d]) * m
        inst = replace(disagg, total_gpus=gpus)
        pool = disagg_plan(inst, DisaggDeployment.from_counts(inst, {p: k}, {d: m}))
        parts.append(pool)
    return SizePlan(best, parts[0] if len(parts) == 1 else _fleet(parts, best.gpus), rep, pool, inst)


def _fleet(parts: list[Plan], gpus: int) -> Plan:
    """One Plan of several parts (module docstring)."""
    ms = [p.metrics for p in parts]
    tokens = sum(m.tokens_per_s for m in ms)
    metrics = PlanMetrics(tokens_per_s=tokens, tokens_per_s_per_gpu=tokens / gpus,
                          tokens_per_s_per_user=min(m.tokens_per_s_per_user for m in ms),
                          requests_per_s=sum(m.requests_per_s for m in ms), ttft_s=max(m.ttft_s for m in ms),
                          tpot_s=max(m.tpot_s for m in ms), request_latency_s=max(m.request_latency_s for m in ms),
                          gpus_used=gpus, total_gpus=gpus)
    weakest = max(parts, key=lambda p: p.tier)
    classes: dict[str, int] = {}
    for p in parts:
        for c, n in p.gpus_by_class:
            classes[c] = classes.get(c, 0) + n
    return Plan(groups=tuple(g for p in parts for g in p.groups), metrics=metrics, tier=weakest.tier,
                tier_source=weakest.tier_source, gpus_by_class=tuple(classes.items()),
                deployment=parts[0].deployment)
