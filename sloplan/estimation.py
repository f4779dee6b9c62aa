"""`estimate`: one configuration's metrics, under the same argument rules as a request (sloplan/request.py).

`sloplan.estimate(...)`, `sloplan estimate` and each `--from-csv` row (sloplan/estimate_rows.py) are
validated by one schema, `EstimateArgs`, so every bad argument is an InputError naming the argument and
what it accepts, and no value the request schema refuses (prefix ≥ isl, tp="2", a bool) becomes a number.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sloplan.core.enums import Client
from sloplan.model.engine import Engine, invalid_reason
from sloplan.model.parallel_rules import engine_problem
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.ops import source_label
from sloplan.model.options import EngineSlot, engine_slot, evaluate
from sloplan.model.quant import GemmQuant
from sloplan.model.speculative import MAX_DRAFT_TOKENS
from sloplan.model.workload import ServingMetrics
from sloplan.perfdb import Tier
from sloplan.perfdb.queries import MoeKernel

from .context import Context, build_context
from .errors import InputError
from .fields import (CLIENT_ACCEPTS, MAX_BATCH_SIZE, MAX_NAME_CHARS, MAX_TOKENS, MODEL_ACCEPTS, SYSTEM_ACCEPTS,
                     VERSION_ACCEPTS, Int, ModelName, bounded, input_error, member, members, prefix_below_isl, text)
from .result import Estimate

MAX_CONCURRENCY = 1_000_000  # far beyond any engine's running cap; bounds the arrays a typo could ask for
MAX_PARALLEL = 1024  # attention-DP copies / MoE split ways: beyond any NVLink domain
MOE_ACCEPTS = (f"an integer 1..{MAX_PARALLEL} with moe_tp × moe_ep = tp × dp, or none: moe_tp = tp × dp / moe_ep "
               "(no expert parallelism when both are none); 1 for a dense model")


class EstimateArgs(BaseModel):
    """The arguments of `estimate`, with the request schema's field types and bounds (strict: no coercion)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: ModelName = Field(description=MODEL_ACCEPTS)
    system: text(MAX_NAME_CHARS) = Field(description=SYSTEM_ACCEPTS)
    backend: member(Backend) = Field(Backend.TRTLLM, description=members(Backend))
    version: Optional[text(MAX_NAME_CHARS)] = Field(None, description=VERSION_ACCEPTS)
    tp: Int = bounded(1, 1)
    pp: Int = bounded(1, 1)
    dp: Int = Field(1, ge=1, le=MAX_PARALLEL, description=f"an integer 1..{MAX_PARALLEL} (attention data-parallel "
                                                          "copies; 1 for a dense model)")
    moe_tp: Optional[Int] = Field(None, ge=1, le=MAX_PARALLEL, description=MOE_ACCEPTS)
    moe_ep: Optional[Int] = Field(None, ge=1, le=MAX_PARALLEL, description=MOE_ACCEPTS)
    quant: Optional[member(GemmQuant)] = Field(
        None, description=f"{members(GemmQuant)}, or none for the checkpoint's own format")
    mode: member(ServingMode) = Field(ServingMode.AGG, description=", ".join(
        m.value for m in ServingMode if m is not ServingMode.DISAGG))
    concurrency: Int = bounded(1, 1, MAX_CONCURRENCY)
    isl: Int = bounded(4000, 1, MAX_TOKENS)
    osl: Int = bounded(1000, 2, MAX_TOKENS)
    prefix: Int = bounded(0, 0, None, " below isl")
    max_batch_size: Optional[Int] = Field(None, ge=1, le=MAX_BATCH_SIZE,
                                          description=f"an integer 1..{MAX_BATCH_SIZE}, or none for the KV capacity")
    client: member(Client) = Field(Client.SERVING, description=CLIENT_ACCEPTS)
    draft_tokens: Int = bounded(0, 0, MAX_DRAFT_TOKENS, " (MTP draft tokens per decode step; 0: no speculation)")
    moe_backend: member(MoeKernel) = Field(MoeKernel.CUTLASS, description=f"{members(MoeKernel)} (TensorRT-LLM's "
                                                                           "moe_config.backend; CUTLASS its default)")
    # the framework version a CSV row ran, where `version` is the nearest one with data (estimate_rows.py)
    runtime_version: Optional[text(MAX_NAME_CHARS)] = Field(None, description=VERSION_ACCEPTS)

    _prefix_below_isl = field_validator("prefix")(prefix_below_isl)

    @field_validator("mode")
    @classmethod
    def _one_replica_mode(cls, v: ServingMode) -> ServingMode:
        """One replica's estimate: static or agg (a disaggregated configuration is two pools)."""
        if v is ServingMode.DISAGG:
            raise ValueError("a disaggregated configuration is two pools, not one replica's mode "
                             "(sloplan.estimate_disagg, `sloplan estimate --mode disagg`)")
        return v


