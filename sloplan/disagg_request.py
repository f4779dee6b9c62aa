"""A request's disaggregated instance: each pool's context and engines, its option tables, the KV link.

`disagg_setup` turns a validated Request into the `DisaggInstance` the solver is given
(solver/disagg_tables.py), so api.py stays build → solve → verify → render; `check_disagg` is the
best plan's verification (the per-worker estimators re-run at its exact batch and concurrency).

* Pools: the prefill workers run on `prefill_system`, the decode workers on `decode_system` (both
  default to `system`), each with its own perf tables and calibration. Both must have data for one
  framework version: a named `version` must exist on both; otherwise the newest version they share
  (a roofline-only system accepts any).
* KV hand-off: bytes per request from the architecture and the prefill worker's KV dtype
  (model/disagg_workers.py, MLA's latent included) over the link between the pools: NVLink when both
  pools are one system's and the whole budget fits in one node, otherwise the slower side's
  inter-node link, or `kv_link_bytes_per_s`. One stream per request (conservative: a worker's GPUs
  may send their shards in parallel, which would divide the time by the smaller worker's GPUs, but
  whether a transfer backend does so is not in the data). One pool per (role, system, KV dtype), so
  each pair's transfer uses its own bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sloplan.core.enums import Role
from sloplan.model.disagg_options import PoolEngines, disagg_tables
from sloplan.model.disagg_tables import DecodeTable, PrefillTable, take_rows
from sloplan.model.disagg_workers import (decode_pending, kv_bytes_per_request, kv_transfer_s, link_bytes_per_s,
                                          prefill_pending)
from sloplan.model.option_table import Pool
from sloplan.model.options import fitting_engines
from sloplan.model.pending import settle
from sloplan.perfdb import UnknownSystem, data_versions, load_system

from .context import Context, build_context
from .errors import InputError
from .request import Request
from .result import Check

HETEROGENEOUS = "a heterogeneous request whose systems share no framework version with data"


@dataclass(frozen=True)
class PoolSide:
    """One role's context (system, perf tables, calibration) and its engines, split by KV dtype."""

    ctx: Context
    pools: tuple[PoolEngines, ...]


@dataclass(frozen=True, eq=False)
class DisaggSetup:
    """The instance and what built it (for verification and rendering)."""

    instance: object  # solver.disagg_tables.DisaggInstance
    prefill: PoolSide
    decode: PoolSide
    request_system: str

    @property
    def options(self) -> int:
        return len(self.instance.prefill) + len(self.instance.decode)

    @property
    def other_engines(self) -> int:
        """Engines of pools on systems other than the request's (those of its system are counted there)."""
        return len({(side.ctx.system.name, s.engine) for side in (self.prefill, self.decode)
                    if side.ctx.system.name != self.request_system for pool in side.pools for s in pool.slots})


def _version(req: Request, systems: tuple[str, str]) -> str | None:
    """The framework version both pools' systems use (module docstring)."""
    if req.version is not None or systems[0] == systems[1]:
        return req.version
    have = [data_versions(s, req.backend.value) for s in systems]
    if not have[0] or not have[1]:
        return (have[0] or have[1] or [None])[-1]
    shared = [v for v in have[0] if v in have[1]]
    if not shared:
        raise InputError("decode_system", f"{HETEROGENEOUS}: {req.backend.value} has {', '.join(have[0])} on "
                                          f"{systems[0]} and {', '.join(have[1])} on {systems[1]}; accepted: "
                                          f"systems with a common version, or one system")
    return shared[-1]


def _known(system: str, field: str) -> None:
    try:
        load_system(system)
    except UnknownSystem as exc:
        raise InputError(field, f"unknown system '{system}'; accepted: {', '.join(exc.accepted)}") from None


def _context(req: Request, ctx: Context, system: str, version: str | None, field: str) -> Context:
    if system == ctx.system.name and version in (None, req.version, ctx.db.version):
        return ctx
    try:
        return build_context(req.model, system, req.backend, version, req.isl, req.osl, req.prefix,
                             req.quantizations, client=req.client)
    except InputError as exc:
        if exc.field == "system":
            raise InputError(field, str(exc).removeprefix("system: ")) from None
        raise


