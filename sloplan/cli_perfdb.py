"""`sloplan perfdb …`: one primitive latency with its tier (`query`), and what data a system has (`coverage`).

Also the plumbing of the global `--perfdb DIR` option (user tables over the shipped ones). Kept apart from
cli.py so the main CLI only registers it. perfdb is imported inside the commands: `sloplan --help` stays fast.
"""

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from sloplan.model.framework import Backend  # the model's enums are the CLI's choices: one list of each
from sloplan.model.quant import GemmQuant, KvDtype

from .errors import InputError

perfdb_app = typer.Typer(no_args_is_help=True, help="Primitive latencies: query one, list what data a system has.")
query_app = typer.Typer(no_args_is_help=True, help="Latency of one primitive, with its source tier.")
perfdb_app.add_typer(query_app, name="query")

PERFDB_HELP = ("folder of your own perf tables laid over the shipped ones, same layout: "
               "DIR/<system>/<family>/<framework>/<version>/*.parquet")


System = Annotated[str, typer.Option(help="catalog system (sloplan systems)")]
BackendOpt = Annotated[Optional[Backend], typer.Option(
    help="serving framework [default: the first one the system runs, trtllm on NVIDIA]")]
Version = Annotated[Optional[str], typer.Option(help="framework version (default: newest with data)")]
Json = Annotated[bool, typer.Option("--json", help="print one JSON document")]
Heads = Annotated[int, typer.Option(min=1, help="query heads (per GPU)")]
KvHeads = Annotated[int, typer.Option(min=1, help="KV heads (per GPU)")]
HeadDim = Annotated[int, typer.Option(min=1)]
Window = Annotated[int, typer.Option(min=0, help="sliding window in tokens (0: full attention)")]
KvDtypeOpt = Annotated[KvDtype, typer.Option(help="KV-cache dtype")]


# --------------------------------------------------------------------------- global --perfdb plumbing
def use_perfdb(path: Optional[Path]) -> None:
    """Apply `--perfdb DIR` / $SLOPLAN_PERFDB for this process; a bad folder is one line, exit 2."""
    warnings.showwarning = _show_warning
    if path is None:
        return
    from sloplan.perfdb import BadOverlay, set_overlay

    try:
        set_overlay(path)
    except BadOverlay as exc:
        raise InputError("perfdb", str(exc).removeprefix("perfdb: ")) from None


