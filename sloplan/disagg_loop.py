"""A disaggregated deployment under a closed-loop benchmark: C clients, each sending its next request
when the last one finished, over a prefill pool and a decode pool.

What the sample's disaggregated rows mean (silicon_sample.csv, development split): `silicon_data_source`
carries `silicon_concurrency=C`, the benchmark's client count, and on every row that carries both,
C = decode_num_workers × decode_batch_size × decode_attention_dp_size. So decode_batch_size is the
framework's batch per attention-DP rank (each rank schedules its own requests), the decode pool is
sized to hold all C clients at once, and the prefill pool, usually far smaller, is where requests
queue. At C = 4 with one prefill worker the measured TTFT is a few hundred ms; at C = 8192 over the
same prefill worker it is tens of seconds — requests wait for their prompt's turn.

The model (one stated fixed point, no fitted constant):

* **Throughput.** A request cycles through prefill wait, prefill, KV hand-off and decode, so by
  Little's law C = X · (prefill_s + queue_s + kv_transfer_s + decode_s), X the completed requests/s.
  Every term but kv_transfer_s grows with X, so X is the unique root, found by bisection.
* **Prefill.** A worker's pass carries up to its largest batch of prompts (model/disagg_workers.py:
  largest_prefill_batch) and keeps the GPUs busy for `service_s`; a request's prefill is the pass's
  `latency_s` (the server's fixed per-request cost included). A worker takes every prompt that arrived
  during its last pass, b = X · service(b) / workers, so passes grow with load; the pool sustains
  X_p = workers · largest / service(largest). Its queueing is the solver's model
  (solver/disagg_tables.py): each worker an M/D/1 queue of whole passes at utilisation rho = X / X_p,
  mean wait rho · service / (2 (1 - rho)). A closed loop is not a Poisson source: an arriving request
  never meets itself, so (Schweitzer's approximation of the arrival theorem) it sees the queue of
  C - 1 clients, the open-queue wait scaled by (C - 1) / C — no wait for one client.
* **Decode.** Requests decoding on one worker, n = X · decode_s / workers (Little again), at most its
  slots (batch per rank × ranks, capped by its KV memory); decode_s = first step + (osl - 1) · TPOT(n),
  TPOT from the decode worker's step at n requests (interpolated between integer widths; one request
  never sees fewer than itself). n is itself a fixed point of X, solved the same way.
* **Saturated decode.** When even at the decode pool's full rate X_d the loop holds fewer than C
  requests, the rest wait for a free decode slot: X = X_d and the excess C / X_d minus the cycle is
  queueing, counted in TTFT (the first token streams from the decode worker).

* **Start-up wave.** A benchmark of a fixed number of requests per client (`requests_per_client`, k)
  starts all C clients at once: the first C requests meet an empty system together and queue at the
  prefill pool behind each other, every pass full (`startup_wait_s`, exact for passes of the largest
  batch taken in arrival order, the clients spread evenly over the workers). The steady state above
  holds for the other (k - 1) C requests, so the mean wait is ((k - 1) steady + wave) / k. None
  (the default): the steady state alone, what a server under a standing load sees.

TTFT = prefill_s + queue_s + kv_transfer_s + first_step_s; TPOT = TPOT(n).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sloplan.solver.disagg_tables import md1_wait_s

_ITERATIONS = 64  # bisection steps: below float resolution of any rate


@dataclass(frozen=True)
class Pools:
    """One disaggregated deployment as the closed loop needs it, SI units. The prefill curve is over the
    prompts one worker's pass may carry (1..its largest batch), the decode curve over one decode
    worker's widths (1..its slots)."""

    prefill_batch: np.ndarray  # int grid 1..largest batch of one prefill worker (all its ranks)
    prefill_latency_s: np.ndarray  # a request's prefill at each batch, the server's fixed TTFT cost included
    prefill_service_s: np.ndarray  # the worker's busy time for that batch (without the fixed cost)
    prefill_workers: int
    decode_concurrency: np.ndarray  # int grid 1..slots of one decode worker
    decode_tpot_s: np.ndarray  # step time at each width of the grid
    decode_first_step_s: np.ndarray
    decode_workers: int
    kv_transfer_s: float  # one request's hand-off
    osl: int

    @property
    def slots(self) -> int:
        return int(self.decode_concurrency[-1])

    @property
    def largest_batch(self) -> int:
        return int(self.prefill_batch[-1])

    @property
    def prefill_rate(self) -> float:
        """Requests/s the prefill pool sustains, every pass full."""
        return self.prefill_workers * self.largest_batch / float(self.prefill_service_s[-1])

    def _prefill(self, column: np.ndarray, b: float) -> float:
        return float(np.interp(max(b, 1.0), self.prefill_batch, column))

    def prefill_throughput(self, b: float) -> float:
        """Requests/s the prefill pool completes running passes of b prompts back to back."""
        return self.prefill_workers * max(b, 1.0) / self._prefill(self.prefill_service_s, b)

    def tpot_s(self, n: float) -> float:
        return float(np.interp(max(n, 1.0), self.decode_concurrency, self.decode_tpot_s))

    def first_step_s(self, n: float) -> float:
        return float(np.interp(max(n, 1.0), self.decode_concurrency, self.decode_first_step_s))

    def decode_s(self, n: float) -> float:
        """A request's whole stay on a decode worker running n requests."""
        return self.first_step_s(n) + (self.osl - 1) * self.tpot_s(n)

    def decode_rate(self, n: float) -> float:
        """Requests/s the decode pool completes with n requests on every worker."""
        return self.decode_workers * n / self.decode_s(n)


