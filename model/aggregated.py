"""Aggregated serving: continuous batching with chunked prefill at a closed-loop concurrency.

Steady state, per pipeline micro-batch stream (pp streams share the stages, each holding 1/pp of
the running requests; a round of the pipeline moves at the pace of its slowest stream, see
`slowest_of`). Each step carries `d` decode requests and, on average, p = d·I/(O-1) prompt tokens
(C = token budget, I = new prompt tokens): every request needs I prefill tokens per O-1 decode
tokens. The mean step time — the TPOT — is priced piecewise-linearly in p: from a
decode-only step, to a *mixed* step with one prompt's chunk c = min(C - d, I), to a *full* step
that packs prompts up to the budget (frameworks prefill several short prompts in one step when
they arrive faster than one per step). A request's prefill spans ceil(I/c) steps, the last one
carrying only the remainder, plus half a step of waiting to be scheduled; that is its TTFT while
prefill keeps up. Little's law closes the loop: running requests B = λ·latency with
λ = d / ((O-1)·τ̄), which fixes d for a given B. When p reaches C - d prefill is the bottleneck
and extra requests wait in the prefill queue (TTFT grows by the wait). When clients keep more requests
in flight than the engine can run (KV capacity or max batch), the excess waits for a free slot:
client latency = concurrency / λ, and TTFT absorbs the difference — this is why measured TTFT at
high concurrency is often tens of seconds.

What the kernel tables cannot see comes from the Calibration the caller passes (model/calibration.py):
per-step framework overhead
(paid by every pipeline stage), prefill contention among clients that stay partly synchronized
(growing with the number of clients and with the share of step time prompts take), a TTFT
overhead, how much of the mixed steps the *reported* TPOT contains, and the output tokens/s one
server's frontend can stream (beyond it, clients wait like those beyond capacity).

Attention data parallelism (MoE engines, dp > 1): each of the dp ranks schedules its own requests with
its own token budget (peer §1.7: concurrency and throughput × dp), while the experts serve all ranks'
tokens at once (model/moe_ops.py). The closed loop is solved for one rank: clients spread evenly, so a
rank sees concurrency / dp clients and at most max_running / dp running requests (`max_running` is the
engine's, every rank's KV together); its step prices attention on the rank's tokens and the experts on
dp times them. The engine's throughput is dp times the rank's, its TTFT/TPOT the rank's. The frontend
limit belongs to the server, not the rank: the rank loop sees dp times the per-token frontend cost, so
the dp ranks together meet the server's one limit. dp = 1 is the dense path, unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sloplan.core.enums import Role
from sloplan.perfdb import PerfDB, SystemSpec

from .arch import ModelArch
from .calibration import Calibration
from .engine import Engine
from .framework import FrameworkProfile
from .ops import OpGroup, Priced, context_attention, generation_attention, linear_ops, price, weakest
from .pending import Pending, settle
from .speculative import accepted_tokens, draft_layer_scale
from .workload import ServingMetrics, Workload


@dataclass(frozen=True)
class StepCurves:
    """Kernel time of decode-only, mixed and full steps for d = 0..d_max decode requests (no framework overhead).

    A mixed step carries one prompt's chunk; a full step packs prompts up to the token budget
    (frameworks prefill several short prompts in one step when they arrive faster than one per step).
    """

    d: np.ndarray
    tau_dec_s: np.ndarray
    tau_mix_s: np.ndarray
    tau_full_s: np.ndarray
    chunk: np.ndarray  # prefill tokens a mixed step carries (one prompt, or its chunk)
    room: np.ndarray  # prefill tokens a full step carries (budget - d)
    tier: np.ndarray
    source: np.ndarray  # the ops.Op whose lookup set `tier`
    draft_tokens: int = 0  # MTP drafts each decode request carries per step (model/speculative.py)


@dataclass(frozen=True)
class StepGrid:
    """The steps `step_curves` prices for decode widths d = 0..d_max, as op groups still to be priced:
    the linear ops of the three step kinds (concatenated: one lookup per GEMM shape, not three),
    decode attention, and one prompt's prefill attention."""

    d: np.ndarray
    chunk: np.ndarray
    room: np.ndarray
    prompts: np.ndarray  # prompts a full step packs
    new_tokens: int
    groups: tuple[OpGroup, OpGroup, OpGroup]
    draft_tokens: int = 0
    layer_scale: float = 1.0  # a speculating step's drafter passes (model/speculative.py draft_layer_scale)

    def curves(self, priced: list[Priced]) -> StepCurves:
        """The step curves from the groups' prices (in the order of `groups`)."""
        lin, gen, req_attn = priced
        lin_dec, lin_mix, lin_full = lin.split(3)
        I, chunk, prompts = self.new_tokens, self.chunk, self.prompts
        dec = lin_dec + gen
        mix = lin_mix + gen + req_attn.scale(chunk / I)
        full = lin_full + gen + req_attn.scale(prompts * chunk / I)
        k = self.layer_scale
        return StepCurves(self.d, dec.latency_s * k, mix.latency_s * k, full.latency_s * k, chunk.astype(float),
                          self.room.astype(float), *weakest(dec, mix, full), draft_tokens=self.draft_tokens)


