"""`estimate --mode disagg`: one disaggregated deployment's TTFT (with its parts), TPOT and tokens/s/GPU.

A disaggregated configuration is two engines — a prefill worker and a decode worker, each with its own
parallel layout — how many of each run, their batch sizes, and the benchmark's client count. Each
engine is validated by estimate's own schema (sloplan/estimation.py: EstimateArgs, context_for), so a
bad prefill layout is refused exactly as `estimate --tp` is, named as the flag or column the caller
typed (`prefill_tp`, `decode_moe_ep_size`); the counts have a schema of their own here. The workers are
priced by model/disagg_workers.py and composed by the closed loop of sloplan/disagg_loop.py.

Batch sizes mean what the frameworks (and silicon_sample.csv's columns) mean: requests per attention-DP
rank, each rank scheduling its own. A worker of dp ranks thus prefills `batch × dp` prompts per pass
and decodes up to `batch × dp` requests — capped by its KV memory, which the result says.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sloplan.core.enums import Backend, Client, Role
from sloplan.model.disagg_workers import (decode_pending, kv_bytes_per_request, kv_transfer_s,
                                          largest_prefill_batch, link_bytes_per_s, prefill_pending)
from sloplan.model.disagg_calibration import DisaggCorrection, correction as fitted
from sloplan.model.ops import source_label
from sloplan.model.option_table import ServingMode
from sloplan.model.pending import settle
from sloplan.model.quant import GemmQuant
from sloplan.model.speculative import MAX_DRAFT_TOKENS
from sloplan.perfdb import Tier
from sloplan.perfdb.queries import MoeKernel

from .context import check_drafts
from .disagg_loop import LoopPoint, Pools, closed_loop
from .errors import InputError
from .estimation import MAX_CONCURRENCY, EstimateArgs, arguments, context_for
from .fields import MAX_BATCH_SIZE, Int, bounded, input_error

MAX_WORKERS = 4096  # beyond any cluster; bounds the arithmetic a typo could ask for
ENGINE_FIELDS = ("tp", "pp", "dp", "moe_tp", "moe_ep", "moe_backend")
COMMON_FIELDS = ("model", "system", "backend", "version", "quant", "isl", "osl", "prefix", "client")
ROLES = (Role.PREFILL, Role.DECODE)
# a role's engine argument as the CLI and Python API name it: tp -> prefill_tp
FLAG_NAMES = {role: {f: f"{role.value}_{f}" for f in ENGINE_FIELDS} for role in ROLES}


class DisaggCounts(BaseModel):
    """Worker counts, batch sizes and clients of one disaggregated deployment (strict: no coercion)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    prefill_batch: Int = bounded(1, 1, MAX_BATCH_SIZE, " (prompts per attention-DP rank in one prefill pass)")
    prefill_workers: Int = bounded(1, 1, MAX_WORKERS)
    decode_batch: Int = bounded(1, 1, MAX_BATCH_SIZE, " (requests per attention-DP rank decoding together)")
    decode_workers: Int = bounded(1, 1, MAX_WORKERS)
    decode_draft_tokens: Int = bounded(0, 0, MAX_DRAFT_TOKENS, " (MTP draft tokens per decode step of the decode "
                                                               "workers; 0: no speculation)")
    concurrency: Optional[Int] = Field(None, ge=1, le=MAX_CONCURRENCY,
                                       description=f"an integer 1..{MAX_CONCURRENCY} (closed-loop benchmark "
                                                   "clients), or none: one per decode slot")


@dataclass(frozen=True)
class DisaggArgs:
    """Validated arguments: each role's engine as estimate's arguments, and the counts."""

    prefill: EstimateArgs
    decode: EstimateArgs
    counts: DisaggCounts

    def role(self, role: Role) -> EstimateArgs:
        return self.prefill if role is Role.PREFILL else self.decode


def renamed(exc: InputError, names: Mapping[str, str]) -> InputError:
    """An engine argument's error named as the caller's input names it (tp -> prefill_tp)."""
    if exc.field not in names:
        return exc
    return InputError(names[exc.field], str(exc).split(": ", 1)[-1])


def disagg_arguments(common: dict, engines: Mapping[Role, dict], counts: dict,
                     names: Mapping[Role, Mapping[str, str]] = FLAG_NAMES,
                     count_names: Mapping[str, str] | None = None) -> DisaggArgs:
    """`common` (model, system, ...), each role's engine fields and the counts, validated; the first
    problem is an InputError named through `names` (per role) and `count_names`."""
    roles = {role: arguments({**names[role]}, **common, **engines[role], mode=ServingMode.STATIC)
             for role in ROLES}
    try:
        valid = DisaggCounts(**counts)
    except ValidationError as exc:
        raise input_error(exc, DisaggCounts, count_names) from None
    return DisaggArgs(roles[Role.PREFILL], roles[Role.DECODE], valid)


