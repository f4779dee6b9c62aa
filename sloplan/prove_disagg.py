"""The disaggregated side of a certificate: the request's prefill and decode pools priced *wide*.

As for the replica table (sloplan/prove.py), the certificate needs rows only a relaxed request could
use: engines up to `WIDE_GPUS` GPUs (or the budget, if larger) — for "more GPUs" and for a per-pool
limit raised — and every format the checkpoint, GPU and framework can serve on that pool's system —
for "another quantization". Rows beyond the request are not dropped here; the certificate's groups
exclude them (solver/cert_disagg.py). The pools, their systems, the framework version both share and
the KV link are the ones `solve` uses (sloplan/disagg_request.py), so the request's own rows are the
rows `solve` prices. Engines whose KV budget cannot hold one request are not priced on this side (a
disaggregated worker of such an engine holds no request at all); decode rows whose concurrency the
KV memory cannot keep are, and the memory group excludes them.
"""
from __future__ import annotations

import numpy as np

from sloplan.core.enums import ConstraintGroup, Role
from sloplan.model.disagg_options import PoolEngines
from sloplan.model.option_table import Pool
from sloplan.model.options import fitting_engines
from sloplan.model.quant import Quant
from sloplan.solver.cert_disagg import DisaggCert

from .context import Context
from .disagg_request import PoolSide, _context, _known, _side, _version, disagg_instance
from .request import Request

WIDE_GPUS = 64  # as sloplan/prove.py: both sides are priced up to the same engine size
_FIELDS = {Role.PREFILL: ("prefill_system", "max_prefill_gpus"), Role.DECODE: ("decode_system", "max_decode_gpus")}


def _wide_side(req: Request, ctx: Context, role: Role, version: str | None, servable) -> PoolSide:
    """One role's pools over every servable format and engine up to the wide budget, split by KV dtype."""
    field, limit_field = _FIELDS[role]
    system = getattr(req, field) or req.system
    pctx = _context(req, ctx, system, version, field)
    if getattr(req, limit_field) is not None:
        _side(req, ctx, role, field, limit_field, version)  # a limit below the smallest engine: solve's exit 2
    ok, _ = servable(pctx)
    planned = [q.gemm for q in pctx.quants]
    quants = list(pctx.quants) + [Quant.default_for(q) for q in ok if q not in planned]
    slots, _ = fitting_engines(pctx.arch, pctx.db, pctx.fw, pctx.workload, quants, max(req.total_gpus, WIDE_GPUS),
                               req.max_batch_size)
    kvs = list(dict.fromkeys(s.engine.quant.kv for s in slots))
    pools = tuple(PoolEngines(Pool(f"{role.value}-{system}" + (f"-{kv.value}" if len(kvs) > 1 else ""), system),
                              pctx.db, tuple(s for s in slots if s.engine.quant.kv is kv), pctx.calibration)
                  for kv in kvs)
    return PoolSide(pctx, pools)


def _formats(table, side: PoolSide) -> np.ndarray:
    """Each row's GEMM format (its engine's), as the enum value."""
    slots = [s for pool in side.pools for s in pool.slots]
    return np.array([s.engine.quant.gemm.value for s in slots], dtype=object)[table.engine_index]


def disagg_cert(req: Request, ctx: Context, servable, in_domain: bool) -> DisaggCert | None:
    """The request's disaggregated pools as a certificate instance (module docstring), or None when no
    engine of either role fits anywhere up to the wide budget (nothing to price). `servable(ctx)`:
    the formats a pool's system can run (sloplan/prove.py)."""
    systems = (req.prefill_system or req.system, req.decode_system or req.system)
    for field, system in zip(("prefill_system", "decode_system"), systems):
        _known(system, field)
    version = _version(req, systems)
    pre = _wide_side(req, ctx, Role.PREFILL, version, servable)
    dec = _wide_side(req, ctx, Role.DECODE, version, servable)
    if not pre.pools or not dec.pools:
        return None
    inst = disagg_instance(req, pre, dec)
    prefill, decode = inst.prefill, inst.decode
    fp, fd = _formats(prefill, pre), _formats(decode, dec)
    planned = [q.gemm.value for q in ctx.quants]
    excluded = {ConstraintGroup.QUANTIZATION: (~np.isin(fp, planned), ~np.isin(fd, planned))}
    alternatives = {q: ("quantization", (fp == q, fd == q)) for q in dict.fromkeys([*fp, *fd]) if q not in planned}
    return DisaggCert(inst, excluded, in_domain, alternatives)