def arguments(names: Mapping[str, str] | None = None, **kwargs) -> EstimateArgs:
    """`kwargs` validated as estimate's arguments; the first problem is an InputError naming the argument
    (or, through `names`, what the caller's input calls it: a CSV column)."""
    try:
        return EstimateArgs(**kwargs)
    except ValidationError as exc:
        raise input_error(exc, EstimateArgs, names) from None


def is_moe(arch) -> bool:
    """Whether the model has expert layers: the architecture's `mlp.moe` (the MoE-aware ModelArch); a
    ModelArch without it is the dense-only one, whose models never have experts."""
    return getattr(getattr(arch, "mlp", None), "moe", None) is not None


def moe_split(args: EstimateArgs, moe: bool, dense_ignores_moe: bool = False) -> tuple[int, int, int]:
    """(dp, moe_tp, moe_ep) of the engine. A MoE model's expert layers span the tp × dp attention GPUs
    (moe_tp × moe_ep = tp × dp, the peer's and every framework's rule): a missing one is derived, none
    given means tensor-parallel experts (what a framework runs without an expert-parallel flag). A dense
    model has no expert layers and no attention data parallelism: anything but 1 is refused, unless
    `dense_ignores_moe` (CSV rows: the sample writes tp_size, 0 or 1 into a dense row's MoE columns)."""
    if not moe:
        if args.dp > 1:
            raise InputError("dp", f"{args.model} is a dense model: attention data parallelism applies to MoE "
                                   f"models (got {args.dp}); accepted: 1 (replicas are the plan's business)")
        for name in ("moe_tp", "moe_ep"):
            value = getattr(args, name)
            if value not in (None, 1) and not dense_ignores_moe:
                raise InputError(name, f"{args.model} is a dense model without expert layers (got {value}); "
                                       "accepted: 1, or none")
        return 1, 1, 1
    width = args.tp * args.dp
    mt, me = args.moe_tp, args.moe_ep
    if mt is None and me is None:
        return args.dp, width, 1
    for name, given in (("moe_ep", me), ("moe_tp", mt)):
        if given is not None and width % given:
            raise InputError(name, f"{given} does not divide tp × dp = {width} (the MoE layers span the "
                                   f"attention GPUs); accepted: a divisor of {width}")
    mt, me = (width // me if mt is None else mt), (width // mt if me is None else me)
    if mt * me != width:
        raise InputError("moe_ep", f"moe_tp × moe_ep = {mt} × {me} = {mt * me} must equal tp × dp = {width} (the "
                                   f"MoE layers span the attention GPUs); accepted: moe_ep {width // mt} with "
                                   f"moe_tp {mt}")
    return args.dp, mt, me


def context_for(args: EstimateArgs, dense_ignores_moe: bool = False) -> tuple[Context, EngineSlot]:
    """Resolve validated arguments to their context and engine slot (memory + running cap)."""
    ctx = build_context(args.model, args.system, args.backend, args.version, args.isl, args.osl, args.prefix,
                        (args.quant,) if args.quant else None, "quant", client=args.client,
                        runtime_version=args.runtime_version, draft_tokens=args.draft_tokens)
    if args.draft_tokens and args.mode is not ServingMode.AGG:
        raise InputError("draft_tokens", f"speculative decoding is priced in aggregated mode only (got mode "
                                         f"{args.mode.value}); accepted: 0, or mode agg")
    dp, moe_tp, moe_ep = moe_split(args, is_moe(ctx.arch), dense_ignores_moe)
    if args.moe_backend is not MoeKernel.CUTLASS and not (is_moe(ctx.arch) and args.backend is Backend.TRTLLM):
        raise InputError("moe_backend", f"{args.moe_backend.value} is TensorRT-LLM's moe_config.backend for a MoE "
                                        f"model (got backend {args.backend.value}, model {args.model}); accepted: "
                                        "CUTLASS")
    engine = Engine(args.tp, args.pp, ctx.quants[0], dp=dp, moe_tp=moe_tp, moe_ep=moe_ep, moe_kernel=args.moe_backend)
    if is_moe(ctx.arch):  # the framework's own rules (TRT-LLM: no tp > 1 with dp > 1, ...), as data
        problem = engine_problem(engine, ctx.arch, ctx.system, ctx.framework.parallel_rules)
        if problem:
            raise InputError(problem.field, problem.message)
    why = invalid_reason(engine, ctx.arch, ctx.system.gpus_per_node)
    if why:
        raise _invalid_engine(engine, ctx, why)
    slot = engine_slot(ctx.arch, engine, ctx.system, ctx.fw, ctx.workload, args.max_batch_size)
    if isinstance(slot, str):
        raise InputError("tp", f"{engine.label} does not fit {ctx.arch.name} on {args.system}: {slot}")
    return ctx, slot


def _invalid_engine(engine: Engine, ctx: Context, why: str) -> InputError:
    """The reason names pp when the same tp without pipeline stages is valid, else tp; accepted are the
    values of that argument that are valid with the other one as given."""
    def valid(tp: int, pp: int) -> bool:
        """The engine with another tp or pp: a MoE engine keeps its dp and expert parallelism, its
        expert TP following the width (a dense engine's split stays 1 x 1)."""
        width = tp * engine.dp
        if width % engine.moe_ep:
            return False
        moe_tp = width // engine.moe_ep if is_moe(ctx.arch) else 1
        other = replace(engine, tp=tp, pp=pp, moe_tp=moe_tp)
        return invalid_reason(other, ctx.arch, ctx.system.gpus_per_node) is None

    if valid(engine.tp, 1):
        return InputError("pp", f"{why}; accepted with tp={engine.tp}: "
                                f"{_spans([p for p in range(1, ctx.arch.num_layers + 1) if valid(engine.tp, p)])}")
    ok = [t for t in range(1, 2 * ctx.system.gpus_per_node + 1) if valid(t, engine.pp)]
    return InputError("tp", f"{why}; accepted with pp={engine.pp}: {_spans(ok) or 'none (try pp=1)'}")


def _spans(values: list[int]) -> str:
    """1, 2, 4, 8 stays a list; a run of consecutive values reads 1 to 64."""
    if len(values) > 4 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(map(str, values))


def configure(model: str, system: str, backend: Backend | str, *, tp: int, pp: int, quant: GemmQuant | str | None,
              isl: int, osl: int, prefix: int = 0, version: str | None = None, max_batch_size: int | None = None,
              dp: int = 1, moe_tp: int | None = None, moe_ep: int | None = None,
              client: Client | str = Client.SERVING, dense_ignores_moe: bool = False,
              runtime_version: str | None = None, draft_tokens: int = 0,
              moe_backend: MoeKernel | str = MoeKernel.CUTLASS) -> tuple[Context, EngineSlot]:
    """Resolve one explicit configuration to its context and engine slot (memory + running cap)."""
    return context_for(arguments(model=model, system=system, backend=backend, tp=tp, pp=pp, quant=quant, isl=isl,
                                 osl=osl, prefix=prefix, version=version, max_batch_size=max_batch_size, dp=dp,
                                 moe_tp=moe_tp, moe_ep=moe_ep, client=client, runtime_version=runtime_version,
                                 draft_tokens=draft_tokens, moe_backend=moe_backend),
                       dense_ignores_moe)


def metrics(ctx: Context, slot: EngineSlot, mode: ServingMode, concurrency: np.ndarray) -> ServingMetrics:
    """The estimator at every concurrency of one configuration in one call: each value is what a call at
    that concurrency alone gives (the step curves are priced per decode width; see model/aggregated.py)."""
    return evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, mode, np.asarray(concurrency), ctx.calibration)