def step_grid(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
              d_max: int) -> StepGrid:
    """Every decode width's steps, to be priced once; the closed-loop solve then only interpolates.
    A speculating engine's decode requests carry 1 + draft_tokens tokens each (model/speculative.py)."""
    C, I, k = fw.token_budget, wl.new_tokens, fw.draft_tokens
    d = np.arange(0, d_max + 1)
    t = d * (1 + k)  # decode tokens of the step
    room = np.clip(C - t, 1, None)
    chunk = np.minimum(room, I)
    prompts = room / chunk
    lin = linear_ops(arch, engine, system, np.concatenate([np.maximum(t, 1), t + chunk, t + room]),
                     np.concatenate([np.maximum(t, 1), t + 1, t + np.ceil(prompts)]), fw.backend,
                     expert_group_tokens(engine, wl, d, chunk, room, 1 + k), fw.gemm_swaps,
                     decode=np.concatenate([np.ones(d.shape), np.zeros(d.shape), np.zeros(d.shape)]))
    gen = generation_attention(arch, engine, t, np.full(d.shape, wl.mean_decode_kv), fw.backend)
    req_attn = context_attention(arch, engine, np.array([1]), np.array([I]), np.array([wl.prefix]), fw.backend)
    return StepGrid(d, chunk, room, prompts, I, (lin, gen, req_attn), k, draft_layer_scale(arch.num_layers, k))


def prefilling_ranks(dp: int, share: np.ndarray) -> np.ndarray:
    """Expected attention-DP ranks carrying a prompt chunk in a step where at least one does, each rank
    independently with probability `share` (its share of steps with a chunk): dp·q / (1 - (1 - q)^dp),
    1 as q -> 0, dp at q = 1."""
    q = np.clip(share, 1e-12, 1.0)
    return dp * q / -np.expm1(dp * np.log1p(-np.minimum(q, 1 - 1e-16)))  # 1 - (1-q)^dp without cancellation


def expert_group_tokens(engine: Engine, wl: Workload, d: np.ndarray, chunk: np.ndarray,
                        room: np.ndarray, per_request: int = 1) -> np.ndarray | None:
    """Tokens the experts serve in the decode, mixed and full steps of one rank (concatenated as
    step_grid's linear ops), every rank carrying d decode requests of `per_request` tokens each (1 + the
    MTP drafts); None at dp = 1 (the rank's own).

    A mixed step is one where this rank carries a prompt chunk; the other ranks carry one in the same
    step only as often as their own share of steps with a chunk says (`prefilling_ranks`), not all of
    them (pricing dp chunks at the experts in every mixed step overcharged each rank's prefill by up to
    dp times at the experts). A full step packs the budget: every rank's."""
    if engine.dp == 1:
        return None
    dp = engine.dp
    share = d * wl.new_tokens / (wl.osl - 1) / chunk
    t = d * per_request
    mixed = t * dp + chunk * prefilling_ranks(dp, share)
    return np.concatenate([np.maximum(t, 1) * dp, mixed, (t + room) * dp]).astype(float)


def step_curves(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
                d_max: int) -> StepCurves:
    """Price every decode width once (see StepGrid)."""
    grid = step_grid(arch, engine, db.system, fw, wl, d_max)
    return grid.curves(price(db, list(grid.groups)))


def prefill_service(new_tokens: int, chunk: np.ndarray, tau_dec: np.ndarray, tau_mix: np.ndarray) -> np.ndarray:
    """Time for one prompt to pass through the mixed steps: ceil(I/c) steps, all full but the last,
    which carries only the remainder and so costs a decode step plus that fraction of the prefill
    increment. Pricing the last step as a full one doubled the prefill of a prompt just over the
    budget (8192 tokens next to a few decodes at an 8192-token budget)."""
    steps = np.ceil(new_tokens / chunk)
    return (steps - 1) * tau_mix + tau_dec + (tau_mix - tau_dec) * (new_tokens - (steps - 1) * chunk) / chunk


