"""A benchmark run over a disaggregated deployment, simulated event by event: how a *benchmark row*
is measured, not the steady state the solver plans for (solver/disagg_tables.py; sloplan/disagg_loop.py
is its closed-loop mean).

The protocol is the one that measured the sample's disaggregated rows: InferenceMAX / InferenceX runs
them through srt-slurm's sa-bench (`benchmark_serving.py --dataset-name random --random-range-ratio
0.8 --num-prompts $((CONC * 10)) --max-concurrency $CONC --request-rate inf --ignore-eos`; the ratio is
the multi-node workflow's RANDOM_RANGE_RATIO; the warm-up of 2 CONC prompts is a separate run that has
finished before the timed one starts). So:

* all `requests_per_client` x C requests are queued at t = 0 behind a semaphore of C: the first C go
  out together, and each completion sends the next one, in order;
* request i's input and output lengths are drawn uniform on the integers [int(ratio L), L]
  (benchmark_serving.py's sample_random_requests), with a fixed seed; ignore_eos makes every request
  generate exactly its drawn output;
* the reported TTFT and TPOT are means over the requests (InferenceX's core metrics: mean_ttft,
  mean_tpot), TPOT per request = (latency - TTFT) / (output - 1).

The deployment is the priced `Pools` (sloplan/disagg_loop.py), unchanged:

* **Prefill.** One queue in arrival order; a free prefill worker takes the prompts waiting, as many as
  its token budget holds (its largest batch of isl-token prompts, in tokens), at least one. A pass of
  prompts totalling T tokens is priced on the worker's curve at T / isl prompts (linear between grid
  points, the first segment's slope below one prompt): it keeps the worker busy for `service` and hands
  each prompt on after its `latency` (the server's fixed cost included), then the KV transfer.
* **Decode.** Each decode worker runs its requests step-synchronously: with n requests every step
  takes tpot(n) and advances each by one token, so a request leaves after its output's steps at
  whatever widths the worker ran meanwhile (a step clock per worker, exact between events). A
  received request goes to the least-loaded worker with a free slot, or waits for one in order; its
  first token comes first_step(n) after it joins (attention-DP admission included), and it counts
  first_step / tpot steps of the clock.

TTFT = the wait for a prefill pass (and for a decode slot) + the pass's latency + KV transfer + first
step; the result is a LoopPoint of run means, so its parts sum to the mean TTFT.

A probe, not what `estimate --from-csv` predicts: over the same priced pools it does not beat the
closed loop on the development split's disaggregated rows, refitted or not (bench/disagg_sim_probe.py
has the figures), so sloplan/estimate_rows_disagg.py keeps the closed loop's run mean.
"""
from __future__ import annotations

import heapq
from collections import deque
from enum import Enum

import numpy as np

from sloplan.disagg_loop import LoopPoint, Pools

RANGE_RATIO = 0.8  # InferenceX benchmark-multinode-tmpl.yml: RANDOM_RANGE_RATIO
SEED = 0  # benchmark_serving.py's default --seed
_DECODE, _FREE, _DONE = 1, 2, 3


class Routing(str, Enum):
    """How the router spreads requests over a pool's workers."""

    SHARED = "shared"  # one queue: a free worker (or slot) takes the oldest request, least-loaded first
    ROUND_ROBIN = "round-robin"  # request i goes to worker i mod workers at its arrival, and queues there