def _side(req: Request, ctx: Context, role: Role, field: str, limit_field: str, version: str | None) -> PoolSide:
    system = getattr(req, field) or req.system
    pctx = _context(req, ctx, system, version, field)
    limit = getattr(req, limit_field)
    budget = req.total_gpus if limit is None else min(limit, req.total_gpus)
    slots, rejected = fitting_engines(pctx.arch, pctx.db, pctx.fw, pctx.workload, list(pctx.quants), req.total_gpus,
                                      req.max_batch_size)
    within = [s for s in slots if s.engine.gpus <= budget]
    if not within:
        if slots:
            need = min(s.engine.gpus for s in slots)
            raise InputError(limit_field, f"{budget} GPUs is smaller than the smallest {role.value} engine of "
                                          f"{pctx.arch.name} on {system} ({need} GPUs); accepted: ≥ {need}")
        why = f" ({rejected[0][1]})" if rejected else ""
        raise InputError(field, f"no {role.value} worker of {pctx.arch.name} on {system} within {req.total_gpus} "
                                f"GPUs holds one request's KV cache (isl+osl={req.isl + req.osl}){why}; "
                                f"accepted: a system with more memory per GPU, or a larger total_gpus")
    kvs = list(dict.fromkeys(s.engine.quant.kv for s in within))
    pools = tuple(PoolEngines(Pool(f"{role.value}-{system}" + (f"-{kv.value}" if len(kvs) > 1 else ""), system),
                              pctx.db, tuple(s for s in within if s.engine.quant.kv is kv), pctx.calibration)
                  for kv in kvs)
    return PoolSide(pctx, pools)


def _kv_seconds(req: Request, pre: PoolSide, dec: PoolSide) -> np.ndarray:
    arch, isl = pre.ctx.arch, req.isl
    link = req.kv_link_bytes_per_s or link_bytes_per_s(pre.ctx.system, dec.ctx.system, req.total_gpus)
    out = np.zeros((len(pre.pools), len(dec.pools)))
    for i, p in enumerate(pre.pools):
        for j, d in enumerate(dec.pools):
            sent = max(kv_bytes_per_request(arch, p.slots[0].engine.quant.kv, isl),
                       kv_bytes_per_request(arch, d.slots[0].engine.quant.kv, isl))
            out[i, j] = kv_transfer_s(sent, link)
    return out


def disagg_setup(req: Request, ctx: Context) -> DisaggSetup:
    """The request's DisaggInstance (module docstring); InputError for what the request got wrong."""
    systems = (req.prefill_system or req.system, req.decode_system or req.system)
    for field, system in zip(("prefill_system", "decode_system"), systems):
        _known(system, field)
    version = _version(req, systems)
    pre = _side(req, ctx, Role.PREFILL, "prefill_system", "max_prefill_gpus", version)
    dec = _side(req, ctx, Role.DECODE, "decode_system", "max_decode_gpus", version)
    return DisaggSetup(disagg_instance(req, pre, dec), pre, dec, req.system)


def disagg_instance(req: Request, pre: PoolSide, dec: PoolSide):
    """The solver's instance of two priced pool sides: their tables, the KV link, the request's budget and
    pool limits, and its SLOs tightened by headroom / min_slack with the service times scaled to match
    (solver/disagg_slack.py). `solve` and `prove` both build it here, so they ask the same question."""
    from sloplan.solver.disagg_tables import DisaggInstance
    from sloplan.solver.slack import tightening

    prefill, decode = disagg_tables(pre.ctx.arch, pre.ctx.fw, pre.ctx.workload, req.max_batch_size, pre.pools,
                                    dec.pools)
    return DisaggInstance(prefill=prefill, decode=decode, kv_transfer_s=_kv_seconds(req, pre, dec), osl=req.osl,
                          total_gpus=req.total_gpus, slo=req.planning_slo, max_prefill_gpus=req.max_prefill_gpus,
                          max_decode_gpus=req.max_decode_gpus, mixed_pools=req.mixed_pools,
                          service_scale=tightening(req.headroom, req.min_slack))


