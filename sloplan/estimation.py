"""`estimate`: one configuration's metrics, or many at once from a CSV in silicon_sample.csv's columns."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from sloplan.model.engine import Engine, invalid_reason
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.ops import source_label
from sloplan.model.options import EngineSlot, engine_slot, evaluate
from sloplan.model.quant import GemmQuant
from sloplan.perfdb import Tier, nearest_version

from .context import Context, build_context
from .errors import InputError
from .result import Estimate


def configure(model: str, system: str, backend: Backend, *, tp: int, pp: int, quant: GemmQuant | None, isl: int,
              osl: int, prefix: int = 0, version: str | None = None,
              max_batch_size: int | None = None) -> tuple[Context, EngineSlot]:
    """Resolve one explicit configuration to its context and engine slot (memory + running cap)."""
    for name, v in (("tp", tp), ("pp", pp), ("isl", isl)):
        if v < 1:
            raise InputError(name, f"must be ≥ 1 (got {v})")
    if osl < 2:
        raise InputError("osl", f"must be ≥ 2 (got {osl})")
    ctx = build_context(model, system, backend, version, isl, osl, prefix, (quant,) if quant else None, "quant")
    engine = Engine(tp, pp, ctx.quants[0])
    why = invalid_reason(engine, ctx.arch, ctx.system.gpus_per_node)
    if why:
        raise InputError("tp", why)
    slot = engine_slot(ctx.arch, engine, ctx.system, ctx.fw, ctx.workload, max_batch_size)
    if isinstance(slot, str):
        raise InputError("tp", f"{engine.label} does not fit {ctx.arch.name} on {system}: {slot}")
    return ctx, slot


def estimate(model: str, system: str, backend: Backend | str = Backend.TRTLLM, *, tp: int = 1, pp: int = 1,
             quant: GemmQuant | str | None = None, mode: ServingMode | str = ServingMode.AGG, concurrency: int = 1,
             isl: int = 4000, osl: int = 1000, prefix: int = 0, version: str | None = None,
             max_batch_size: int | None = None) -> Estimate:
    """TTFT, TPOT, tokens/s/GPU, tokens/s/user and memory of one engine at one concurrency."""
    backend, mode = Backend(backend), ServingMode(mode)
    if concurrency < 1:
        raise InputError("concurrency", f"must be ≥ 1 (got {concurrency})")
    ctx, slot = configure(model, system, backend, tp=tp, pp=pp, quant=GemmQuant(quant) if quant else None, isl=isl,
                          osl=osl, prefix=prefix, version=version, max_batch_size=max_batch_size)
    m = evaluate(ctx.arch, slot, ctx.db, ctx.fw, ctx.workload, mode, np.array([concurrency]))
    ttft, tpot = float(m.ttft_s[0]), float(m.tpot_s[0])
    return Estimate(model=model, system=system, backend=backend.value, data_version=ctx.db.version, mode=mode.value,
                    engine=slot.engine.label, concurrency=concurrency, running=int(m.running[0]),
                    ttft_ms=ttft * 1e3, tpot_ms=tpot * 1e3, request_latency_ms=(ttft + (osl - 1) * tpot) * 1e3,
                    tokens_per_s_per_user=1.0 / tpot,
                    tokens_per_s_per_gpu=float(m.tokens_per_s[0]) / slot.engine.gpus,
                    tier=Tier(int(m.tier[0])).label, tier_source=source_label(m.tier[0], m.source[0]),
                    memory_gib=slot.memory.as_gib,
                    frontend_load=ctx.calibration.frontend_load(float(m.tokens_per_s[0])))


def row_config(row: dict) -> dict:
    """Keyword arguments of `configure` for one silicon_sample-style row (raises on what it cannot read)."""
    if (row.get("mode") or "agg") != "agg":
        raise InputError("mode", "only aggregated rows are estimated in this release")
    backend = Backend(row["backend"])
    version = (row.get("backend_version") or "").strip() or None
    qname = (row.get("gemm_quant_mode") or "").strip().lower()
    return dict(model=row["model_path"], system=row["system"], backend=backend,
                tp=int(_num(row, "tp_size", 1)), pp=int(_num(row, "pp_size", 1)),
                quant=_QUANT_COLUMN.get(qname) if qname else None, isl=int(_num(row, "isl")), osl=int(_num(row, "osl")),
                version=nearest_version(row["system"], backend.value, version) if version else None)


_QUANT_COLUMN = {"fp8": GemmQuant.FP8, "fp8_block": GemmQuant.FP8_BLOCK, "nvfp4": GemmQuant.NVFP4,
                 "bf16": GemmQuant.BF16, "bfloat16": GemmQuant.BF16, "float16": GemmQuant.BF16}


def _num(row: dict, key: str, default: float | None = None) -> float | None:
    v = (row.get(key) or "").strip()
    if not v:
        return default
    x = float(v)
    return default if math.isnan(x) else x


def estimate_row(row: dict) -> dict:
    """Predict one silicon_sample-style row; returns pred_ttft_ms, pred_tpot_ms, data_version, error."""
    try:
        cfg = row_config(row)
        est = estimate(**cfg, mode=ServingMode.AGG, concurrency=int(_num(row, "batch_size", 1)))
        return {"pred_ttft_ms": f"{est.ttft_ms:.4f}", "pred_tpot_ms": f"{est.tpot_ms:.4f}",
                "data_version": est.data_version, "error": ""}
    except (InputError, ValueError, KeyError, TypeError) as exc:
        return {"pred_ttft_ms": "", "pred_tpot_ms": "", "data_version": "", "error": f"{type(exc).__name__}: {exc}"}


def estimate_csv(src: Path, out: Path, progress=None) -> tuple[int, int]:
    """Read rows, predict each, write all input columns plus predictions; returns (rows, predicted).
    `progress(total)`, when given, returns the callable to advance after each row."""
    if not src.is_file():
        raise InputError("from_csv", f"file not found: {src}")
    if not out.parent.is_dir():
        raise InputError("out", f"directory not found: {out.parent}")
    try:
        with open(src, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError("from_csv", f"not a text CSV file: {src} ({exc.__class__.__name__})") from None
    missing = [c for c in ("model_path", "system", "backend", "isl", "osl") if c not in fields]
    if missing:
        raise InputError("from_csv", f"missing columns {', '.join(missing)}; the input uses silicon_sample.csv's columns")
    extra = ["pred_ttft_ms", "pred_tpot_ms", "data_version", "error"]
    advance = progress(len(rows)) if progress else lambda: None
    results = []
    for row in rows:
        results.append({**row, **estimate_row(row)})
        advance()
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields + [c for c in extra if c not in fields])
        w.writeheader()
        w.writerows(results)
    tmp.replace(out)
    return len(rows), sum(1 for r in results if not r["error"])
