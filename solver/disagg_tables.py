"""The instance of disaggregated serving the solver is given, and the queueing model.

A disaggregated plan runs two pools: prefill workers (prompt in, KV cache out) and decode workers
(KV cache in, output tokens out). Their option tables (model/disagg_tables.py: one row per engine
and batch size / concurrency, priced per worker) and the KV link form a `DisaggInstance`; the solver
chooses integer worker counts over both tables at once (solver/problems/disagg.py).

Queueing model (stated here once, used by the MILP and the brute force through `DisaggInstance.rho`).
A prefill worker runs batches of `batch` prompts, each batch taking `latency_s`; it sustains
``mu = batch / latency_s`` requests/s. Requests reach it as a Poisson stream at utilisation
``rho = load / mu``. We treat a whole batch as one deterministic job and each worker as its own queue
(random routing), i.e. M/D/1 at the batch level, whose mean wait (Pollaczek-Khinchine) is

    W(rho) = rho * latency_s / (2 * (1 - rho)).

This is conservative for a pool of c workers behind one router: a shared M/D/c queue at the same
utilisation waits less than c separate M/D/1 queues, so the wait does not depend on the (integer)
worker count and the TTFT bound stays linear in it. A request's TTFT through prefill row p and
decode row d is

    TTFT(p, d) = latency_s[p] + W(rho_p) + kv_transfer_s[pool p, pool d] + first_step_s[d].

With a TTFT budget L (and, if set, the request-latency budget minus the decode time
``(osl - 1) * tpot_s[d]``), the wait may be ``w = L - latency_s[p] - kv - first_step_s[d]``; W is
increasing in rho, so W(rho) <= w exactly when ``rho <= rho_max(w) = 2 w / (latency_s[p] + 2 w)``
(0 when w < 0). That per-pair utilisation cap, capped further by `max_utilisation`, is `rho[p, d]`;
the MILP's TTFT rows are ``load_p <= rho[p, d] * mu_p * n_p`` whenever d is used — linear.

Headroom (solver/slack.py, solver/disagg_slack.py). Planning for kernels ``s = 1 + h`` times slower
scales every service time by s — prefill batch latency, KV transfer, first decode step, TPOT — at
the same load, so a prefill worker's utilisation becomes ``s rho`` and its wait
``W(s rho, s latency_s) = s W(s rho, latency_s)``. The scaled TTFT ``s (latency_s + kv + first_step_s
+ W(s rho, latency_s))`` meets L exactly when ``W(s rho, latency_s) <= L / s - latency_s - kv -
first_step_s``: the wait the SLO divided by s leaves, at the *scaled* utilisation. The instance is
given that divided SLO (`slo`) and s (`service_scale`), and its cap is ``rho_max(w) / s`` (queueing
is nonlinear in rho, so dividing the SLO alone would leave the scaled wait above its budget). Load
``s`` times higher scales the utilisation alike but not the service times, so its latencies are
covered too (the capacity for that load is what `sloplan size` adds by raising its target).
Without a TTFT or request-latency SLO there is no wait budget, and the cap is not divided.

KV transfer time is data, per (prefill pool, decode pool): bytes per request over the link between
them (NVLink within a node, the network between nodes or systems), computed by the caller.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sloplan.model.disagg_tables import DecodeTable, PrefillTable, take_rows  # noqa: F401  (re-exported)

from .slo import Slo

def md1_wait_s(rho: float, latency_s: float) -> float:
    """Mean M/D/1 wait at utilisation rho of a server whose (batch) service time is latency_s."""
    return 0.0 if rho <= 0 else rho * latency_s / (2.0 * (1.0 - rho))


def utilisation_cap(wait_s: np.ndarray, latency_s: np.ndarray) -> np.ndarray:
    """Largest rho with md1_wait_s(rho) <= wait_s: 2 w / (latency + 2 w), 0 where w < 0."""
    w = np.asarray(wait_s, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cap = np.where(w >= 0, 2.0 * w / (latency_s + 2.0 * w), 0.0)
    return np.where(np.isinf(w), 1.0, cap)


@dataclass(frozen=True, eq=False)
class DisaggInstance:
    """Everything the disaggregated problem is given: both tables, the KV link, the workload's output
    length, the budgets and the SLO. `gpus_by_class` limits GPUs per system (GPU class) where set."""

    prefill: PrefillTable
    decode: DecodeTable
    kv_transfer_s: np.ndarray  # float, shape (len(prefill.pools), len(decode.pools)): seconds per request
    osl: int  # output tokens per request
    total_gpus: int
    slo: Slo = field(default_factory=Slo)
    max_prefill_gpus: int | None = None
    max_decode_gpus: int | None = None
    gpus_by_class: Mapping[str, int] = field(default_factory=dict)
    mixed_pools: bool = False  # False: one engine type (table row) per pool
    max_utilisation: float = 0.9  # planned prefill utilisation never exceeds this, SLO or not
    service_scale: float = 1.0  # plan for service times this many times longer (headroom: module docstring)

    def __post_init__(self) -> None:
        kv = np.asarray(self.kv_transfer_s, dtype=float)
        if kv.shape != (len(self.prefill.pools), len(self.decode.pools)) or not np.all(kv >= 0):
            raise ValueError(f"kv_transfer_s must be >= 0 with shape "
                             f"{(len(self.prefill.pools), len(self.decode.pools))}, got {kv.shape}")
        object.__setattr__(self, "kv_transfer_s", kv)
        if int(self.total_gpus) != self.total_gpus or self.total_gpus < 1 or self.osl < 1:
            raise ValueError("total_gpus and osl must be positive integers")
        if not 0 < self.max_utilisation < 1:
            raise ValueError(f"max_utilisation must be in (0, 1), got {self.max_utilisation!r}")
        if not 1.0 <= self.service_scale < np.inf:
            raise ValueError(f"service_scale must be a finite number >= 1, got {self.service_scale!r}")
        unknown = set(self.gpus_by_class) - set(self.gpu_classes)
        if unknown:
            raise ValueError(f"gpus_by_class names systems no pool is on: {', '.join(sorted(unknown))}")

    @cached_property
    def gpu_classes(self) -> tuple[str, ...]:
        """Systems of the prefill pools, then of the decode pools, each once."""
        return tuple(dict.fromkeys(p.system for p in self.prefill.pools + self.decode.pools))

    def prefill_system(self, row: int) -> str:
        return self.prefill.pools[int(self.prefill.pool[row])].system

    def decode_system(self, row: int) -> str:
        return self.decode.pools[int(self.decode.pool[row])].system

    @cached_property
    def kv_pair_s(self) -> np.ndarray:
        """KV transfer seconds per (prefill row, decode row)."""
        return self.kv_transfer_s[np.ix_(self.prefill.pool, self.decode.pool)]

    @cached_property
    def rho(self) -> np.ndarray:
        """Planned-utilisation cap per (prefill row, decode row) (module docstring), at service times
        `service_scale` times longer: 0 for a pair that cannot meet the TTFT budget even unloaded."""
        p, d = self.prefill, self.decode
        budget = np.full(len(d), np.inf)
        if self.slo.ttft_s is not None:
            budget = np.minimum(budget, self.slo.ttft_s)
        if self.slo.request_latency_s is not None:
            budget = np.minimum(budget, self.slo.request_latency_s - (self.osl - 1) * d.tpot_s)
        wait = budget[None, :] - p.latency_s[:, None] - self.kv_pair_s - d.first_step_s[None, :]
        cap = utilisation_cap(wait, p.latency_s[:, None])
        if self.service_scale != 1.0:
            cap = np.where(np.isinf(wait), cap, cap / self.service_scale)
        return np.minimum(cap, self.max_utilisation)

    @cached_property
    def decode_allowed(self) -> np.ndarray:
        """Decode rows meeting the TPOT SLO and whose KV memory holds their concurrency."""
        return self.decode_tpot_ok & self.decode_memory_ok

    @cached_property
    def decode_tpot_ok(self) -> np.ndarray:
        limit = self.slo.tpot_s
        return np.ones(len(self.decode), bool) if limit is None else self.decode.tpot_s <= limit

    @cached_property
    def decode_memory_ok(self) -> np.ndarray:
        return self.decode.concurrency <= self.decode.kv_capacity

    def limit_for(self, role_gpus: int | None, system: str) -> int:
        """GPUs one role's workers on `system` may occupy at most: the tightest applicable limit."""
        out = self.total_gpus
        if role_gpus is not None:
            out = min(out, role_gpus)
        if system in self.gpus_by_class:
            out = min(out, int(self.gpus_by_class[system]))
        return out

    @cached_property
    def prefill_systems(self) -> np.ndarray:
        """System of each prefill row."""
        return np.array([p.system for p in self.prefill.pools], dtype=object)[self.prefill.pool]

    @cached_property
    def decode_systems(self) -> np.ndarray:
        return np.array([p.system for p in self.decode.pools], dtype=object)[self.decode.pool]

    def _caps(self, role_gpus: int | None, systems: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        lim = np.array([self.limit_for(role_gpus, s) for s in systems], dtype=np.int64)
        out = lim // gpus
        out.setflags(write=False)
        return out

    @cached_property
    def _prefill_cap(self) -> np.ndarray:
        return self._caps(self.max_prefill_gpus, self.prefill_systems, self.prefill.gpus)

    @cached_property
    def _decode_cap(self) -> np.ndarray:
        return self._caps(self.max_decode_gpus, self.decode_systems, self.decode.gpus)

    def prefill_cap(self) -> np.ndarray:
        """Most workers of each prefill row any plan can hold."""
        return self._prefill_cap

    def decode_cap(self) -> np.ndarray:
        return self._decode_cap
