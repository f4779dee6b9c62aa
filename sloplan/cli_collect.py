"""`sloplan collect`: profile primitives on the local NVIDIA GPU and write perf tables (the wheel's schema).

Kept out of cli.py so the command's options live next to its messages. Nothing here imports torch or the
collector at module level: `sloplan --help` must stay fast and must work where torch is not installed.
"""

import sys
from pathlib import Path

import typer

from .errors import EXIT_INPUT, InputError


def _progress():
    """A progress printer to stderr: one line per table at most every 5 % (no bar: runs last hours in logs)."""
    last: dict[str, int] = {}

    def show(table: str, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if done == total or pct // 5 > last.get(table, -1):
            last[table] = pct // 5
            print(f"collect: {table} {done}/{total} ({pct}%)", file=sys.stderr, flush=True)

    return show


def collect(
    system_name: str = typer.Option(..., "--system-name", help="folder name for this GPU system, e.g. h100_sxm"),
    ops: str = typer.Option("gemm,attention,nccl", help="comma list of gemm, attention, nccl"),
    out: Path = typer.Option(Path("perfdata"), help="output folder (pass it to --perfdb later)"),
    dtypes: str = typer.Option("bf16,fp8", help="GEMM dtypes: bf16, fp8 (fp8 needs SM 8.9+)"),
    quick: bool = typer.Option(False, "--quick", help="a small subset of the grid (a few minutes)"),
) -> None:
    """Profile GEMM / attention / NCCL on the local NVIDIA GPU with PyTorch and write perf tables.

    Writes <out>/<system>/<family>/torch/<torch version>/<table>_perf.parquet (NCCL: comm/nccl/<nccl
    version>/) and a collection_meta.yaml beside each, in aiconfigurator-core's schema.
    """
    from sloplan.perfdb.collector import (DTYPES, OPS, CollectOptionError, CollectorUnavailable, CollectRequest,
                                          check_system_name, parse_list, run_collect)

    try:
        request = CollectRequest(system=check_system_name(system_name), out=out,
                                 ops=parse_list(ops, OPS, "ops"), dtypes=parse_list(dtypes, DTYPES, "dtypes"),
                                 quick=quick)
    except CollectOptionError as exc:
        raise InputError(exc.field, str(exc).split(": ", 1)[1]) from None
    try:
        summary = run_collect(request, progress=_progress())
    except CollectorUnavailable as exc:
        print(f"collect: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INPUT) from None
    for note in summary.messages:
        print(f"collect: {note}", file=sys.stderr)
    for t in summary.tables:
        print(f"{t.name}: {t.rows} rows ({t.skipped} skipped, {t.status}) → {t.path}")
    for meta in summary.meta_paths:
        print(f"metadata → {meta}")
    _note_if_not_in_catalog(request.system)


def _note_if_not_in_catalog(system: str) -> None:
    """perfdb's --perfdb overlay reads `DIR/<system>/` only for catalog system names: say so, don't refuse
    (a GPU outside the catalog can still be collected and its tables compared by hand)."""
    from sloplan.perfdb import list_systems

    systems = list_systems()
    if system not in systems:
        print(f"collect: note: {system!r} is not a catalog system ({', '.join(systems)}); "
              "--perfdb reads a folder only under a catalog name", file=sys.stderr)