@dataclass(frozen=True)
class LoopPoint:
    """The steady state of one closed loop (mean values)."""

    clients: int
    requests_per_s: float
    prefill_s: float
    queue_s: float
    kv_transfer_s: float
    first_step_s: float
    tpot_s: float
    decode_concurrency: float  # mean requests decoding on one decode worker
    prefill_batch: float  # mean prompts per prefill pass
    prefill_utilisation: float
    decode_saturated: bool  # every decode slot busy: clients queue for one

    @property
    def ttft_s(self) -> float:
        return self.prefill_s + self.queue_s + self.kv_transfer_s + self.first_step_s


def _bisect(f, lo: float, hi: float) -> float:
    """The root of increasing f on [lo, hi] (f(lo) <= 0 <= f(hi) assumed; the nearer end otherwise)."""
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _fixed_point(grid: np.ndarray, time_s: np.ndarray, k: float) -> float:
    """The n with n = k · time_s(n), time_s piecewise linear on the integer `grid` (flat below its first
    point), n / time_s(n) increasing; the top of the grid when k is beyond it. Exact per segment."""
    ratio = grid / time_s
    if k >= ratio[-1]:
        return float(grid[-1])
    if k <= ratio[0]:
        return k * float(time_s[0])
    i = int(np.searchsorted(ratio, k))  # ratio[i - 1] < k <= ratio[i]
    n0, t0 = float(grid[i - 1]), float(time_s[i - 1])
    slope = (float(time_s[i]) - t0) / (float(grid[i]) - n0)
    return k * (t0 - slope * n0) / (1.0 - k * slope)


def decode_occupancy(pools: Pools, rate: float) -> float:
    """Requests per decode worker at `rate` requests/s: n = rate · decode_s(n) / workers, at most slots."""
    stay = pools.decode_first_step_s + (pools.osl - 1) * pools.decode_tpot_s
    return _fixed_point(pools.decode_concurrency, stay, rate / pools.decode_workers)


def prefill_batch_at(pools: Pools, rate: float) -> float:
    """Prompts per prefill pass at `rate`: the worker takes every prompt that arrived during its last
    pass, b = rate · service(b) / workers, at least 1 and at most its largest batch."""
    return max(1.0, _fixed_point(pools.prefill_batch, pools.prefill_service_s, rate / pools.prefill_workers))


def prefill_wait_s(pools: Pools, rate: float, clients: int) -> float:
    """Mean wait before a request's prefill pass starts (module docstring)."""
    rho = rate / pools.prefill_rate
    if rho >= 1:
        return float("inf")
    service = pools._prefill(pools.prefill_service_s, prefill_batch_at(pools, rate))
    return md1_wait_s(rho, service) * (clients - 1) / clients


def startup_wait_s(pools: Pools, clients: int) -> float:
    """Mean wait before its prefill of the first `clients` requests, all sent at once: each worker takes
    its share n in passes of its largest batch L, the q-th pass starting after q full passes."""
    n = clients / pools.prefill_workers
    largest, service = pools.largest_batch, float(pools.prefill_service_s[-1])
    full = math.ceil(n / largest) - 1  # passes before the last one
    waited = largest * service * full * (full - 1) / 2 + (n - full * largest) * full * service
    return waited / n


def prefill_s(pools: Pools, rate: float) -> float:
    return pools._prefill(pools.prefill_latency_s, prefill_batch_at(pools, rate))


def cycle_s(pools: Pools, rate: float, clients: int) -> float:
    """One request's mean time through the loop at throughput `rate`."""
    n = decode_occupancy(pools, rate)
    return prefill_s(pools, rate) + prefill_wait_s(pools, rate, clients) + pools.kv_transfer_s + pools.decode_s(n)


def closed_loop(pools: Pools, clients: int, requests_per_client: int | None = None) -> LoopPoint:
    """The steady state of `clients` closed-loop clients on `pools`, and with `requests_per_client` the
    mean over a benchmark of that many requests per client, its start-up wave included (module docstring)."""
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if requests_per_client is not None and requests_per_client < 1:
        raise ValueError(f"requests_per_client must be >= 1, got {requests_per_client}")
    top = min(pools.prefill_rate, pools.decode_rate(pools.slots))
    saturated = top < pools.prefill_rate and top * cycle_s(pools, top, clients) < clients
    rate = top if saturated else _bisect(lambda x: x * cycle_s(pools, x, clients) - clients, 0.0, top)
    n = decode_occupancy(pools, rate)
    wait = prefill_wait_s(pools, rate, clients)
    if requests_per_client is not None:  # the first of each client's requests meets the start-up wave
        wait += (startup_wait_s(pools, clients) - wait) / requests_per_client
    if saturated:  # the clients the loop cannot hold wait for a decode slot
        wait += clients / rate - cycle_s(pools, rate, clients)
    return LoopPoint(clients=clients, requests_per_s=rate, prefill_s=prefill_s(pools, rate), queue_s=wait,
                     kv_transfer_s=pools.kv_transfer_s, first_step_s=pools.first_step_s(n), tpot_s=pools.tpot_s(n),
                     decode_concurrency=n, prefill_batch=prefill_batch_at(pools, rate),
                     prefill_utilisation=rate / pools.prefill_rate, decode_saturated=saturated)
