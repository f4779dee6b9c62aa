"""Per-worker estimators of disaggregated serving: a prefill worker, a decode worker, the KV hand-off.

In disaggregated serving a prefill worker runs prompts only (batches of `batch` prompts, each batch
one forward pass over all their tokens) and hands each request's KV cache to a decode worker, which
runs decode steps only, `concurrency` requests at a time. Neither worker mixes phases, so both are
priced from the same op groups as static batching (model/aggregated.py: a prefill of `batch` prompts
together, a decode step of `concurrency` requests at the mean KV length), with the framework's
calibration for per-step and per-request overheads. What is specific to each pool lives here:

* a prefill worker's service time for one batch is its `latency_s` (a request's TTFT share before
  queueing and the hand-off); it sustains ``batch / latency_s`` prompts/s;
* a decode worker generates all `osl` tokens of a request from the received cache (the prompt's
  last token is re-run there, as vLLM's and SGLang's connectors do), so it completes
  ``concurrency / (osl * tpot_s)`` requests/s, and its first step is the TTFT's last part;
* the hand-off moves the whole model's cache for the prompt (every layer, MLA's compressed latent
  where the model has one, linear-attention state) over the link between the two workers.

The solver's queueing model and the TTFT composition are solver/disagg_tables.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.perfdb import SystemSpec

from .aggregated import static_pending
from .arch import ModelArch
from .attention import LayerAttention
from .calibration import Calibration
from .framework import FrameworkProfile
from .kv_cache import layer_kv
from .pending import Pending
from .quant import KvDtype
from .workload import ServingMetrics, Workload


@dataclass(frozen=True)
class PrefillMetrics:
    """One prefill worker at each batch size (arrays of one length)."""

    batch: np.ndarray  # prompts per forward pass
    latency_s: np.ndarray  # one batch's prefill, first token included
    requests_per_s: np.ndarray  # batch / latency_s
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
                    batch: np.ndarray, cal: Calibration) -> Pending:
    """A prefill worker's metrics at each batch size, waiting for its lookups (model/pending.py)."""
    b = np.asarray(batch, dtype=int)

    def finish(m: ServingMetrics) -> PrefillMetrics:
        return PrefillMetrics(batch=b, latency_s=m.ttft_s, requests_per_s=b / m.ttft_s, tier=m.tier,
                              source=m.source)
    return _then(static_pending(arch, engine, system, fw, wl, b, cal), finish)


def decode_pending(arch: ModelArch, engine, system: SystemSpec, fw: FrameworkProfile, wl: Workload,
                   concurrency: np.ndarray, cal: Calibration) -> Pending:
    """A decode worker's metrics at each concurrency, waiting for its lookups."""
    c = np.asarray(concurrency, dtype=int)

    def finish(m: ServingMetrics) -> DecodeMetrics:
        return DecodeMetrics(concurrency=c, tpot_s=m.tpot_s, first_step_s=m.tpot_s,
                             requests_per_s=c / (wl.osl * m.tpot_s), tier=m.tier, source=m.source)
    return _then(static_pending(arch, engine, system, fw, wl, c, cal), finish)


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
