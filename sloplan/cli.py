"""The `sloplan` command: a thin typer shell over sloplan.api. Exit codes: 0 ok, 1 internal, 2 input, 3 infeasible.

A reader that closes the pipe early (`sloplan solve X | head -1`) is not an error: the command stops writing,
points stdout at /dev/null (so the interpreter's final flush cannot fail either) and exits with the code it
would have had anyway: 0 for a plan, 3 for an infeasible request. Exit 0 rather than 141 (128 + SIGPIPE)
because the reader asked for less, nothing went wrong: a `set -o pipefail` pipeline with `head` succeeds.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional
from collections.abc import Iterator

import typer
from typer.core import TyperGroup

from sloplan.core.enums import Client
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERNAL, EXIT_STOPPED, InputError, one_line, shown_path
from .solver_fields import EXPORT_HELP, EXPORT_TOLERANCE_HELP, SOLVER_HELP, TIME_LIMIT_HELP
from .cli_perfdb import PERFDB_HELP, is_input_error, perfdb_app, use_perfdb
from .cli_collect import collect as _collect
from .cli_size import size as _size
from . import cli_disagg as _disagg
from .cli_prove import register as _register_prove
from .request import Request

_DISAGG = _disagg.OPTIONS  # the --prefill-* / --decode-* flags of `estimate --mode disagg`

EXIT_CODES = ("Exit codes: 0 a plan (or the output asked for); 1 internal error, a bug to report; 2 bad input, "
              "one line on stderr: 'error: <field>: <what is wrong>; accepted: <values>'; 3 infeasible: no "
              "deployment meets the SLOs, the reason on stderr (solve, prove, size); 4 --time-limit ran out before any "
              "plan was found (solve).")


@contextlib.contextmanager
def _reader_may_leave() -> Iterator[None]:
    """Output to a pipe whose reader may close early: stop writing quietly (see the module docstring).
    The explicit flush makes a closed pipe show up here, not at interpreter exit."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _raise_broken_pipe(console) -> None:
    raise BrokenPipeError


class _Group(TyperGroup):
    """Every command's output goes through `_reader_may_leave`: click would turn a closed pipe into exit 1,
    and so would rich, whose consoles call `Console.on_broken_pipe` (its documented hook, which exits 1):
    here it re-raises, so the one policy above decides for every console the commands print through."""

    def invoke(self, ctx):
        from rich.console import Console

        Console.on_broken_pipe = _raise_broken_pipe
        with _reader_may_leave():
            return super().invoke(ctx)


app = typer.Typer(cls=_Group, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES,
                  help="Plan LLM serving deployments: exact Pareto fronts, best deployment under SLOs, launch flags.")
app.add_typer(perfdb_app, name="perfdb")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"sloplan {version('sloplan')}")
        raise typer.Exit(0)


@app.callback()
def _global_options(perfdb: Optional[Path] = typer.Option(None, "--perfdb", envvar="SLOPLAN_PERFDB",
                                                          help=PERFDB_HELP),
                    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                                  help="print 'sloplan <version>' and exit")) -> None:
    use_perfdb(perfdb)


def _fail(code: int, message: str) -> None:
    print(f"error: {message}" if code == EXIT_INPUT else message, file=sys.stderr)
    sys.exit(code)


def _spinner(what: str):
    """A spinner on stderr while work runs (the first run on a system builds its table cache, a few seconds);
    nothing when stderr is not a terminal, so scripts and --json consumers see clean output."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _values(kind: type[Enum]) -> str:
    return ", ".join(m.value for m in kind)


def _default(field: str) -> str:
    """The request schema's default of a field, as a flag would spell it (the one source of defaults)."""
    value = Request.model_fields[field].default
    if isinstance(value, tuple):
        return ",".join(v.value for v in value)
    return value.value if isinstance(value, Enum) else str(value)