def mean_step(prefill_per_step: np.ndarray, curves: StepCurves, tau_dec: np.ndarray, tau_mix: np.ndarray,
              tau_full: np.ndarray) -> np.ndarray:
    """Mean step time when steps carry `prefill_per_step` prompt tokens on average: linear from a
    decode-only step to a one-prompt mixed step, then on to a budget-full step."""
    p = np.minimum(prefill_per_step, curves.room)
    first = tau_dec + (tau_mix - tau_dec) * np.minimum(p, curves.chunk) / curves.chunk
    extra = np.maximum(p - curves.chunk, 0) / np.maximum(curves.room - curves.chunk, 1)
    return first + (tau_full - tau_mix) * extra


def slowest_of(prompt_tokens: np.ndarray, chunk: np.ndarray, pp: int) -> np.ndarray:
    """Prompt tokens per step as the slowest of `pp` pipeline micro-batches carries them.

    Each micro-batch advances once per round of the pipeline, and a round moves at the pace of its
    slowest member (two stages with per-stage times a > b turn a round in 2a, not a + b). With a
    share q of steps carrying a prompt chunk, a round meets one with probability 1 - (1 - q)^pp,
    not q: the bubble of uneven micro-batches. Steps that already all carry prompts are unchanged."""
    q = np.minimum(prompt_tokens / chunk, 1.0)
    return np.where(q < 1, chunk * (1 - (1 - q) ** pp), prompt_tokens)


def closed_loop(curves: StepCurves, wl: Workload, pp: int, concurrency: np.ndarray, max_running: int,
                cal: Calibration, dp: int = 1) -> ServingMetrics:
    """Solve the steady state of the module docstring for each client concurrency.

    `dp` attention-DP ranks run their steps in lockstep (every MoE layer gathers all ranks' tokens, so
    no rank starts layer l+1 before the slowest finished layer l): a step is a mixed one when *any*
    rank carries a prompt chunk, as a pipeline round is (`slowest_of` over pp · dp streams)."""
    conc = np.asarray(concurrency, dtype=float)
    # a speculating engine's steps move each request on by `accepted` tokens (model/speculative.py): its
    # output after the first token takes O1 steps, each `accepted` tokens of TPOT
    accepted = accepted_tokens(curves.draft_tokens, cal.draft_accept_rate)
    O1, I, d = (wl.osl - 1) / accepted, wl.new_tokens, curves.d
    running = np.minimum(conc, max_running)
    # every pipeline stage is its own process with its own scheduling/launch overhead per step
    # and the scheduler/sampler also pays per request in the step (CPU-bound at large batch)
    tau_dec = curves.tau_dec_s * cal.kernel_scale + cal.step_overhead_s * pp + cal.request_overhead_s * d
    prefill_step_overhead = cal.step_overhead_s * pp + cal.request_overhead_s * (d + 1)
    tau_mix = curves.tau_mix_s * cal.kernel_scale + prefill_step_overhead
    tau_full = curves.tau_full_s * cal.kernel_scale + prefill_step_overhead
    prompt_tokens = d * I / O1  # prompt tokens an average step must carry to keep up
    # the steps' prompt work at the prefill's own scale where the constants say so (Calibration docstring)
    ps = cal.prefill_scale if cal.prefill_in_steps else 1.0
    tau_bar = mean_step(slowest_of(prompt_tokens, curves.chunk, pp * dp), curves, tau_dec,
                        tau_dec + ps * (tau_mix - tau_dec), tau_dec + ps * (tau_full - tau_dec))
    service = prefill_service(I, curves.chunk, tau_dec, tau_mix) * cal.prefill_scale
    ttft_run = service + 0.5 * tau_bar + cal.ttft_overhead_s + cal.dp_wait_s(tau_bar, dp)
    others = np.maximum(d + d * ttft_run / (O1 * tau_bar) - 1, 0)  # running requests besides this one
    # clients of a closed-loop benchmark stay partly synchronized: prompts of others arrive with this
    # one and go first, each costing its prefill at the packed (full-step) rate
    packed_prefill = (tau_full - tau_dec) * I / curves.room
    load = np.clip((tau_bar - tau_dec) / tau_bar, 1e-9, 1.0)  # share of step time spent on prompts
    ttft_run = ttft_run + cal.queue_coef * others ** cal.queue_exp * packed_prefill * load ** cal.queue_load_exp
    b_pred = np.maximum.accumulate(d + d * ttft_run / (O1 * tau_bar))
    prefill_bound = prompt_tokens >= curves.room  # prefill needs every step's whole budget
    sat = int(np.argmax(prefill_bound)) if prefill_bound.any() else len(d) - 1
    d_star = np.interp(running / pp, b_pred[: sat + 1], d[: sat + 1])
    tpot = np.interp(d_star, d, tau_bar)
    ttft = np.interp(d_star, d, ttft_run)
    lam = pp * np.where(d_star > 0, d_star / (O1 * tpot), 1.0 / (ttft + O1 * tpot))
    lam = frontend_limited(lam, wl.osl, cal)
    # prefill-bound streams and clients beyond capacity both wait: latency = concurrency / throughput
    latency = np.maximum(conc / lam, ttft + O1 * tpot)
    idx = np.clip(np.ceil(d_star).astype(int), 0, len(d) - 1)
    reported = cal.tpot_mixed_weight * tpot + (1 - cal.tpot_mixed_weight) * np.interp(d_star, d, tau_dec)
    return ServingMetrics(concurrency=conc.astype(int), running=running.astype(int), ttft_s=latency - O1 * tpot,
                          tpot_s=reported / accepted, tokens_per_s=lam * wl.osl, tier=curves.tier[idx],
                          source=curves.source[idx])