def estimate(model: str, system: str, backend: Backend | str = Backend.TRTLLM, *, tp: int = 1, pp: int = 1,
             quant: GemmQuant | str | None = None, mode: ServingMode | str = ServingMode.AGG, concurrency: int = 1,
             isl: int = 4000, osl: int = 1000, prefix: int = 0, version: str | None = None,
             max_batch_size: int | None = None, dp: int = 1, moe_tp: int | None = None, moe_ep: int | None = None,
             client: Client | str = Client.SERVING, draft_tokens: int = 0,
             moe_backend: MoeKernel | str = MoeKernel.CUTLASS) -> Estimate:
    """TTFT, TPOT, tokens/s/GPU, tokens/s/user and memory of one engine at one concurrency.
    `dp`, `moe_tp`, `moe_ep`: a MoE model's attention-data and expert layout (see moe_split); `client`:
    serving (an HTTP front, whose streaming limit applies) or offline; `draft_tokens` k > 0: MTP
    speculative decoding with the checkpoint's own MTP layers, k drafts per step (model/speculative.py;
    aggregated mode); `moe_backend`: TensorRT-LLM's moe_config.backend for the experts (perfdb MoeKernel).
    Every bad argument raises sloplan.InputError naming it and what it accepts."""
    args = arguments(model=model, system=system, backend=backend, tp=tp, pp=pp, quant=quant, mode=mode,
                     concurrency=concurrency, isl=isl, osl=osl, prefix=prefix, version=version,
                     max_batch_size=max_batch_size, dp=dp, moe_tp=moe_tp, moe_ep=moe_ep, client=client,
                     draft_tokens=draft_tokens, moe_backend=moe_backend)
    ctx, slot = context_for(args)
    m = metrics(ctx, slot, args.mode, np.array([args.concurrency]))
    ttft, tpot, cal = float(m.ttft_s[0]), float(m.tpot_s[0]), ctx.calibration.for_engine(slot.engine)
    return Estimate(model=model, system=system, backend=args.backend.value, data_version=ctx.db.version,
                    mode=args.mode.value, engine=slot.engine.label, concurrency=args.concurrency,
                    running=int(m.running[0]), ttft_ms=ttft * 1e3, tpot_ms=tpot * 1e3,
                    request_latency_ms=(ttft + (args.osl - 1) * tpot) * 1e3, tokens_per_s_per_user=1.0 / tpot,
                    tokens_per_s_per_gpu=float(m.tokens_per_s[0]) / slot.engine.gpus,
                    tier=Tier(int(m.tier[0])).label, tier_source=source_label(m.tier[0], m.source[0]),
                    memory_gib=slot.memory.as_gib,
                    frontend_load=cal.frontend_load(float(m.tokens_per_s[0])),
                    notes=ctx.arch.attention.kernel_notes + _speculation_notes(args.draft_tokens, cal))


def _speculation_notes(draft_tokens: int, cal) -> tuple[str, ...]:
    """What a speculating estimate assumes: the drafts, the acceptance rate it was calibrated with (fitted on
    the partition's speculating rows, inherited otherwise; 0 where no row of it or its parents speculates, so
    the drafts only cost) and the tokens a step then accepts."""
    if not draft_tokens:
        return ()
    from sloplan.model.speculative import accepted_tokens

    a = cal.draft_accept_rate
    source = ("the calibration's, fitted where rows of this framework speculate" if a else
              "no speculating row calibrates this framework and system: the drafts only cost")
    return (f"MTP speculation: {draft_tokens} drafts per decode step, acceptance rate {a:.2f} ({source}), "
            f"{accepted_tokens(draft_tokens, a):.2f} tokens accepted per step",)


def __getattr__(name: str):
    """The CSV path lives in sloplan/estimate_rows.py; its names stay importable from here."""
    if name in ("estimate_csv", "row_config", "estimate_row", "parse_row"):
        from . import estimate_rows

        return getattr(estimate_rows, name)
    raise AttributeError(f"module 'sloplan.estimation' has no attribute {name!r}")
