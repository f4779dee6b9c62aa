"""Per-worker estimators of disaggregated serving: a prefill worker, a decode worker, the KV hand-off.

In disaggregated serving a prefill worker runs prompts only (batches of `batch` prompts, each batch
one forward pass over all their tokens) and hands each request's KV cache to a decode worker, which
runs decode steps only, `concurrency` requests at a time. Neither worker mixes phases, so both are
priced by the same step model as static batching (model/aggregated.py: a prefill of `batch` prompts
together, a decode step of `concurrency` requests at the mean KV length) with the framework's
aggregated calibration, unchanged: kernel scale, per-step and per-request overheads and the frontend's
streaming limit are one fact each, read from calibration.yaml for every mode. So at equal engines a
decode worker is never faster than the aggregated engine's decode-only steps. What is specific to
each pool lives here:

* a prefill batch's `latency_s` is a request's TTFT share before queueing and the hand-off; the
  worker is busy for `service_s`, that latency less the calibration's fixed per-request TTFT cost
  (`ttft_overhead_s`: the server's request handling, which delays the first token but occupies no
  GPU time and overlaps the next batch), so it sustains ``batch / service_s`` prompts/s. A pass packs
  more prompts than the kernel tables measured shapes for (packed GEMM rows beyond the collected
  m-range): it is priced from the widest passes whose lookups stay within the tables' reach (tier at
  most extrapolated), linearly in prompts beyond them, and tagged extrapolated, not roofline
  (`packed_beyond_tables`);
* a prefill worker's expert all-to-all (TRT-LLM with attention DP on an NVLink rack, the only
  pattern priced from the all-to-all tables) runs DeepEP's normal, high-throughput kernels: it runs
  prefill passes only, thousands of tokens per rank, beyond what the low-latency kernels are built
  and measured for (at most 256 tokens per rank in the tables; the normal kernels to 64k). The
  serving engines keep the low-latency lane, the decode workers too (`normal_kernels`; the peer
  likewise keys its all-to-all backend by phase, context or generation). Priced on the low-latency
  lane, an 8k-token pass per rank was a roofline lookup at twice the measured normal kernel, and
  four saturated TRT-LLM GB200/GB300 rows predicted +5x to +14x TTFT; the development split's disaggregated
  TTFT MAPE went from 69.7 % to 52.1 % (bench/calibrate_disagg.py, 53.1 % 5-fold CV; 48.3 % / 49.3 %
  with the benchmark's start-up wave, sloplan/disagg_loop.py);
* a decode worker generates all `osl` tokens of a request from the received cache (the prompt's
  last token is re-run there, as vLLM's and SGLang's connectors do), so it completes
  ``concurrency / (osl * tpot_s)`` requests/s, and its first step is the TTFT's last part. Its
  tokens leave through its own serving process (each decode worker is a full server behind the
  router), so the aggregated frontend limit applies to it as to an aggregated replica. One reading
  differs, for attention DP only: the aggregated estimator gives the dp ranks of one server a
  single limit (model/aggregated.py: per_rank), which the sample's disaggregated decode workers
  contradict — SGLang workers at dp 8 to 32 stream 20k to 85k tokens/s, up to 5x that limit (TPOT
  MAPE 472 % on those 44 development rows with one limit per server, 70 % with one per rank, 67 %
  with none). A decode worker's ranks therefore each get the limit (`decode_calibration`);
* a decode worker with attention DP admits a received request as an aggregated attention-DP engine
  admits a prompt: it waits the calibration's dp_wait_steps decode steps before its first step
  (model/calibration.py: Calibration.dp_wait_s, the one definition). Why is not settled: TRT-LLM's
  attention-DP balancing (PyExecutor._balance_adp_requests, with attention_dp_config.enable_balance,
  off by default and unset in the rows' srt-slurm recipes) holds context requests only, and a
  decode-only server receives generation-init requests, so it is not the cause there; the wait is
  what the rows measure (and what the aggregated rows fit), its mechanism unconfirmed. On the development split's
  disaggregated rows it moves TTFT MAPE on TRT-LLM attention-DP decode workers from 54 % to 11 % on
  b200 and their median error from -82 % / -83 % to +35 % / -41 % on gb200 / gb300, and overshoots on
  h200 (160 steps: 42 % to 73 %); all rows 71.8 % to 69.7 % (bench/calibrate_disagg.py). Dense engines
  (dp 1) and SGLang's (dp_wait_steps 0) are unchanged;
* a decode worker launched with MTP speculation (TRT-LLM speculative_config on the generation
  server) runs the aggregated engine's speculating step (model/speculative.py): 1 + k tokens per
  request, the drafter's passes, the TPOT the step over the accepted tokens at the aggregated
  calibration's draft_accept_rate (the same engine, model and benchmark prompts). The context server
  of such a recipe also runs its MTP layer over the prompt; that pass is not priced (one layer of the
  model's L: about 1/L of the prefill);
* the hand-off moves the whole model's cache for the prompt (every layer, MLA's compressed latent
  where the model has one, linear-attention state) over the link between the two workers.

The disaggregated constants (model/disagg_calibration.py) are on the TTFT side, per framework: the
router's and KV handshake's fixed cost before the first token, and a prefill worker's busy-time scale,
at least 1 (never faster than the same engine's static prefill).

The solver's queueing model and the TTFT composition are solver/disagg_tables.py's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sloplan.core.enums import Role
from sloplan.perfdb import SystemSpec, Tier
from sloplan.perfdb.queries import HIGH_THROUGHPUT, LOW_LATENCY, MoeA2a, NvlinkA2a, NvlinkOp

from .aggregated import static_pending
from .arch import ModelArch
from .attention import LayerAttention
from .calibration import Calibration
from .disagg_calibration import DisaggCorrection
from .disagg_calibration import correction as fitted
from .framework import FrameworkProfile
from .kv_cache import layer_kv
from .ops import Term
from .pending import Pending
from .quant import KvDtype
from .speculative import accepted_tokens
from .workload import ServingMetrics, Workload


@dataclass(frozen=True)
class PrefillMetrics:
    """One prefill worker at each batch size (arrays of one length)."""

    batch: np.ndarray  # prompts per forward pass
    latency_s: np.ndarray  # one batch's prefill, first token included: a request's TTFT part before the hand-off
    service_s: np.ndarray  # the worker's busy time for that batch: latency_s less the server's fixed TTFT cost
    requests_per_s: np.ndarray  # batch / service_s
    tier: np.ndarray
    source: np.ndarray


@dataclass(frozen=True)
class DecodeMetrics:
    """One decode worker at each concurrency (arrays of one length)."""

    concurrency: np.ndarray  # requests decoding together
    tpot_s: np.ndarray  # one decode step at that width, the frontend's streaming limit included
    first_step_s: np.ndarray  # the step that emits a request's first token here, attention-DP admission wait included
    requests_per_s: np.ndarray  # concurrency / (osl * tpot_s)
    tier: np.ndarray
    source: np.ndarray


def prefill_pending(arch: ModelArch, engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                    batch: np.ndarray, cal: Calibration, correction: DisaggCorrection | None = None) -> Pending:
    """A prefill worker's metrics at each batch size, waiting for its lookups (model/pending.py).
    `correction`: the fitted disaggregated correction (model/disagg_calibration.py; default: the
    catalog's for this framework and system)."""
    b, cal = np.asarray(batch, dtype=int), cal.for_engine(engine)
    fix = correction or fitted(fw.backend, system.name)

    def finish(m: ServingMetrics) -> PrefillMetrics:
        kernel, tier, source = packed_beyond_tables(b, np.maximum(m.ttft_s - cal.ttft_overhead_s, 1e-9), m.tier,
                                                    m.source)
        service = kernel * fix.prefill_scale
        latency = service + cal.ttft_overhead_s + fix.ttft_overhead_s
        return PrefillMetrics(batch=b, latency_s=latency, service_s=service, requests_per_s=b / service,
                              tier=tier, source=source)
    return _then(normal_kernels(static_pending(arch, engine, system, fw, wl, b, cal, Role.PREFILL)), finish)


def normal_kernels(p: Pending) -> Pending:
    """`p` with its expert all-to-all on DeepEP's normal (high-throughput) kernels instead of the
    low-latency ones, and its NVLink combine on the standard (BF16) kernel: a prefill worker runs prefill
    passes only (module docstring)."""
    def swapped(term: Term) -> Term:
        q = term.query
        if isinstance(q, NvlinkA2a) and q.op is NvlinkOp.COMBINE_LOW_PRECISION:
            return replace(term, query=q.replace(op=NvlinkOp.COMBINE))
        if not isinstance(q, MoeA2a) or q.kernel != LOW_LATENCY:
            return term
        return replace(term, query=q.replace(kernel=HIGH_THROUGHPUT))
    groups = tuple(replace(g, terms=tuple(swapped(t) for t in g.terms)) for g in p.groups)
    return Pending(groups, p.finish)


def packed_beyond_tables(batch: np.ndarray, busy_s: np.ndarray, tier: np.ndarray,
                         source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Passes of more prompts than the tables reach, priced from the widest ones they do reach.

    A pass is within reach when its lookups are at most EXTRAPOLATED (perfdb/grid.py: at most two
    octaves beyond a measured shape). Every larger batch in `batch` (ascending) costs the widest
    reachable pass plus, per extra prompt, the marginal cost between it and the widest cheaper reachable
    pass (prefill is compute-bound there: linear in tokens, each prompt's attention its own), or that
    pass scaled by its prompts when no reachable pass is cheaper; it takes that pass's tier (at least EXTRAPOLATED)
    and source. Batches are unchanged when the first is already roofline or none is."""
    reach = tier <= Tier.EXTRAPOLATED
    if not reach[0] or reach.all():
        return busy_s, tier, source
    k = int(np.argmin(reach)) - 1  # the last batch of the leading run within reach
    cheaper = np.flatnonzero(busy_s[:k] < busy_s[k])  # with attention DP busy time steps every dp prompts
    j = int(cheaper[-1]) if len(cheaper) else None
    per_prompt = busy_s[k] / batch[k] if j is None else (busy_s[k] - busy_s[j]) / (batch[k] - batch[j])
    beyond = np.arange(len(batch)) > k
    scaled = busy_s[k] + per_prompt * (batch - batch[k])
    return (np.where(beyond, scaled, busy_s), np.where(beyond, max(int(tier[k]), int(Tier.EXTRAPOLATED)), tier),
            np.where(beyond, source[k], source))


def decode_calibration(cal: Calibration, dp: int) -> Calibration:
    """The aggregated calibration as a decode worker of `dp` attention-DP ranks sees it: unchanged at
    dp 1; with attention DP each rank streams up to the frontend limit (module docstring), so the
    per-token cost passed on is the server's over dp (static_pending gives each rank dp times what it
    is passed, model/aggregated.py: per_rank)."""
    if dp <= 1 or cal.frontend_s_per_token <= 0:
        return cal
    return replace(cal, frontend_s_per_token=cal.frontend_s_per_token / dp)


def decode_pending(arch: ModelArch, engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                   concurrency: np.ndarray, cal: Calibration, draft_tokens: int = 0) -> Pending:
    """A decode worker's metrics at each concurrency, waiting for its lookups: the aggregated step and
    frontend model, no disaggregated constant (module docstring). `draft_tokens` k > 0: the worker
    speculates with the checkpoint's MTP layers (model/speculative.py, as an aggregated engine does, at
    the aggregated calibration's draft_accept_rate): each step verifies 1 + k tokens per request and
    drafts k more, its TPOT the step over the accepted tokens; the first step is a whole step."""
    c, cal = np.asarray(concurrency, dtype=int), cal.for_engine(engine)
    accepted = accepted_tokens(draft_tokens, cal.draft_accept_rate)

    def finish(m: ServingMetrics) -> DecodeMetrics:
        step = m.tpot_s * accepted
        first = step + cal.dp_wait_s(step, engine.dp)  # attention-DP admission (module docstring)
        return DecodeMetrics(concurrency=c, tpot_s=m.tpot_s, first_step_s=first,
                             requests_per_s=c / (wl.osl * m.tpot_s), tier=m.tier, source=m.source)
    return _then(static_pending(arch, engine, system, fw, wl, c, decode_calibration(cal, engine.dp), Role.DECODE,
                                draft_tokens), finish)


def largest_prefill_batch(engine, fw: FrameworkProfile, wl: Workload, batch: int) -> int:
    """Most prompts one prefill worker's pass carries: `batch` per attention-DP rank or, when more
    prompts of `wl.new_tokens` fit the framework's token budget, as many as fit. The sample's rows say
    prefill_batch_size 1 almost everywhere, yet their throughput needs more prompts per pass than one
    per rank; packing to the budget was the better of the two readings on the development split
    (uncorrected TTFT MAPE 60.3 % against 61.2 %, 105 rows)."""
    return max(batch, fw.token_budget // max(wl.new_tokens, 1)) * engine.dp


def _then(p: Pending, after) -> Pending:
    return Pending(p.groups, lambda priced: after(p.finish(priced)))


def kv_bytes_per_request(arch: ModelArch, kv: KvDtype, isl: int) -> float:
    """Bytes of the whole model's cache for one prompt of `isl` tokens (every layer, unsharded): what a
    prefill worker hands to a decode worker. MLA layers send their compressed latent, sliding-window
    layers at most the window, linear-attention layers their fixed state."""
    per_kind = {k: layer_kv(arch, k, 1, kv) for k in set(arch.attention.layers)}
    total = 0.0
    for kind in arch.attention.layers:
        per_token, per_request = per_kind[kind]
        tokens = min(isl, arch.attention.window) if kind is LayerAttention.SLIDING else isl
        total += per_token * tokens + per_request
    return total


def link_bytes_per_s(prefill: SystemSpec, decode: SystemSpec, gpus_together: int) -> float:
    """Per-GPU bandwidth of the KV hand-off: NVLink when both workers are one system's and fit in one
    node (`gpus_together` ≤ its GPUs per node), otherwise the slower side's inter-node link."""
    if prefill.name == decode.name and gpus_together <= prefill.gpus_per_node:
        return prefill.intra_node_bw_bytes_per_s
    return min(prefill.inter_node_bw_bytes_per_s, decode.inter_node_bw_bytes_per_s)


def kv_transfer_s(bytes_per_request: float, bytes_per_s: float, streams: int = 1, latency_s: float = 0.0) -> float:
    """Seconds to move one request's cache over `streams` parallel links of `bytes_per_s` each (every
    GPU of the smaller worker sends its shard over its own link), plus a fixed per-transfer latency."""
    return latency_s + bytes_per_request / (bytes_per_s * max(int(streams), 1))
