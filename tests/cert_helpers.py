"""Shared helpers of the union-certificate tests: small random instances over static/agg rows and
disaggregated pools together, and brute force that reads the raw columns (never the certificate's
masks or pairs): solver/brute.py over replica vectors, solver/brute_disagg.py over every pair of
worker-count vectors."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sloplan.core.enums import ConstraintGroup, SloKind
from sloplan.solver.brute import brute_best
from sloplan.solver.brute_disagg import brute_disagg_best
from sloplan.solver.cert_disagg import DisaggCert
from sloplan.solver.cert_replica import CertInstance
from sloplan.solver.cert_union import UnionCert
from sloplan.solver.disagg_tables import take_rows
from sloplan.solver.slo import Slo
from sloplan.solver.synthetic import random_disagg, random_table

G = ConstraintGroup
ALL = frozenset({G.GPU_BUDGET, G.POOL_GPUS, G.MEMORY, G.QUANTIZATION, G.SLO_TTFT, G.SLO_TPOT, G.SLO_REQUEST_LATENCY})


def _limits(rng, values: dict[SloKind, np.ndarray], chance: float = 0.7) -> dict:
    out = {}
    for kind, col in values.items():
        if rng.random() < chance:
            out[kind.field] = float(np.quantile(col, rng.uniform(0.0, 0.9))) * rng.choice([0.999, 1.0])
    return out


def unloaded(inst) -> dict[SloKind, np.ndarray]:
    """Per SLO, the values a disaggregated pair reaches unloaded (for drawing limits near them)."""
    P, D = inst.prefill, inst.decode
    ttft = (P.latency_s[:, None] + inst.kv_pair_s + D.first_step_s[None, :]).ravel()
    lat = (P.latency_s[:, None] + inst.kv_pair_s + D.first_step_s[None, :] + (inst.osl - 1) * D.tpot_s[None, :])
    return {SloKind.TTFT: ttft, SloKind.TPOT: D.tpot_s, SloKind.REQUEST_LATENCY: lat.ravel()}


def synthetic_union(seed: int, replica_rows: int = 5, modes: tuple[str, ...] = ("replica", "disagg"),
                    mixed: bool = False, slo: dict | None = None, budget: int | None = None,
                    pool_limits: tuple | None = None) -> tuple[UnionCert, dict]:
    """A random union instance: a replica table and a disaggregated instance (two systems: heterogeneous
    pools, KV over the network between them), random format exclusions and one alternative format per
    side, random per-pool limits. `modes`: which sides the request asks for (the others are offered
    back as mode relaxations). Returns the instance and the raw inputs brute force reads."""
    rng = np.random.default_rng(seed)
    budget = int(rng.integers(2, 9)) if budget is None else budget
    if pool_limits is None:
        pool_limits = tuple(int(rng.choice([1, 2, 4])) if rng.random() < 0.4 else None for _ in range(2))
    table = random_table(replica_rows, seed, gpu_sizes=(1, 2, 4))
    dis = random_disagg(seed, prefill_rows=int(rng.integers(1, 4)), decode_rows=int(rng.integers(1, 4)),
                        total_gpus=budget, systems=("sysA", "sysB"), mixed_pools=mixed)
    if slo is None:
        values = {k: np.concatenate([getattr(table, k.field), v]) for k, v in unloaded(dis).items()}
        slo = _limits(rng, values)
    slo = Slo(**slo)
    dis = replace(dis, slo=slo, max_prefill_gpus=pool_limits[0], max_decode_gpus=pool_limits[1])
    memory = rng.random(replica_rows) < 0.2
    quant = rng.random(replica_rows) < 0.25
    alt = quant & (rng.random(replica_rows) < 0.6)
    domain = np.full(replica_rows, "replica" in modes)
    replica = CertInstance(table, budget, slo, {G.MEMORY: memory, G.QUANTIZATION: quant}, domain,
                           {"q8": ("quantization", alt)} | ({} if "replica" in modes else
                                                           {"agg": ("mode", np.ones(replica_rows, bool))}))
    qp, qd = rng.random(len(dis.prefill)) < 0.25, rng.random(len(dis.decode)) < 0.25
    ap, ad = qp & (rng.random(len(qp)) < 0.6), qd & (rng.random(len(qd)) < 0.6)
    disagg = DisaggCert(dis, {G.QUANTIZATION: (qp, qd)}, "disagg" in modes, {"q8": ("quantization", (ap, ad))})
    raw = {"memory": memory, "quant": quant, "alt": alt, "qp": qp, "qd": qd, "ap": ap, "ad": ad, "modes": modes,
           "limits": pool_limits}
    return UnionCert(replica, disagg), raw


def _replica_best(u: UnionCert, raw: dict, kept, slo: Slo, budget: int, lift: bool = False, extra=None):
    t = u.replica.table
    if "replica" not in raw["modes"] and extra is None:
        return None
    ok = np.ones(len(t), bool) if extra is not None else np.full(len(t), "replica" in raw["modes"])
    if G.MEMORY in kept:
        ok &= ~raw["memory"]
    if G.QUANTIZATION in kept:
        ok &= ~(raw["quant"] & ~(raw["alt"] if lift else np.zeros(len(t), bool)))
    for kind in SloKind:
        if kind.group in kept and slo.limit(kind) is not None:
            ok &= getattr(t, kind.field) <= slo.limit(kind)
    rows = np.flatnonzero(ok)
    cap = budget if G.GPU_BUDGET in kept else int(t.gpus.max())
    return brute_best(t.take(rows), cap, Slo()) if len(rows) else None


def _disagg_best(u: UnionCert, raw: dict, kept, slo: Slo, budget: int, limits, lift: bool = False,
                 anyway: bool = False):
    inst = u.disagg.instance
    if "disagg" not in raw["modes"] and not anyway:
        return None
    ok_p, ok_d = np.ones(len(inst.prefill), bool), np.ones(len(inst.decode), bool)
    if G.QUANTIZATION in kept:
        ok_p &= ~(raw["qp"] & ~(raw["ap"] & lift))
        ok_d &= ~(raw["qd"] & ~(raw["ad"] & lift))
    if not ok_p.any() or not ok_d.any():
        return None
    pre, dec = take_rows(inst.prefill, np.flatnonzero(ok_p)), take_rows(inst.decode, np.flatnonzero(ok_d))
    if G.MEMORY not in kept:
        dec = replace(dec, kv_capacity=np.maximum(dec.kv_capacity, dec.concurrency))
    held = Slo(**{k.field: slo.limit(k) if k.group in kept else None for k in SloKind})
    big = 2 * int(pre.gpus.max() + dec.gpus.max())
    sub = replace(inst, prefill=pre, decode=dec, slo=held, total_gpus=budget if G.GPU_BUDGET in kept else big,
                  max_prefill_gpus=limits[0] if G.POOL_GPUS in kept else None,
                  max_decode_gpus=limits[1] if G.POOL_GPUS in kept else None)
    return brute_disagg_best(sub)


def brute(u: UnionCert, raw: dict, kept=ALL, slo: Slo | None = None, budget: int | None = None,
          limits: tuple | None = None, lift: bool = False) -> tuple:
    """(best replica deployment or None, best disaggregated deployment or None) over the request's modes
    keeping exactly `kept`, at the SLOs / budget / per-pool limits given (default: the request's)."""
    slo = u.slo if slo is None else slo
    budget = u.total_gpus if budget is None else budget
    limits = raw["limits"] if limits is None else limits
    return (_replica_best(u, raw, kept, slo, budget, lift), _disagg_best(u, raw, kept, slo, budget, limits, lift))


def feasible(u: UnionCert, raw: dict, **kw) -> bool:
    return any(x is not None for x in brute(u, raw, **kw))


def best_tokens(u: UnionCert, raw: dict, **kw) -> float | None:
    found = [x.tokens_per_s for x in brute(u, raw, **kw) if x is not None]
    return max(found) if found else None


def assert_bounds_tight(u: UnionCert, raw) -> None:
    """Every bound `u` reports is tight against the raw-column brute force: the GPU bound is feasible and
    one GPU fewer is not; an SLO bound is feasible at its value and a hair above, not a hair below."""
    from sloplan.solver.cert_union import with_limit

    for b in u.bounds():
        if b.group is G.GPU_BUDGET:
            assert feasible(u, raw, budget=int(b.value))
            assert b.value == 1 or not feasible(u, raw, budget=int(b.value) - 1)
            continue
        kind = next(k for k in SloKind if k.group is b.group)
        assert feasible(u, raw, slo=with_limit(u.slo, kind, b.value))
        assert feasible(u, raw, slo=with_limit(u.slo, kind, b.value * (1 + 1e-9)))
        assert not feasible(u, raw, slo=with_limit(u.slo, kind, math.nextafter(b.value, -math.inf)))