@dataclass(frozen=True)
class DisaggEstimate:
    """One disaggregated deployment's metrics (`sloplan estimate --mode disagg`)."""

    model: str
    system: str
    backend: str
    data_version: str
    mode: str
    prefill_engine: str
    prefill_batch: int
    prefill_workers: int
    decode_engine: str
    decode_batch: int
    decode_workers: int
    decode_draft_tokens: int  # MTP drafts per decode step (0: the decode workers do not speculate)
    gpus: int
    concurrency: int  # closed-loop clients
    decode_slots: int  # requests one decode worker holds: batch × dp, capped by its KV memory
    decode_running: float  # mean requests decoding on one decode worker
    ttft_ms: float
    prefill_ms: float
    queue_ms: float
    kv_transfer_ms: float
    first_step_ms: float
    tpot_ms: float
    request_latency_ms: float
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    requests_per_s: float
    prefill_utilisation: float
    decode_saturated: bool
    kv_bytes_per_request: float
    kv_link_bytes_per_s: float
    tier: str
    tier_source: str | None
    memory_gib: dict  # per role
    prefill_scale: float  # the fitted disaggregated constants used (model/disagg_calibration.py): busy-time scale
    disagg_fixed_ttft_ms: float  # and the fixed cost before the first token

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Priced:
    """One deployment priced: the closed loop's input, its tier and what the result reports besides."""

    pools: Pools
    tier: int
    source: int
    kv_bytes: float
    link_bytes_per_s: float
    slots: int
    correction: DisaggCorrection  # the disaggregated constants the prefill workers were priced with


def price(args: DisaggArgs, names: Mapping[Role, Mapping[str, str]] = FLAG_NAMES, dense_ignores_moe: bool = False,
          correction: DisaggCorrection | None = None) -> tuple[dict, Priced]:
    """Each role's (context, slot), and the deployment priced in one round of lookups; `correction`
    overrides the fitted one (bench/calibrate_disagg.py prices with none: IDENTITY)."""
    built = {}
    for role in ROLES:
        try:
            built[role] = context_for(args.role(role), dense_ignores_moe)
        except InputError as exc:
            raise renamed(exc, names[role]) from None
    (ctx, p_slot), (_, d_slot) = built[Role.PREFILL], built[Role.DECODE]
    c, fix = args.counts, correction or fitted(ctx.fw.backend, ctx.system.name)
    batches = np.arange(1, largest_prefill_batch(p_slot.engine, ctx.fw, ctx.workload, c.prefill_batch) + 1)
    slots = min(c.decode_batch * d_slot.engine.dp, d_slot.max_running)
    grid = np.arange(1, slots + 1)
    pre, dec = settle(ctx.db, [
        prefill_pending(ctx.arch, p_slot.engine, ctx.system, ctx.fw, ctx.workload, batches, ctx.calibration, fix),
        decode_pending(ctx.arch, d_slot.engine, ctx.system, ctx.fw, ctx.workload, grid, ctx.calibration,
                       _drafts(ctx.arch, args.decode.model, c.decode_draft_tokens, names))])
    kv_bytes = kv_bytes_per_request(ctx.arch, ctx.quants[0].kv, ctx.workload.isl)
    g_p, g_d = p_slot.engine.gpus, d_slot.engine.gpus
    link = link_bytes_per_s(ctx.system, ctx.system, g_p + g_d)
    pools = Pools(prefill_batch=batches, prefill_latency_s=pre.latency_s, prefill_service_s=pre.service_s,
                  prefill_workers=c.prefill_workers,
                  decode_concurrency=grid, decode_tpot_s=dec.tpot_s, decode_first_step_s=dec.first_step_s,
                  decode_workers=c.decode_workers, kv_transfer_s=kv_transfer_s(kv_bytes, link, min(g_p, g_d)),
                  osl=ctx.workload.osl)
    tiers = np.concatenate([pre.tier, dec.tier])
    sources = np.concatenate([pre.source, dec.source])
    worst = int(np.argmax(tiers))
    return built, Priced(pools, int(tiers[worst]), int(sources[worst]), kv_bytes, link, slots, fix)


def _drafts(arch, model: str, k: int, names: Mapping[Role, Mapping[str, str]]) -> int:
    """The decode workers' MTP drafts per step, drafted by the checkpoint's own MTP layers (model/speculative.py)."""
    check_drafts(arch, model, k, names[Role.DECODE].get("draft_tokens", "decode_draft_tokens"))
    return k