def lengths(n: int, length: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """n lengths uniform on the integers [int(ratio * length), length] (at least 1)."""
    return rng.integers(max(int(length * ratio), 1), max(length, 1) + 1, size=n)


def _curve(column: np.ndarray):
    """Pass time at b prompts (b > 0 real) on an integer grid 1..L: linear between points, the first
    segment extended below one prompt (proportional when the grid has one point)."""
    col = [float(v) for v in column]
    top = len(col)
    slope0 = col[1] - col[0] if top > 1 else col[0]

    def at(b: float) -> float:
        if b <= 1.0:
            return max(col[0] + (b - 1.0) * slope0, 1e-12)
        j = min(int(b), top - 1)
        return col[j - 1] + (b - j) * (col[j] - col[j - 1])
    return at


class _Run:
    """The mutable state of one simulated run (module docstring)."""

    def __init__(self, pools: Pools, clients: int, total: int, isl_share: np.ndarray, out: np.ndarray,
                 routing: tuple[Routing, Routing]):
        self.p, self.total, self.out = pools, total, out.tolist()
        self.rr_prefill, self.rr_decode = (r is Routing.ROUND_ROBIN for r in routing)
        self.share = isl_share.tolist()
        self.service, self.latency = _curve(pools.prefill_service_s), _curve(pools.prefill_latency_s)
        self.tpot = [float(v) for v in pools.decode_tpot_s]
        self.first = [float(v) for v in pools.decode_first_step_s]
        self.events: list = []
        self.seq = 0
        self.queues = [deque() for _ in range(pools.prefill_workers if self.rr_prefill else 1)]
        self.free = list(range(pools.prefill_workers))
        w = pools.decode_workers
        self.waiting = [deque() for _ in range(w if self.rr_decode else 1)]  # received, no decode slot yet
        self.clock, self.since, self.running = [0.0] * w, [0.0] * w, [0] * w
        self.version, self.leaving = [0] * w, [[] for _ in range(w)]
        self.sent = [0.0] * total
        self.started, self.handed, self.joined = [0.0] * total, [0.0] * total, [0.0] * total
        self.first_token, self.done, self.pass_latency = [0.0] * total, [0.0] * total, [0.0] * total
        self.passes, self.busy_s, self.next = 0, 0.0, clients

    def push(self, t: float, kind: int, data) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, data))

    def send(self, i: int, t: float) -> None:
        self.sent[i] = t
        self.queues[i % len(self.queues)].append(i)

    def start_passes(self, t: float) -> None:
        if self.rr_prefill:
            idle, self.free = self.free, []
            for worker in idle:
                if self.queues[worker]:
                    self.start_pass(t, worker, self.queues[worker])
                else:
                    self.free.append(worker)
            return
        while self.free and self.queues[0]:
            self.start_pass(t, self.free.pop(), self.queues[0])

    def start_pass(self, t: float, worker: int, queue: deque) -> None:
        """One pass of `worker` over the oldest prompts of `queue` its token budget holds."""
        budget, took, tokens = float(self.p.largest_batch), [], 0.0
        while queue and (not took or tokens + self.share[queue[0]] <= budget + 1e-9):
            i = queue.popleft()
            took.append(i)
            tokens += self.share[i]
        busy, latency = self.service(tokens), self.latency(tokens)
        self.passes += 1
        self.busy_s += busy
        for i in took:
            self.started[i], self.pass_latency[i] = t, latency
        self.push(t + busy, _FREE, worker)
        self.push(t + latency + self.p.kv_transfer_s, _DECODE, took)

    def advance(self, w: int, t: float) -> None:
        if self.running[w]:
            self.clock[w] += (t - self.since[w]) / self.tpot[self.running[w] - 1]
        self.since[w] = t

    def reschedule(self, w: int) -> None:
        self.version[w] += 1
        if self.leaving[w]:
            steps = self.leaving[w][0][0] - self.clock[w]
            self.push(self.since[w] + max(steps, 0.0) * self.tpot[self.running[w] - 1], _DONE, (w, self.version[w]))

    def admit(self, t: float) -> None:
        """Received requests into free decode slots: each worker from its own queue (round robin), or
        the oldest request into the least-loaded worker."""
        slots, touched = self.p.slots, set()
        if self.rr_decode:
            for w, queue in enumerate(self.waiting):
                while queue and self.running[w] < slots:
                    self.join(t, w, queue.popleft())
                    touched.add(w)
        else:
            queue = self.waiting[0]
            while queue:
                w = min(range(len(self.running)), key=self.running.__getitem__)
                if self.running[w] >= slots:
                    break
                self.join(t, w, queue.popleft())
                touched.add(w)
        for w in touched:
            self.reschedule(w)

    def join(self, t: float, w: int, i: int) -> None:
        self.advance(w, t)
        self.running[w] += 1
        n = self.running[w]
        self.joined[i], self.first_token[i] = t, t + self.first[n - 1]
        target = self.clock[w] + self.first[n - 1] / self.tpot[n - 1] + self.out[i] - 1
        heapq.heappush(self.leaving[w], (target, i))

    def finish(self, t: float, w: int) -> None:
        self.advance(w, t)
        leaving = self.leaving[w]
        while leaving and leaving[0][0] <= self.clock[w] + 1e-9:
            _, i = heapq.heappop(leaving)
            self.running[w] -= 1
            self.done[i] = t
            if self.next < self.total:  # the semaphore's next waiter goes out
                self.send(self.next, t)
                self.next += 1
        self.reschedule(w)

    def run(self) -> float:
        for i in range(self.next):
            self.send(i, 0.0)
        self.start_passes(0.0)
        t = 0.0
        while self.events:
            t, _, kind, data = heapq.heappop(self.events)
            if kind == _FREE:
                self.free.append(data)
            elif kind == _DECODE:
                self.handed_off(t, data)
            elif data[1] == self.version[data[0]]:
                self.finish(t, data[0])
            if not self.events or self.events[0][0] > t:  # every event of this instant is in
                if any(self.waiting):
                    self.admit(t)
                if self.free and any(self.queues):
                    self.start_passes(t)
        return t

    def handed_off(self, t: float, took: list) -> None:
        for i in took:
            self.handed[i] = t
            self.waiting[i % len(self.waiting)].append(i)