def is_input_error(exc: BaseException) -> bool:
    """Bad perf data / bad overlay / unknown system or version raised from perfdb: the user's input (exit 2).

    Checked through sys.modules so this never imports perfdb: if the module is not loaded, it raised nothing.
    """
    errors, validate, ov = (sys.modules.get(f"sloplan.perfdb.{m}") for m in ("errors", "validate", "overlay"))
    kinds = tuple(k for k in (getattr(errors, "PerfDBInputError", None), getattr(validate, "BadPerfData", None),
                              getattr(ov, "BadOverlay", None)) if k is not None)
    return bool(kinds) and isinstance(exc, kinds)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Perf-data warnings as one line on stderr (no source line echo)."""
    print(f"warning: {message}", file=file or sys.stderr)


# --------------------------------------------------------------------------- query
def _load(system: str, backend: Optional[Backend], version: Optional[str]):
    from .context import resolve_db

    return resolve_db(system, backend, version)


def _format_s(seconds: float) -> str:
    """µs below 1 ms, else ms (output edge only; SI seconds inside)."""
    return f"{seconds * 1e6:.2f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def _answer(primitive: str, params: dict, system: str, backend: Optional[Backend], version: Optional[str],
            as_json: bool, ask: Callable) -> None:
    """Load the db, ask it one scalar question, print latency + tier (+ the kernel lane behind it)."""
    db = _load(system, backend, version)
    lk = ask(db)
    latency_s, tier = float(lk.latency_s.ravel()[0]), lk.worst_tier().label
    doc = {"primitive": primitive, "system": system, "backend": db.backend, "version": db.version,
           "params": params, "latency_s": latency_s, "tier": tier}
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    print(f"{primitive} {shown} · {system} {db.backend} {db.version}: {_format_s(latency_s)} ({tier})")


@query_app.command("gemm")
def query_gemm(system: System, backend: BackendOpt = None, version: Version = None,
               m: Annotated[int, typer.Option(min=1, help="tokens (rows of A)")] = 1,
               n: Annotated[int, typer.Option(min=1, help="output features")] = 4096,
               k: Annotated[int, typer.Option(min=1, help="input features")] = 4096,
               dtype: Annotated[GemmQuant, typer.Option(help="GEMM compute dtype")] = GemmQuant.BF16,
               as_json: Json = False) -> None:
    """[m,k]×[k,n] GEMM."""
    _answer("gemm", dict(m=m, n=n, k=k, dtype=dtype.value), system, backend, version, as_json,
            lambda db: db.gemm([m], n, k, dtype.value))


@query_app.command("context-attention")
def query_context(system: System, backend: BackendOpt = None, version: Version = None,
                  batch: Annotated[int, typer.Option(min=1)] = 1,
                  isl: Annotated[int, typer.Option(min=1, help="new tokens per request")] = 4096,
                  prefix: Annotated[int, typer.Option(min=0, help="cached prefix tokens per request")] = 0,
                  heads: Heads = 32, kv_heads: KvHeads = 8, head_dim: HeadDim = 128, window: Window = 0,
                  kv_dtype: KvDtypeOpt = KvDtype.BF16, as_json: Json = False) -> None:
    """Prefill attention of one layer."""
    params = dict(batch=batch, isl=isl, prefix=prefix, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                  window=window, kv_dtype=kv_dtype.value)
    _answer("context-attention", params, system, backend, version, as_json,
            lambda db: db.context_attention([batch], [isl], [prefix], heads, kv_heads, head_dim, window,
                                            kv_dtype.value))


@query_app.command("generation-attention")
def query_generation(system: System, backend: BackendOpt = None, version: Version = None,
                     batch: Annotated[int, typer.Option(min=1)] = 1,
                     kv_len: Annotated[int, typer.Option(min=1, help="cached tokens per request")] = 4096,
                     heads: Heads = 32, kv_heads: KvHeads = 8, head_dim: HeadDim = 128, window: Window = 0,
                     kv_dtype: KvDtypeOpt = KvDtype.BF16, as_json: Json = False) -> None:
    """One decode step of attention of one layer."""
    params = dict(batch=batch, kv_len=kv_len, heads=heads, kv_heads=kv_heads, head_dim=head_dim, window=window,
                  kv_dtype=kv_dtype.value)
    _answer("generation-attention", params, system, backend, version, as_json,
            lambda db: db.generation_attention([batch], [kv_len], heads, kv_heads, head_dim, window,
                                               kv_dtype.value))


@query_app.command("all-reduce")
def query_all_reduce(system: System, backend: BackendOpt = None, version: Version = None,
                     elements: Annotated[int, typer.Option(min=1, help="bf16 elements in the message")] = 1 << 20,
                     gpus: Annotated[int, typer.Option(min=1, help="GPUs in the all-reduce")] = 8,
                     as_json: Json = False) -> None:
    """bf16 all-reduce (custom all-reduce, else NCCL)."""
    _answer("all-reduce", dict(elements=elements, gpus=gpus), system, backend, version, as_json,
            lambda db: db.all_reduce([elements], gpus))


# --------------------------------------------------------------------------- coverage
@perfdb_app.command("coverage")
def coverage_cmd(system: System, backend: Annotated[Optional[Backend], typer.Option(help="only this framework")] = None,
                 as_json: Json = False) -> None:
    """Which table families, versions and dtypes a system has, per framework, and which sloplan reads."""
    from .coverage_report import coverage_rows, print_coverage

    rows = coverage_rows(system, backend.value if backend else None)
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print_coverage(system, rows)