def clients_of(args: DisaggArgs, priced: Priced) -> int:
    """The benchmark's clients: as given, else one per decode slot (how the sample's runs are sized)."""
    return args.counts.concurrency or priced.slots * args.counts.decode_workers


def result(args: DisaggArgs, built: dict, priced: Priced, point: LoopPoint) -> DisaggEstimate:
    (ctx, p_slot), (_, d_slot) = built[Role.PREFILL], built[Role.DECODE]
    c, osl = args.counts, ctx.workload.osl
    gpus = c.prefill_workers * p_slot.engine.gpus + c.decode_workers * d_slot.engine.gpus
    return DisaggEstimate(
        model=args.prefill.model, system=args.prefill.system, backend=args.prefill.backend.value,
        data_version=ctx.db.version, mode="disagg", prefill_engine=p_slot.engine.label, prefill_batch=c.prefill_batch,
        prefill_workers=c.prefill_workers, decode_engine=d_slot.engine.label, decode_batch=c.decode_batch,
        decode_workers=c.decode_workers, decode_draft_tokens=c.decode_draft_tokens, gpus=gpus,
        concurrency=point.clients, decode_slots=priced.slots,
        decode_running=point.decode_concurrency, ttft_ms=point.ttft_s * 1e3, prefill_ms=point.prefill_s * 1e3,
        queue_ms=point.queue_s * 1e3, kv_transfer_ms=point.kv_transfer_s * 1e3,
        first_step_ms=point.first_step_s * 1e3, tpot_ms=point.tpot_s * 1e3,
        request_latency_ms=(point.ttft_s + (osl - 1) * point.tpot_s) * 1e3,
        tokens_per_s_per_user=1.0 / point.tpot_s, tokens_per_s_per_gpu=point.requests_per_s * osl / gpus,
        requests_per_s=point.requests_per_s, prefill_utilisation=point.prefill_utilisation,
        decode_saturated=point.decode_saturated, kv_bytes_per_request=priced.kv_bytes,
        kv_link_bytes_per_s=priced.link_bytes_per_s, tier=Tier(priced.tier).label,
        tier_source=source_label(priced.tier, priced.source),
        memory_gib={"prefill": p_slot.memory.as_gib, "decode": d_slot.memory.as_gib},
        prefill_scale=priced.correction.prefill_scale, disagg_fixed_ttft_ms=priced.correction.ttft_overhead_s * 1e3)


def estimate_disagg(model: str, system: str, backend: Backend | str = Backend.TRTLLM, *,
                    prefill_tp: int = 1, prefill_pp: int = 1, prefill_dp: int = 1, prefill_moe_tp: int | None = None,
                    prefill_moe_ep: int | None = None, prefill_moe_backend: MoeKernel | str = MoeKernel.CUTLASS,
                    prefill_batch: int = 1, prefill_workers: int = 1,
                    decode_tp: int = 1, decode_pp: int = 1, decode_dp: int = 1, decode_moe_tp: int | None = None,
                    decode_moe_ep: int | None = None, decode_moe_backend: MoeKernel | str = MoeKernel.CUTLASS,
                    decode_batch: int = 1, decode_workers: int = 1,
                    decode_draft_tokens: int = 0, concurrency: int | None = None,
                    quant: GemmQuant | str | None = None, isl: int = 4000, osl: int = 1000, prefix: int = 0,
                    version: str | None = None,
                    client: Client | str = Client.SERVING) -> DisaggEstimate:
    """TTFT (prefill + queueing + KV transfer + first decode step), TPOT and tokens/s/GPU of one
    disaggregated deployment under `concurrency` closed-loop clients (none: one per decode slot).
    Batches are per attention-DP rank (module docstring); `decode_draft_tokens` k > 0: the decode workers
    speculate with the checkpoint's MTP layers, k drafts a step (model/disagg_workers.py decode_pending);
    `prefill_moe_backend` / `decode_moe_backend`: each role's TensorRT-LLM moe_config.backend (a MoE model
    on TensorRT-LLM only, as estimate's moe_backend). Every bad argument raises sloplan.InputError naming
    it (prefill_tp, decode_workers, ...) and what it accepts."""
    local = locals()
    common = {k: local[k] for k in COMMON_FIELDS}
    engines = {role: {f: local[f"{role.value}_{f}"] for f in ENGINE_FIELDS} for role in ROLES}
    counts = {k: local[k] for k in DisaggCounts.model_fields}
    args = disagg_arguments(common, engines, counts)
    built, priced = price(args)
    return result(args, built, priced, closed_loop(priced.pools, clients_of(args, priced)))