def simulate(pools: Pools, clients: int, requests_per_client: int, isl: int, ratio: float = RANGE_RATIO,
             seed: int = SEED, routing: tuple[Routing, Routing] = (Routing.SHARED, Routing.SHARED)) -> LoopPoint:
    """The run means of one benchmark of `requests_per_client` requests for each of `clients` clients
    (module docstring); `isl` is the length the prefill curve was priced at."""
    if clients < 1 or requests_per_client < 1 or isl < 1:
        raise ValueError(f"clients, requests_per_client and isl must be >= 1, got {clients}, "
                         f"{requests_per_client}, {isl}")
    total = clients * requests_per_client
    rng = np.random.default_rng(seed)
    share = lengths(total, isl, ratio, rng) / isl
    out = lengths(total, pools.osl, ratio, rng)
    run = _Run(pools, clients, total, share, out, routing)
    return _summary(run, run.run(), clients, out)


def _summary(run: _Run, end_s: float, clients: int, out: np.ndarray) -> LoopPoint:
    sent, started, handed = np.array(run.sent), np.array(run.started), np.array(run.handed)
    joined, first, done = np.array(run.joined), np.array(run.first_token), np.array(run.done)
    latency = np.array(run.pass_latency)
    wait = (started - sent) + (joined - handed)
    long = out > 1
    tpot = (done[long] - first[long]) / (out[long] - 1) if long.any() else np.array([run.tpot[0]])
    p = run.p
    return LoopPoint(clients=clients, requests_per_s=run.total / end_s, prefill_s=float(latency.mean()),
                     queue_s=float(wait.mean()), kv_transfer_s=p.kv_transfer_s,
                     first_step_s=float((first - joined).mean()), tpot_s=float(tpot.mean()),
                     decode_concurrency=float((done - joined).sum() / (end_s * p.decode_workers)),
                     prefill_batch=run.total / run.passes,
                     prefill_utilisation=run.busy_s / (end_s * p.prefill_workers),
                     decode_saturated=bool((joined - handed).max() > 0))
