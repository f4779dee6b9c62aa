"""One collection: choose the grids, measure every case through a backend, write tables and metadata.

`collect` takes the backend as an argument (the torch one in production, a fake in tests), so everything
except the timer itself is exercised without a GPU. An interrupted run (Ctrl-C) still writes what it has
measured, marked `partial`, before the interrupt propagates.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from . import grid as g
from . import schema as s
from .rows import Measured, attention_row, gemm_row, nccl_row
from .timing import FULL_TIMING, QUICK_TIMING, TimingConfig
from .writer import collection_meta, write_meta, write_table

OPS = ("gemm", "attention", "nccl")
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp8": "fp8"}
META_FILE = "collection_meta.yaml"
_SYSTEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CollectOptionError(ValueError):
    """A bad option value: names the field and what is accepted (the CLI prints it, exit code 2)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def parse_list(text: str, accepted, field: str) -> tuple[str, ...]:
    """Comma list → tuple (order kept, duplicates dropped); `accepted` may map aliases to table spellings."""
    items = [t.strip().lower() for t in (text or "").split(",") if t.strip()]
    bad = [t for t in items if t not in accepted]
    if not items or bad:
        shown = ", ".join(accepted)
        raise CollectOptionError(field, f"accepted: {shown} (got {text!r})")
    mapped = [accepted[t] if isinstance(accepted, dict) else t for t in items]
    return tuple(dict.fromkeys(mapped))


def check_system_name(name: str) -> str:
    """A folder name (it becomes `<out>/<system>/`): letters, digits, `_ . -`, like the wheel's `h200_sxm`."""
    if not _SYSTEM_RE.match(name or ""):
        raise CollectOptionError("system-name", f"letters, digits, '_', '.', '-' (e.g. h100_sxm); got {name!r}")
    return name


@dataclass(frozen=True)
class CollectRequest:
    system: str
    out: Path
    ops: tuple[str, ...] = OPS
    dtypes: tuple[str, ...] = ("bfloat16", "fp8")
    quick: bool = False
    budget_bytes: int | None = None        # per-case tensor bytes; None → min(16 GiB, GPU memory / 4)
    timing: TimingConfig | None = None     # None → FULL_TIMING, or QUICK_TIMING with quick

    @property
    def timing_config(self) -> TimingConfig:
        return self.timing or (QUICK_TIMING if self.quick else FULL_TIMING)


@dataclass(frozen=True)
class TableResult:
    name: str
    path: Path
    rows: int
    skipped: int
    status: str            # "complete" | "partial"


@dataclass(frozen=True)
class CollectSummary:
    tables: tuple[TableResult, ...]
    meta_paths: tuple[Path, ...]
    messages: tuple[str, ...]


