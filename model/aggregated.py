"""Aggregated serving: continuous batching with chunked prefill at a closed-loop concurrency.

Steady state, per pipeline micro-batch stream (pp streams share the stages, each holding 1/pp of
the running requests). Each step carries `d` decode requests; a *mixed* step also carries a
prefill chunk of `c = min(C - d, I)` tokens (C = token budget, I = new prompt tokens). Flow
balance gives the share of mixed steps, f = d·I / ((O-1)·c): every request needs I prefill tokens
per O-1 decode tokens. The mean step time τ̄ = f·τ_mix + (1-f)·τ_dec is the TPOT. A request's
prefill spans ceil(I/c) mixed steps plus half a step of waiting to be scheduled; that is its TTFT
while prefill keeps up. Little's law closes the loop: running requests B = λ·latency with
λ = d / ((O-1)·τ̄), which fixes d for a given B. When f reaches 1 prefill is the bottleneck and
extra requests wait in the prefill queue (TTFT grows by the wait). When clients keep more requests
in flight than the engine can run (KV capacity or max batch), the excess waits for a free slot:
client latency = concurrency / λ, and TTFT absorbs the difference — this is why measured TTFT at
high concurrency is often tens of seconds.
"""
from __future__ import annotations

import numpy as np

from sloplan.perfdb import PerfDB

from .arch import ModelArch
from .calibration import calibration
from .engine import Engine
from .framework import FrameworkProfile
from .ops import Priced, context_attention, generation_attention, linear_ops
from .workload import ServingMetrics, Workload


def step_curves(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
                d_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode-only and mixed step times for d = 0..d_max decode requests; also chunk size and tier."""
    cal = calibration(fw.backend)
    C, I = fw.token_budget, wl.new_tokens
    d = np.arange(0, d_max + 1)
    chunk = np.clip(np.minimum(C - d, I), 1, None)
    gen = generation_attention(arch, engine, db, d, np.full(d.shape, wl.mean_decode_kv))
    dec = linear_ops(arch, engine, db, np.maximum(d, 1), np.maximum(d, 1)) + gen
    req_attn = context_attention(arch, engine, db, np.array([1]), np.array([I]), np.array([wl.prefix]))
    mix = linear_ops(arch, engine, db, d + chunk, d + 1) + gen + Priced(
        req_attn.latency_s * chunk / I, np.broadcast_to(req_attn.tier, d.shape))
    tau_dec = dec.latency_s * cal.kernel_scale + cal.step_overhead_s
    tau_mix = mix.latency_s * cal.kernel_scale + cal.step_overhead_s
    return tau_dec, tau_mix, chunk.astype(float), np.maximum(dec.tier, mix.tier), d


def aggregated(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
               concurrency: np.ndarray, max_running: int) -> ServingMetrics:
    """TTFT, TPOT and output tokens/s of one replica at each closed-loop client concurrency."""
    conc = np.asarray(concurrency, dtype=float)
    pp, O1, I = engine.pp, wl.osl - 1, wl.new_tokens
    running = np.minimum(conc, max_running)
    per_stream = running / pp
    d_cap = int(min(np.ceil(per_stream.max()) + 1, fw.token_budget - 1))
    tau_dec, tau_mix, chunk, tier, d = step_curves(arch, engine, db, fw, wl, d_cap)
    mixed_share = np.minimum(1.0, d * I / (O1 * chunk))
    tau_bar = mixed_share * tau_mix + (1 - mixed_share) * tau_dec
    ttft_run = np.ceil(I / chunk) * tau_mix + 0.5 * tau_bar
    ttft_run = ttft_run * calibration(fw.backend).ttft_scale
    b_pred = np.maximum.accumulate(d + d * ttft_run / (O1 * tau_bar))
    sat = int(np.argmax(mixed_share >= 1.0)) if (mixed_share >= 1.0).any() else len(d) - 1
    d_star = np.interp(per_stream, b_pred[: sat + 1], d[: sat + 1])
    tpot = np.interp(d_star, d, tau_bar)
    ttft = np.interp(d_star, d, ttft_run)
    lam = np.where(d_star > 0, d_star / (O1 * tpot), 1.0 / (np.interp(d_star, d, ttft_run) + O1 * tpot))
    lam_replica = lam * pp
    # prefill-bound streams and clients beyond capacity both wait: latency = concurrency / throughput
    latency = np.maximum(conc / lam_replica, ttft + O1 * tpot)
    ttft = latency - O1 * tpot
    idx = np.clip(np.ceil(d_star).astype(int), 0, len(d) - 1)
    return ServingMetrics(concurrency=conc.astype(int), running=running.astype(int), ttft_s=ttft, tpot_s=tpot,
                          tokens_per_s=lam_replica * wl.osl, tier=tier[idx])


def static(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
           batch: np.ndarray) -> ServingMetrics:
    """Static batching: `batch` requests prefill together, then decode together to the end."""
    cal = calibration(fw.backend)
    b = np.asarray(batch, dtype=int)
    mb = np.maximum(np.ceil(b / engine.pp).astype(int), 1)  # pipeline micro-batch
    I, O1 = wl.new_tokens, wl.osl - 1
    pre = linear_ops(arch, engine, db, mb * I, mb) + context_attention(arch, engine, db, mb, np.full(mb.shape, I),
                                                                       np.full(mb.shape, wl.prefix))
    dec = linear_ops(arch, engine, db, mb, mb) + generation_attention(arch, engine, db, mb,
                                                                      np.full(mb.shape, wl.mean_decode_kv))
    ttft = pre.latency_s * cal.kernel_scale + cal.step_overhead_s
    tpot = dec.latency_s * cal.kernel_scale + cal.step_overhead_s
    tokens = b * wl.osl / (ttft + O1 * tpot)
    return ServingMetrics(concurrency=b, running=b, ttft_s=ttft, tpot_s=tpot, tokens_per_s=tokens,
                          tier=np.maximum(pre.tier, dec.tier))