FRONTEND_KNEE = 4.0  # the p of the p-norm soft minimum; chosen on the dev split (2 to 8 tried)


def frontend_limited(rate: np.ndarray, tokens_per_item: float, cal: Calibration) -> np.ndarray:
    """`rate` (requests or steps per second, `tokens_per_item` output tokens each) as the server's
    frontend lets it through: a soft minimum with 1/frontend_s_per_token tokens/s. Near the knee
    both the engine and the frontend queue slow a closed loop down, so throughput bends towards the
    limit instead of meeting it at a corner (the dev rows fit a p-norm with p = 4 better than a hard
    minimum: 0.4 points of TTFT MAPE)."""
    if cal.frontend_s_per_token <= 0:
        return rate
    cap = 1.0 / (tokens_per_item * cal.frontend_s_per_token)
    return (rate ** -FRONTEND_KNEE + cap ** -FRONTEND_KNEE) ** (-1 / FRONTEND_KNEE)


def _d_cap(engine: Engine, fw: FrameworkProfile, concurrency: np.ndarray, max_running: int) -> int:
    """The widest decode step (per pipeline stream) these concurrencies can reach."""
    running = np.minimum(np.asarray(concurrency, dtype=float), max_running)
    return int(min(np.ceil(running.max() / engine.pp) + 1, fw.token_budget - 1))


def replica_curves(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
                   concurrency: np.ndarray, max_running: int) -> StepCurves:
    """Step curves wide enough for every decode width these concurrencies can reach."""
    return step_curves(arch, engine, db, fw, wl, _d_cap(engine, fw, concurrency, max_running))


