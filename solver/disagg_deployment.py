"""DisaggDeployment: integer worker counts of a disaggregated plan, with the metrics they imply.

The one definition of a disaggregated plan's metrics, used by the MILP path and the brute force alike
(as `Deployment.from_counts` is for aggregated plans), so "equal" means the same for both. Given the
counts n_p (prefill rows P used) and n_d (decode rows D used):

* each used prefill row runs at most at ``rho*_p = min over d in D of rho[p, d]`` (the TTFT cap of its
  worst used pair, disagg_tables.py); the prefill pool sustains ``C_P = sum rho*_p mu_p n_p``;
* the decode pool sustains ``C_D = sum mu_d n_d``;
* the served rate is ``r = min(C_P, C_D)`` — as an exact Fraction of the tables' floats, so two plans
  whose rates are mathematically equal compare equal, whatever order their terms come in;
* tokens/s = osl * r (its exact Fraction is kept); tokens/s/GPU = osl * r / N over the request's GPU
  budget N, the convention of every mode (idle budget GPUs are paid for); G, the GPUs of both pools,
  is `gpus_used`;
* the router loads each prefill row in proportion to its capacity, so row p runs at
  ``rho*_p * r / C_P``; TTFT is the worst used, loaded pair's latency + M/D/1 wait + KV transfer +
  first decode step; TPOT the slowest decode row's; tokens/s/user its inverse.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .disagg_tables import DisaggInstance, md1_wait_s
from .slo import Slo, SloKind


def _items(counts: Mapping[int, int]) -> tuple[tuple[int, int], ...]:
    out = tuple(sorted((int(r), int(c)) for r, c in counts.items() if int(c) > 0))
    if any(c < 0 for c in counts.values()):
        raise ValueError("worker counts must be >= 0")
    return out


@dataclass(frozen=True)
class DisaggDeployment:
    """Worker counts of both pools and their exact metrics (see module docstring)."""

    prefill: tuple[tuple[int, int], ...]  # (prefill row, workers), rows ascending
    decode: tuple[tuple[int, int], ...]  # (decode row, workers)
    rate_exact: Fraction  # requests/s served
    tokens_exact: Fraction  # output tokens/s served (osl * rate), exactly
    requests_per_s: float
    tokens_per_s: float
    gpus_used: int
    total_gpus: int
    prefill_gpus: int
    decode_gpus: int
    tokens_per_s_per_gpu: float  # over the GPU budget (total_gpus), as in every mode
    tokens_per_s_per_user: float
    ttft_s: float
    tpot_s: float
    request_latency_s: float
    prefill_utilisation: tuple[float, ...]  # planned utilisation per prefill group, in `prefill` order
    # the worst pair's TTFT in its parts (seconds): prefill batch, M/D/1 queueing, KV transfer, first step
    ttft_parts_s: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def replicas(self) -> tuple[tuple[int, int], ...]:
        """Decode groups as (row, count): what serves the output tokens (for callers of `Deployment`)."""
        return self.decode

    @property
    def key(self) -> tuple:
        """The lexicographic order of best plans (larger is better): most tokens/s, then fewest GPUs
        used, then the highest tokens/s/user — the aggregated planner's order (solver/best.py)."""
        return (self.tokens_exact, -self.gpus_used, self.tokens_per_s_per_user)

    @staticmethod
    def from_counts(inst: DisaggInstance, prefill: Mapping[int, int], decode: Mapping[int, int]
                    ) -> "DisaggDeployment":
        p_items, d_items = _items(prefill), _items(decode)
        if not p_items or not d_items:
            raise ValueError("a disaggregated plan needs at least one prefill and one decode worker")
        P, D = inst.prefill, inst.decode
        d_rows = [r for r, _ in d_items]
        rho_star = [float(np.min(inst.rho[p, d_rows])) for p, _ in p_items]
        cap_p = [Fraction(rs) * Fraction(float(P.requests_per_s[p])) * n for rs, (p, n) in zip(rho_star, p_items)]
        total_p = sum(cap_p, Fraction(0))
        total_d = sum((Fraction(float(D.requests_per_s[d])) * n for d, n in d_items), Fraction(0))
        rate = min(total_p, total_d)
        g_p = sum(int(P.gpus[p]) * n for p, n in p_items)
        g_d = sum(int(D.gpus[d]) * n for d, n in d_items)
        tokens = rate * inst.osl
        share = rate / total_p if total_p > 0 else Fraction(0)
        util = tuple(float(Fraction(rs) * share) for rs in rho_star)
        tpot = float(np.max(D.tpot_s[d_rows]))
        parts = _ttft_parts(inst, p_items, d_rows, util)
        ttft = sum(parts)
        return DisaggDeployment(
            prefill=p_items, decode=d_items, rate_exact=rate, tokens_exact=tokens, requests_per_s=float(rate),
            tokens_per_s=float(tokens), gpus_used=g_p + g_d, total_gpus=inst.total_gpus,
            prefill_gpus=g_p, decode_gpus=g_d, tokens_per_s_per_gpu=float(tokens / inst.total_gpus),
            tokens_per_s_per_user=float(np.min(D.tokens_per_s_per_user[d_rows])), ttft_s=ttft, tpot_s=tpot,
            request_latency_s=ttft + (inst.osl - 1) * tpot, prefill_utilisation=util, ttft_parts_s=parts)

    def meets(self, slo: Slo) -> bool:
        """True when every SLO that is set holds (as `Deployment.meets`, so a Plan's deployment of
        either kind answers the same question)."""
        return all(slo.limit(k) is None or getattr(self, k.field) <= slo.limit(k) for k in SloKind)

    def counts(self, inst: DisaggInstance) -> tuple[np.ndarray, np.ndarray]:
        """Dense worker-count vectors over the prefill and the decode table."""
        p, d = np.zeros(len(inst.prefill), np.int64), np.zeros(len(inst.decode), np.int64)
        for r, c in self.prefill:
            p[r] = c
        for r, c in self.decode:
            d[r] = c
        return p, d


def _ttft_parts(inst: DisaggInstance, p_items, d_rows, util) -> tuple[float, float, float, float]:
    """The worst TTFT over used pairs whose prefill row carries load (an unloaded row serves nobody),
    as (prefill, queueing, KV transfer, first decode step) seconds."""
    P, D = inst.prefill, inst.decode
    worst, parts = -1.0, (0.0, 0.0, 0.0, 0.0)
    for (p, _), u in zip(p_items, util):
        if u <= 0:
            continue
        lat = float(P.latency_s[p])
        wait = md1_wait_s(u, lat)
        for d in d_rows:
            kv, first = float(inst.kv_pair_s[p, d]), float(D.first_step_s[d])
            total = lat + wait + kv + first
            if total > worst:
                worst, parts = total, (lat, wait, kv, first)
    return parts