def _csv_list(field: str, text: Optional[str], kind: type[Enum]) -> Optional[list[str]]:
    """A comma-list flag: absent → None (the file's value or the default); empty or with an empty item → an
    error naming the flag (silently ignoring `--modes ''` would plan what the user tried to exclude);
    repeated items → once each, in the user's order. The values themselves are the schema's to check."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        what = "item in the list" if any(items) else "list"
        raise InputError(field, f"empty {what} (got {text[:40]!r}); accepted: a comma list of {_values(kind)}")
    return list(dict.fromkeys(items))


def _choice(field: str, value: Optional[str], kind: type[Enum]) -> None:
    if value is not None and value not in {m.value for m in kind}:
        raise InputError(field, f"accepted: {_values(kind)} (got {value[:40]!r})")


def _non_finite_path(doc, where: str = "") -> Optional[str]:
    if isinstance(doc, float) and not math.isfinite(doc):
        return f"{where or 'document'} = {doc}"
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_path(value, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip("."))
        if found:
            return found
    return None


def _print_json(doc: dict) -> None:
    """Standard JSON only: a NaN or an infinity reaching the output is a bug upstream (exit 1 naming where),
    never written as the non-standard `NaN`/`Infinity` that strict parsers reject."""
    try:
        text = json.dumps(doc, indent=2, allow_nan=False)
    except ValueError:
        raise RuntimeError(f"non-finite value in the JSON output: {_non_finite_path(doc)}") from None
    print(text)


_MODEL_HELP = ("HF id, catalog name (see `sloplan models`; other spellings resolve) or a local folder with "
               "config.json")
_SYSTEM_HELP = "GPU system, e.g. h200_sxm (see `sloplan systems`)"
_VERSION_HELP = "framework version of the perf data [default: the newest with data]"
_CLIENT_HELP = (f"what drives the server: {_values(Client)}; serving = benchmark clients over an HTTP front "
                "(its fitted streaming limit applies), offline = a throughput run in the engine's process "
                "(trtllm-bench, vllm bench throughput: no such limit)")
_MOE_HELP = ("MoE layers {what} ways, an integer ≥ 1; moe-tp × moe-ep = tp × dp (the other one is derived) "
             "[default: moe-tp = tp × dp, moe-ep = 1; dense models: 1]")


@app.command(epilog=EXIT_CODES)
def solve(
    request: Optional[Path] = typer.Argument(None, help="YAML request file with the fields below; flags override it"),
    model: Optional[str] = typer.Option(None, help=f"{_MODEL_HELP} [required, here or in the file]"),
    system: Optional[str] = typer.Option(None, help=f"{_SYSTEM_HELP} [required, here or in the file]"),
    backend: Optional[str] = typer.Option(None, help=f"serving framework: {_values(Backend)} "
                                                     f"[default: {_default('backend')}]"),
    version: Optional[str] = typer.Option(None, help=_VERSION_HELP),
    isl: Optional[int] = typer.Option(None, help=f"input tokens per request [default: {_default('isl')}]"),
    osl: Optional[int] = typer.Option(None, help=f"output tokens per request, ≥ 2 [default: {_default('osl')}]"),
    prefix: Optional[int] = typer.Option(None, help="tokens of each input already in the prefix cache, below isl "
                                                    f"[default: {_default('prefix')}]"),
    ttft_ms: Optional[float] = typer.Option(None, help="SLO: time to first token, ms [default: no limit]"),
    tpot_ms: Optional[float] = typer.Option(None, help="SLO: time per output token, ms (tokens/s/user = "
                                                       "1000 / tpot_ms) [default: no limit]"),
    request_latency_ms: Optional[float] = typer.Option(None, help="SLO: whole request, first token to last, ms "
                                                                  "[default: no limit]"),
    total_gpus: Optional[int] = typer.Option(None, help="GPU budget of the deployment [required, here or in the file]"),
    modes: Optional[str] = typer.Option(None, help=f"comma list of serving modes: {_values(ServingMode)} "
                                                   f"[default: {_default('modes')}]"),
    quantizations: Optional[str] = typer.Option(None, help=f"comma list of GEMM formats to plan: {_values(GemmQuant)}"
                                                           " [default: the checkpoint's, plus fp8 for bf16]"),
    max_batch_size: Optional[int] = typer.Option(None, help="most requests in flight per replica, 1-4096 "
                                                            f"[default: {_default('max_batch_size')}]"),
    client: Optional[str] = typer.Option(None, help=f"{_CLIENT_HELP} [default: {_default('client')}]"),
    headroom: Optional[str] = typer.Option(None, help="plan for latencies that much slower: 0.15 or '15%' "
                                                      "(SLO limits / 1.15) [default: none]"),
    min_slack: Optional[str] = typer.Option(None, help="only plans whose latencies may be that much "
                                                       "underestimated, 0.1 or '10%' (exact front) [default: none]"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (standard JSON) instead of tables"),
    plot: Optional[Path] = typer.Option(None, help="also write the front as an image; the extension picks the "
                                                   "format: png, pdf, svg, ... (checked before solving) "
                                                   "[default: no image]"),
    solver: Optional[str] = typer.Option(None, help=SOLVER_HELP),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help=TIME_LIMIT_HELP),
    export: Optional[Path] = typer.Option(None, help=EXPORT_HELP),
    export_tolerance: Optional[float] = typer.Option(None, help=EXPORT_TOLERANCE_HELP),
) -> None:
    """Best deployment under the SLOs and the exact Pareto front (tokens/s/GPU vs tokens/s/user)."""
    flags = dict(model=model, system=system, backend=backend, version=version, isl=isl, osl=osl, prefix=prefix,
                 ttft_ms=ttft_ms, tpot_ms=tpot_ms, request_latency_ms=request_latency_ms, total_gpus=total_gpus,
                 modes=_csv_list("modes", modes, ServingMode),
                 quantizations=_csv_list("quantizations", quantizations, GemmQuant), max_batch_size=max_batch_size,
                 client=client, headroom=headroom, min_slack=min_slack, solver=solver, time_limit_s=time_limit)
    _solve(request, {k: v for k, v in flags.items() if v is not None}, as_json, plot, (export, export_tolerance))


def _solve(request: Optional[Path], flags: dict, as_json: bool, plot: Optional[Path],
           export: tuple[Optional[Path], Optional[float]] = (None, None)) -> None:
    """The file's fields with the flags over them, validated once; the plot target checked before the
    solve; the result printed; exit 3 with one stderr line when nothing meets the SLOs."""
    from .request import load_request, parse_request

    base = load_request(request).model_dump(exclude_unset=True) if request else {}
    req = parse_request({**base, **flags})
    plot_format = None
    if plot is not None:
        from .plot import check_plot_target

        plot_format = check_plot_target(plot)
    if export != (None, None):
        from .model_export import check_export_target

        check_export_target(*export)
    from .api import solve as run

    with _spinner("solving"):
        result = run(req, export=export[0], export_tolerance=export[1])
    with _reader_may_leave():
        if as_json:
            _print_json(result.to_dict())
        else:
            from .report import print_solve

            print_solve(result)
    note = _plot_note(result, plot, plot_format) if plot is not None else None
    if result.best is None and not result.proved:
        print(f"stopped: no plan found within the time limit ({req.time_limit_s:g} s)", file=sys.stderr)
        raise typer.Exit(EXIT_STOPPED)
    if result.best is None:
        line = None if as_json else f"infeasible: {result.infeasible_reason}"
        line = "; ".join(x for x in (line, note) if x)  # one line on stderr, whatever was asked
        if line:
            print(line, file=sys.stderr)
        raise typer.Exit(EXIT_INFEASIBLE)
    if note:
        print(note, file=sys.stderr)


def _plot_note(result, plot: Path, plot_format: str) -> str:
    """Write the plot when there is a front to draw; the line saying where it went, or why there is none
    (an infeasible request has an empty front: an empty image would say nothing)."""
    from .plot import plot_front

    if not result.front:
        return "no plot written: no deployment meets the SLOs, the front is empty"
    plot_front(result, plot, plot_format)
    return f"front plotted → {shown_path(plot)}"


@app.command(epilog=EXIT_CODES)
def estimate(
    model: Optional[str] = typer.Option(None, help=f"{_MODEL_HELP} [required unless --from-csv]"),
    system: Optional[str] = typer.Option(None, help=f"{_SYSTEM_HELP} [required unless --from-csv]"),
    backend: str = typer.Option(Backend.TRTLLM.value, help=f"serving framework: {_values(Backend)}"),
    version: Optional[str] = typer.Option(None, help=_VERSION_HELP),
    tp: int = typer.Option(1, help="tensor-parallel GPUs per replica"),
    pp: int = typer.Option(1, help="pipeline-parallel stages per replica (GPUs per replica = tp × pp × dp)"),
    dp: int = typer.Option(1, help="attention data-parallel copies per replica, each of tp GPUs, an integer ≥ 1 "
                                   "(MoE models only)"),
    moe_tp: Optional[int] = typer.Option(None, help=_MOE_HELP.format(what="tensor-parallel")),
    moe_ep: Optional[int] = typer.Option(None, help=_MOE_HELP.format(what="expert-parallel")),
    client: str = typer.Option(Client.SERVING.value, help=_CLIENT_HELP + "; with --from-csv, a 'client' column "
                                                                          "overrides it per row"),
    quant: Optional[str] = typer.Option(None, help=f"GEMM format: {_values(GemmQuant)} [default: the checkpoint's]"),
    mode: str = typer.Option(ServingMode.AGG.value, help=f"serving mode: {_disagg.ONE_REPLICA}, disagg (prefill "
                                                         "and decode workers: the --prefill-* / --decode-* flags)"),
    concurrency: Optional[int] = typer.Option(None, help="requests in flight on the replica (static: the batch size; "
                                                         "disagg: closed-loop clients) [default: 1; disagg: one per "
                                                         "decode slot]"),
    isl: int = typer.Option(4000, help="input tokens per request"),
    osl: int = typer.Option(1000, help="output tokens per request"),
    prefix: int = typer.Option(0, help="tokens of each input already in the prefix cache, below isl"),
    from_csv: Optional[Path] = typer.Option(None, help="CSV with silicon_sample.csv's columns: predict every row "
                                                       "(needs --out; the flags above are not used) "
                                                       "[default: none, one configuration from the flags]"),
    out: Optional[Path] = typer.Option(None, help="where --from-csv writes its predictions (CSV) "
                                                  "[required with --from-csv, refused without]"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (standard JSON) instead of a table"),
    prefill_tp: Optional[int] = _DISAGG["prefill_tp"], prefill_pp: Optional[int] = _DISAGG["prefill_pp"],
    prefill_dp: Optional[int] = _DISAGG["prefill_dp"], prefill_moe_tp: Optional[int] = _DISAGG["prefill_moe_tp"],
    prefill_moe_ep: Optional[int] = _DISAGG["prefill_moe_ep"], prefill_batch: Optional[int] = _DISAGG["prefill_batch"],
    prefill_workers: Optional[int] = _DISAGG["prefill_workers"], decode_tp: Optional[int] = _DISAGG["decode_tp"],
    decode_pp: Optional[int] = _DISAGG["decode_pp"], decode_dp: Optional[int] = _DISAGG["decode_dp"],
    decode_moe_tp: Optional[int] = _DISAGG["decode_moe_tp"], decode_moe_ep: Optional[int] = _DISAGG["decode_moe_ep"],
    decode_batch: Optional[int] = _DISAGG["decode_batch"], decode_workers: Optional[int] = _DISAGG["decode_workers"],
) -> None:
    """Metrics of one configuration, or of every row of a CSV (--from-csv IN --out PRED.csv)."""
    flags = {k: v for k, v in locals().items() if k in _disagg.OPTIONS}
    _choice("client", client, Client)
    if from_csv:
        return _estimate_csv(from_csv, out, Client(client))
    if out is not None:
        raise InputError("out", "only --from-csv writes a file; accepted: --from-csv IN.csv --out PRED.csv")
    if not model or not system:
        raise InputError("model" if not model else "system", "required (or use --from-csv FILE --out PRED.csv)")
    if mode not in {m.value for m in ServingMode} | {"disagg"}:
        raise InputError("mode", f"accepted: {_disagg.ONE_REPLICA}, disagg (got {mode[:40]!r})")
    _disagg.check_flags(mode, flags, {"tp": tp, "pp": pp, "dp": dp, "moe_tp": moe_tp, "moe_ep": moe_ep})
    if mode == "disagg":  # sloplan/cli_disagg.py
        for name, value, kind in (("backend", backend, Backend), ("quant", quant, GemmQuant)):
            _choice(name, value, kind)
        return _disagg.run(dict(model=model, system=system, backend=backend, version=version, quant=quant, isl=isl,
                                osl=osl, prefix=prefix, client=client), flags, concurrency, as_json, _print_json)
    from .estimation import estimate as run

    for name, value, kind in (("backend", backend, Backend), ("mode", mode, ServingMode), ("quant", quant, GemmQuant)):
        _choice(name, value, kind)
    est = run(model, system, backend, tp=tp, pp=pp, quant=quant, mode=mode, concurrency=1 if concurrency is None
              else concurrency, isl=isl, osl=osl, prefix=prefix, version=version, dp=dp, moe_tp=moe_tp, moe_ep=moe_ep,
              client=client)
    if as_json:
        _print_json(est.to_dict())
    else:
        from .report import print_estimate

        print_estimate(est)


def _estimate_csv(src: Path, out: Optional[Path], client: Client) -> None:
    """Predict every row of `src` into `out`. Progress goes to stderr: a bar on a terminal, else a plain
    line every few seconds (scripts run long CSVs too, and a silent minute looks like a hang)."""
    if out is None:
        raise InputError("out", "--from-csv needs --out PRED.csv")
    from .estimate_rows import estimate_csv, every

    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            def track(total: int):
                task = bar.add_task("estimating", total=total)
                return lambda n: bar.advance(task, n)

            n, ok = estimate_csv(src, out, progress=track, client=client)
    else:
        n, ok = estimate_csv(src, out, progress=every(5.0, lambda line: print(line, file=sys.stderr, flush=True)),
                             client=client)
    print(f"{ok}/{n} rows predicted → {out}", file=sys.stderr)


@app.command()
def systems() -> None:
    """GPU systems in the catalog, with the silicon data each has."""
    from .report import print_systems

    print_systems()


@app.command()
def models() -> None:
    """Models the offline catalog knows (any local folder with config.json also works)."""
    from .report import print_models

    print_models()


app.command("collect")(_collect)
app.command("size", epilog=EXIT_CODES)(_size)
_register_prove(app, solve, EXIT_CODES)


def main() -> None:
    """Entry point: map our exceptions to exit codes with one line and no traceback."""
    try:
        sys.exit(app(standalone_mode=False, prog_name="sloplan") or 0)
    except InputError as exc:
        _fail(EXIT_INPUT, str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # a write outside the commands' guard (see the module docstring)
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # click usage errors carry their own exit code
        if is_input_error(exc):
            _fail(EXIT_INPUT, _named(exc))
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "format_message"):
            _fail_usage(exc)
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)


def _named(exc: Exception) -> str:
    """A perfdb input error's message as `field: …` (a perf-table problem reads `perfdb: perf table …`)."""
    field, text = getattr(exc, "field", None), str(exc)
    return one_line(text if not field or text.startswith(f"{field}:") else f"{field}: {text}")