def per_rank(engine: Engine, concurrency, max_running: int, cal: Calibration) -> tuple[np.ndarray, int, Calibration]:
    """What one attention-DP rank's closed loop sees (module docstring); the engine's own values at dp = 1."""
    if engine.dp == 1:
        return concurrency, max_running, cal
    dp = engine.dp
    return (np.asarray(concurrency, dtype=float) / dp, max(1, max_running // dp),
            replace(cal, frontend_s_per_token=cal.frontend_s_per_token * dp))


def whole_engine(m: ServingMetrics, engine: Engine, concurrency, max_running: int) -> ServingMetrics:
    """One rank's metrics as the engine's: dp ranks' throughput, the clients and running requests of all."""
    if engine.dp == 1:
        return m
    conc = np.asarray(concurrency).astype(int)
    running = np.minimum(conc, max(1, max_running // engine.dp) * engine.dp)
    return ServingMetrics(concurrency=conc, running=running, ttft_s=m.ttft_s, tpot_s=m.tpot_s,
                          tokens_per_s=m.tokens_per_s * engine.dp, tier=m.tier, source=m.source)


def aggregated_pending(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                       concurrency: np.ndarray, max_running: int, cal: Calibration) -> Pending:
    """`aggregated`, waiting for its lookups (model/pending.py)."""
    conc, running, rank_cal = per_rank(engine, concurrency, max_running, cal.for_engine(engine))
    grid = step_grid(arch, engine, system, fw, wl, _d_cap(engine, fw, conc, running))
    return Pending(grid.groups, lambda priced: whole_engine(
        closed_loop(grid.curves(priced), wl, engine.pp, conc, running, rank_cal, engine.dp), engine, concurrency,
        max_running))


def aggregated(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
               concurrency: np.ndarray, max_running: int, cal: Calibration) -> ServingMetrics:
    """TTFT, TPOT and output tokens/s of one replica at each closed-loop client concurrency."""
    return settle(db, [aggregated_pending(arch, engine, db.system, fw, wl, concurrency, max_running, cal)])[0]


def static_pending(arch: ModelArch, engine: Engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                   batch: np.ndarray, cal: Calibration, phase: Role | None = None, draft_tokens: int = 0) -> Pending:
    """`static`, waiting for its lookups (model/pending.py). With attention DP each rank runs its share of
    the batch (rounded up: the fullest rank sets the pace) and the experts all ranks' tokens. `phase`
    (Role.PREFILL or Role.DECODE): the tier and source come from that phase's lookups only — a
    disaggregated worker runs one phase (model/disagg_workers.py), and the other phase's shapes (a
    decode worker's batch prefilled together) are not what it runs; none: both, as static batching.
    `draft_tokens` k > 0: the decode steps speculate as step_grid's do (model/speculative.py): each
    request carries 1 + k tokens, the drafter's passes scale the step by (L + k) / L, and the TPOT is
    the step over the accepted tokens; the prefill is unchanged."""
    b, cal = np.asarray(batch, dtype=int), cal.for_engine(engine)
    rb = b if engine.dp == 1 else np.maximum(-(-b // engine.dp), 1)  # the fullest rank's requests
    mb = np.maximum(np.ceil(rb / engine.pp).astype(int), 1)  # pipeline micro-batch
    I, t = wl.new_tokens, mb * (1 + draft_tokens)  # t: the decode step's tokens
    groups = (linear_ops(arch, engine, system, np.concatenate([mb * I, t]), np.concatenate([mb, t]), fw.backend,
                         gemm_swaps=fw.gemm_swaps, decode=np.concatenate([np.zeros(mb.shape), np.ones(mb.shape)])),
              context_attention(arch, engine, mb, np.full(mb.shape, I), np.full(mb.shape, wl.prefix), fw.backend),
              generation_attention(arch, engine, t, np.full(mb.shape, wl.mean_decode_kv), fw.backend))
    _, _, rank_cal = per_rank(engine, b, 1, cal)
    spec = (draft_layer_scale(arch.num_layers, draft_tokens), accepted_tokens(draft_tokens, cal.draft_accept_rate))
    return Pending(groups, lambda priced: _whole_static(_static_metrics(engine, wl, rb, mb, rank_cal, *priced,
                                                                        phase=phase, speculation=spec), b, rb))


def _whole_static(m: ServingMetrics, b: np.ndarray, rb: np.ndarray) -> ServingMetrics:
    """The fullest rank's metrics as the engine's: all b requests finish when that rank's do."""
    if rb is b:
        return m
    return ServingMetrics(concurrency=b, running=b, ttft_s=m.ttft_s, tpot_s=m.tpot_s,
                          tokens_per_s=m.tokens_per_s * b / rb, tier=m.tier, source=m.source)


def _static_metrics(engine: Engine, wl: Workload, b: np.ndarray, mb: np.ndarray, cal: Calibration, lin: Priced,
                    ctx_attn: Priced, gen_attn: Priced, phase: Role | None = None,
                    speculation: tuple[float, float] = (1.0, 1.0)) -> ServingMetrics:
    """`speculation`: (the decode step's drafter scale, tokens accepted per step); (1, 1) without drafts."""
    lin_pre, lin_dec = lin.split(2)
    pre = lin_pre + ctx_attn
    dec = lin_dec + gen_attn
    O1 = wl.osl - 1
    per_step = cal.step_overhead_s * engine.pp + cal.request_overhead_s * mb
    ttft = pre.latency_s * cal.kernel_scale + per_step + cal.ttft_overhead_s
    # the batch's tokens (`accepted` per request and step) leave no faster than the server's frontend streams them
    layer_scale, accepted = speculation
    step = dec.latency_s * layer_scale * cal.kernel_scale + per_step
    tpot = b / frontend_limited(b * accepted / step, 1, cal)
    tokens = b * wl.osl / (ttft + O1 * tpot)
    tier, source = weakest(*{Role.PREFILL: (pre,), Role.DECODE: (dec,)}.get(phase, (pre, dec)))
    return ServingMetrics(concurrency=b, running=b, ttft_s=ttft, tpot_s=tpot, tokens_per_s=tokens, tier=tier,
                          source=source)


def static(arch: ModelArch, engine: Engine, db: PerfDB, fw: FrameworkProfile, wl: Workload,
           batch: np.ndarray, cal: Calibration) -> ServingMetrics:
    """Static batching: `batch` requests prefill together, then decode together to the end."""
    return settle(db, [static_pending(arch, engine, db.system, fw, wl, batch, cal)])[0]
