"""Kernel timing on the GPU: warm-up, then CUDA events over N iterations, median, in seconds.

Calls shorter than `graph_below_s` are captured `graph_reps` times in one CUDA graph and the graph replay is
timed: an eager launch costs a few µs of CPU, which would otherwise be measured as GPU time for small
kernels (the shipped tables' floor is ~3–5 µs). Long calls get fewer iterations so one case never takes more
than ~`max_case_s`. The policy (`plan_timing`) is a pure function; only `measure_s` touches torch.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 10
    iterations: int = 30
    graph_below_s: float = 200e-6
    graph_reps: int = 20
    max_case_s: float = 2.0

    def as_dict(self) -> dict:
        return {"warmup": self.warmup, "iterations": self.iterations, "graph_below_s": self.graph_below_s,
                "graph_reps": self.graph_reps, "max_case_s": self.max_case_s, "statistic": "median",
                "clock": "CUDA events"}


FULL_TIMING = TimingConfig()
QUICK_TIMING = TimingConfig(warmup=5, iterations=15, max_case_s=0.5)


@dataclass(frozen=True)
class TimingPlan:
    use_graph: bool
    reps: int           # calls per timed sample (graph replay) — 1 when eager
    iterations: int     # timed samples
    warmup: int


def plan_timing(first_call_s: float, cfg: TimingConfig, allow_graph: bool = True) -> TimingPlan:
    """How to time a call whose first (cold) run took `first_call_s`."""
    t = max(first_call_s, 1e-7)
    use_graph = allow_graph and t < cfg.graph_below_s
    reps = cfg.graph_reps if use_graph else 1
    iterations = max(3, min(cfg.iterations, int(cfg.max_case_s / (t * reps))))
    warmup = max(1, min(cfg.warmup, int(0.25 * cfg.max_case_s / t)))
    return TimingPlan(use_graph, reps, iterations, warmup)


def _graphed(torch, fn, reps: int):
    """Capture `reps` calls of fn in one CUDA graph; None when capture is not possible (then time eagerly)."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(reps):
                fn()
        graph.replay()
        torch.cuda.synchronize()
        return graph.replay
    except Exception:
        torch.cuda.synchronize()
        return None


def _elapsed_s(torch, fn, count: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(count):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e-3 / count


def fixed_plan(cfg: TimingConfig, payload_bytes: int) -> TimingPlan:
    """A plan that depends only on the case, not on a timing: every rank of a collective must make exactly
    the same number of calls, or NCCL deadlocks. Large messages get a third of the iterations (nccl-tests-like).
    """
    iterations = cfg.iterations if payload_bytes <= (16 << 20) else max(5, cfg.iterations // 3)
    return TimingPlan(False, 1, iterations, cfg.warmup)


def measure_s(fn, cfg: TimingConfig, allow_graph: bool = True, plan: TimingPlan | None = None) -> float:
    """Median latency of `fn()` on the current CUDA stream, in seconds.

    Without a given `plan`: one cold call sizes the warm-up, the warm-up's mean sizes the plan (so a first
    call slowed by library initialization does not pick the timing mode).
    """
    import torch

    if plan is None:
        cold = _elapsed_s(torch, fn, 1)
        warm = _elapsed_s(torch, fn, plan_timing(cold, cfg, allow_graph).warmup)
        plan = plan_timing(warm, cfg, allow_graph)
    else:
        _elapsed_s(torch, fn, plan.warmup)
    call, reps = fn, 1
    if plan.use_graph:
        replay = _graphed(torch, fn, plan.reps)
        if replay is not None:
            call, reps = replay, plan.reps
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(plan.iterations)]
    for start, end in events:
        start.record()
        call()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events) * 1e-3 / reps