def _usage_field(exc) -> str:
    """What a click usage error is about, as the user typed it: the option (`--tp`), else the command line."""
    name = getattr(exc, "option_name", None)  # NoSuchOption, and click's "requires an argument"
    param = getattr(exc, "param", None)
    if not name and param is not None:
        name = max(getattr(param, "opts", None) or [param.name or ""], key=len)
    if not name and getattr(exc, "ctx", None) is not None:  # extra arguments: the command's positional one
        name = next((p.name for p in exc.ctx.command.params if p.param_type_name == "argument"), None)
    return name or "arguments"


def _fail_usage(exc) -> None:
    """A click usage error in the project's shape: `error: --tp: …; accepted: …`, one bounded line."""
    field = _usage_field(exc)
    message = exc.format_message()
    if type(exc).__name__ == "NoSuchOption":
        near = ", ".join(sorted(getattr(exc, "possibilities", None) or ()))
        message = "no such option" + (f" (did you mean {near}?)" if near else "")
    for prefix in (f"Invalid value for '{field}': ", f"Option '{field}' "):
        message = message.removeprefix(prefix)
    message = message[:1].lower() + message[1:].rstrip(".")
    helped = f"{exc.ctx.command_path} --help" if getattr(exc, "ctx", None) else "sloplan --help"
    print(f"error: {shown_path(field, 60)}: {shown_path(message, 400)}; accepted: see {helped}", file=sys.stderr)
    sys.exit(EXIT_INPUT)