def plan_cases(request: CollectRequest, device) -> tuple[dict[str, tuple], list[str]]:
    """Table name → cases to measure, and notes about what is left out on this machine (and why)."""
    budget = request.budget_bytes or min(g.DEFAULT_BUDGET_BYTES, device.memory_bytes // 4)
    plans, notes = {}, []
    if "gemm" in request.ops:
        dtypes = [d for d in request.dtypes if d != "fp8" or device.supports_fp8]
        if len(dtypes) < len(request.dtypes):
            notes.append(f"fp8 GEMM skipped: {device.gpu_name} (SM {device.compute_capability}) has no FP8 "
                         "tensor cores (needs SM 8.9+)")
        if dtypes:
            plans[s.GEMM.name] = g.gemm_grid(tuple(dtypes), request.quick, budget)
    if "attention" in request.ops:
        plans[s.CONTEXT_ATTENTION.name] = g.context_grid(request.quick, budget)
        plans[s.GENERATION_ATTENTION.name] = g.generation_grid(request.quick, budget)
        if "fp8" in request.dtypes:
            notes.append("attention is collected in bf16 only (SDPA has no fp8 KV-cache path)")
    if "nccl" in request.ops:
        cases = g.nccl_grid(device.gpu_count, request.quick)
        if cases:
            plans[s.NCCL.name] = cases
        else:
            notes.append(f"NCCL skipped: {device.gpu_count} GPU visible; collectives need at least 2")
    return plans, notes


def _measure(table: str, cases: tuple, backend, progress) -> tuple[list[Measured], bool]:
    """Measure cases in order; on Ctrl-C return what was measured so far and interrupted=True."""
    if table == s.NCCL.name:
        return list(backend.nccl(cases)), False
    measure = backend.gemm if table == s.GEMM.name else backend.attention
    done: list[Measured] = []
    try:
        for i, case in enumerate(cases):
            done.append(measure(case))
            if progress:
                progress(table, i + 1, len(cases))
    except KeyboardInterrupt:
        return done, True
    return done, False


def _rows(table: str, cases: tuple, measured: list[Measured], device) -> list[dict]:
    build = {s.GEMM.name: gemm_row, s.CONTEXT_ATTENTION.name: attention_row,
             s.GENERATION_ATTENTION.name: attention_row, s.NCCL.name: nccl_row}[table]
    version = device.nccl_version if table == s.NCCL.name else device.torch_version
    return [build(c, m, version, device.gpu_name) for c, m in zip(cases, measured) if m.latency_s is not None]


def grid_summary(cases: tuple) -> dict:
    """Distinct values of every key of the cases (recorded in the metadata so a run can be reproduced)."""
    fields = [f.name for f in dataclasses.fields(cases[0])] if cases else []
    return {"cases": len(cases), **{f: sorted({getattr(c, f) for c in cases}) for f in fields}}


def _details(request: CollectRequest, device, grids: dict, skipped: dict, notes: list[str]) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        sloplan_version = version("sloplan")
    except PackageNotFoundError:
        sloplan_version = "unknown"
    return {"tool": "sloplan collect", "sloplan_version": sloplan_version,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "system_name": request.system, "gpu": device.gpu_name, "gpu_count": device.gpu_count,
            "compute_capability": device.compute_capability, "gpu_memory_bytes": device.memory_bytes,
            "driver": device.driver, "cuda": device.cuda, "torch": device.torch_version,
            "nccl": device.nccl_version, "quick": request.quick, "timing": request.timing_config.as_dict(),
            "grid": grids, "skipped": skipped, "notes": list(notes)}


def _write_all(request, device, results: dict, notes: list[str]) -> CollectSummary:
    """Write each table, then one collection_meta.yaml per version folder listing the tables in it."""
    by_dir: dict[Path, dict[str, str]] = defaultdict(dict)
    grids: dict[Path, dict] = defaultdict(dict)
    skipped: dict[Path, dict] = defaultdict(dict)
    tables = []
    for name, (cases, measured, interrupted) in results.items():
        table = s.TABLES[name]
        rows = _rows(name, cases, measured, device)
        miss = [m.reason for m in measured if m.latency_s is None]
        status = "partial" if (request.quick or interrupted or miss or len(measured) < len(cases)) else "complete"
        path = s.table_path(request.out, request.system, table, device.torch_version, device.nccl_version)
        if not rows:
            notes.append(f"{name}: nothing measured ({miss[0] if miss else 'interrupted'}); no file written")
            continue
        write_table(path, table, rows)
        tables.append(TableResult(name, path, len(rows), len(cases) - len(rows), status))
        by_dir[path.parent][name] = status
        grids[path.parent][name] = grid_summary(cases)
        skipped[path.parent][name] = {"count": len(miss), "reasons": sorted(set(miss))[:10]}
    metas = []
    for folder, statuses in by_dir.items():
        framework = folder.parent.name
        details = _details(request, device, grids[folder], skipped[folder], notes)
        metas.append(write_meta(folder / META_FILE, collection_meta(framework, folder.name, statuses, details)))
    return CollectSummary(tuple(tables), tuple(metas), tuple(notes))


def collect(request: CollectRequest, backend, progress: Callable | None = None) -> CollectSummary:
    """Measure the requested ops with `backend` and write the tables; re-raises Ctrl-C after writing."""
    device = backend.device
    plans, notes = plan_cases(request, device)
    results, interrupted = {}, False
    for name, cases in plans.items():
        measured, interrupted = _measure(name, cases, backend, progress)
        results[name] = (cases, measured, interrupted)
        if interrupted:
            break
    summary = _write_all(request, device, results, notes)
    if interrupted:
        raise KeyboardInterrupt
    return summary


def run_collect(request: CollectRequest, progress: Callable | None = None) -> CollectSummary:
    """The production path: open the GPU (imports torch; CollectorUnavailable if it cannot) and collect."""
    from .backend import TorchBackend
    from .probe import open_device

    torch, device = open_device()
    return collect(request, TorchBackend(torch, device, request.timing_config), progress)
