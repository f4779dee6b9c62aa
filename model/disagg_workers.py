"""Per-worker estimators of disaggregated serving: a prefill worker, a decode worker, the KV hand-off.

In disaggregated serving a prefill worker runs prompts only (batches of `batch` prompts, each batch
one forward pass over all their tokens) and hands each request's KV cache to a decode worker, which
runs decode steps only, `concurrency` requests at a time. Neither worker mixes phases, so both are
priced from the same op groups as static batching (model/aggregated.py: a prefill of `batch` prompts
together, a decode step of `concurrency` requests at the mean KV length), with the framework's
calibration for per-step and per-request overheads, and the disaggregated correction fitted on the
sample's disaggregated rows (model/disagg_calibration.py). What is specific to each pool lives here:

* a prefill batch's `latency_s` is a request's TTFT share before queueing and the hand-off; the
  worker is busy for `service_s`, that latency less the calibration's fixed per-request TTFT cost
  (`ttft_overhead_s`: the server's request handling, which delays the first token but occupies no
  GPU time and overlaps the next batch), so it sustains ``batch / service_s`` prompts/s;
* a decode worker generates all `osl` tokens of a request from the received cache (the prompt's
  last token is re-run there, as vLLM's and SGLang's connectors do), so it completes
  ``concurrency / (osl * tpot_s)`` requests/s, and its first step is the TTFT's last part. Its tokens
  leave through the deployment's own frontend (Dynamo's, `trtllm-serve disaggregated`, the SGLang
  router), not through the worker's HTTP server whose streaming limit the aggregated calibration
  fitted, so that limit is not applied: the sample's decode workers stream far beyond it (a gb300
  SGLang worker at 896 × 8 requests and 84.7 ms TPOT: 85k tokens/s, development split);
* the hand-off moves the whole model's cache for the prompt (every layer, MLA's compressed latent
  where the model has one, linear-attention state) over the link between the two workers.

The solver's queueing model and the TTFT composition are solver/disagg_tables.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import Client
from sloplan.perfdb import SystemSpec

from .aggregated import static_pending
from .arch import ModelArch
from .attention import LayerAttention
from .calibration import Calibration
from .disagg_calibration import DisaggCorrection
from .disagg_calibration import correction as fitted
from .framework import FrameworkProfile
from .kv_cache import layer_kv
from .pending import Pending
from .quant import KvDtype
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
    first_step_s: np.ndarray  # the step that emits a request's first token on this worker
    requests_per_s: np.ndarray  # concurrency / (osl * tpot_s)
    tier: np.ndarray
    source: np.ndarray


def prefill_pending(arch: ModelArch, engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                    batch: np.ndarray, cal: Calibration, correction: DisaggCorrection | None = None) -> Pending:
    """A prefill worker's metrics at each batch size, waiting for its lookups (model/pending.py).
    `correction`: the fitted disaggregated correction (model/disagg_calibration.py; default: the
    catalog's for this framework and system)."""
    b = np.asarray(batch, dtype=int)
    fix = correction or fitted(fw.backend, system.name)

    def finish(m: ServingMetrics) -> PrefillMetrics:
        service = np.maximum(m.ttft_s - cal.ttft_overhead_s, 1e-9) * fix.prefill_scale
        latency = service + cal.ttft_overhead_s + fix.ttft_overhead_s
        return PrefillMetrics(batch=b, latency_s=latency, service_s=service, requests_per_s=b / service,
                              tier=m.tier, source=m.source)
    return _then(static_pending(arch, engine, system, fw, wl, b, cal), finish)


def decode_pending(arch: ModelArch, engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                   concurrency: np.ndarray, cal: Calibration, correction: DisaggCorrection | None = None) -> Pending:
    """A decode worker's metrics at each concurrency, waiting for its lookups (`correction` as above)."""
    c = np.asarray(concurrency, dtype=int)
    cal = cal.for_client(Client.OFFLINE)  # no worker-side streaming limit (module docstring)
    fix = correction or fitted(fw.backend, system.name)

    def finish(m: ServingMetrics) -> DecodeMetrics:
        tpot = m.tpot_s * fix.decode_for(engine.dp)
        return DecodeMetrics(concurrency=c, tpot_s=tpot, first_step_s=tpot, requests_per_s=c / (wl.osl * tpot),
                             tier=m.tier, source=m.source)
    return _then(static_pending(arch, engine, system, fw, wl, c, cal), finish)


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