def _rechecked(side: PoolSide, table, rows: list[int], make, sizes) -> object:
    """`table`'s rows re-priced by the per-worker estimator at their exact batch / concurrency."""
    ctx = side.ctx
    pend = [make(ctx.arch, table.slots[int(table.engine_index[r])].engine, ctx.system, ctx.fw, ctx.workload,
                 np.array([int(sizes[r])]), ctx.calibration) for r in rows]
    fresh = settle(ctx.db, pend)
    sub = take_rows(table, np.array(rows))
    cols = {name: np.array([getattr(m, name)[0] for m in fresh]) for name in _RECHECKED[type(table)]}
    fields = {k: getattr(sub, k) for k in sub.__dataclass_fields__}
    return type(table)(**{**fields, **cols})


def check_disagg(setup: DisaggSetup, plan) -> Check:
    """Re-run the per-worker estimators at each group's exact batch / concurrency (no interpolation) and
    recompute the plan's metrics from them (same counts, same queueing model and KV link)."""
    from dataclasses import replace

    from sloplan.solver.disagg_deployment import DisaggDeployment

    inst, dep = setup.instance, plan.deployment
    p_rows, d_rows = [r for r, _ in dep.prefill], [r for r, _ in dep.decode]
    sub = replace(inst, prefill=_rechecked(setup.prefill, inst.prefill, p_rows, prefill_pending, inst.prefill.batch),
                  decode=_rechecked(setup.decode, inst.decode, d_rows, decode_pending, inst.decode.concurrency))
    full = DisaggDeployment.from_counts(sub, {i: c for i, (_, c) in enumerate(dep.prefill)},
                                        {i: c for i, (_, c) in enumerate(dep.decode)})
    got = np.array([full.ttft_s, full.tpot_s, full.tokens_per_s])
    want = np.array([dep.ttft_s, dep.tpot_s, dep.tokens_per_s])
    err = float(np.max(np.abs(want - got) / np.maximum(np.abs(got), 1e-12)) * 100)
    return Check(ttft_ms=full.ttft_s * 1e3, tpot_ms=full.tpot_s * 1e3,
                 tokens_per_s_per_gpu=full.tokens_per_s_per_gpu, surrogate_error_pct=round(err, 3))


_RECHECKED = {PrefillTable: ("requests_per_s", "latency_s", "tier", "source"),
              DecodeTable: ("requests_per_s", "tpot_s", "first_step_s", "tier", "source")}


def launch_bundle(setup: DisaggSetup, plan, backend):
    """What starts a disaggregated plan (generators/disagg_launch.py): its prefill and decode workers with
    their counts and the router, each worker's memory plan as its server will allocate it (a prefill
    worker's token budget takes its whole batch: model.framework.prefill_profile), as a LaunchBundle
    (its text() to paste; to_dict()["nodes"] per node where it spans nodes)."""
    from sloplan.generators import WorkerSpec, disagg_launch
    from sloplan.model.framework import prefill_profile
    from sloplan.model.memory import memory_plan

    specs: dict[Role, list] = {Role.PREFILL: [], Role.DECODE: []}
    for g in plan.groups:
        c = (setup.prefill if g.role is Role.PREFILL else setup.decode).ctx
        fw = prefill_profile(c.fw, g.concurrency, c.workload.isl) if g.role is Role.PREFILL else c.fw
        memory = memory_plan(c.arch, g.engine, c.db.system, fw)
        specs[g.role].append(WorkerSpec(g.engine, memory, g.concurrency, g.count, g.pool.system))
    c = setup.prefill.ctx
    return disagg_launch(backend, c.arch, c.fw, c.workload, specs[Role.PREFILL], specs[Role.DECODE])
