"""The `sloplan` command: a thin typer shell over sloplan.api. Exit codes: 0 ok, 1 internal, 2 input, 3 infeasible.

A reader that closes the pipe early (`sloplan solve X | head -1`) is not an error: the command stops writing,
points stdout at /dev/null (so the interpreter's final flush cannot fail either) and exits with the code it
would have had anyway: 0 for a plan, 3 for an infeasible request. Exit 0 rather than 141 (128 + SIGPIPE)
because the reader asked for less, nothing went wrong: a `set -o pipefail` pipeline with `head` succeeds.
"""

import contextlib
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERNAL, EXIT_STOPPED, InputError, shown_path
from .solver_fields import EXPORT_HELP, EXPORT_TOLERANCE_HELP, SOLVER_HELP, TIME_LIMIT_HELP
from .cli_errors import fail, fail_usage, named
from .cli_flags import CLIENT_HELP, MODEL_HELP, SYSTEM_HELP, VERSION_HELP, csv_list, enum_values, schema_default
from .cli_narrow import narrowed
from .cli_output import print_json, reader_may_leave, spinner
from .cli_perfdb import PERFDB_HELP, is_input_error, perfdb_app, use_perfdb
from .cli_collect import collect as _collect
from .cli_estimate import estimate as _estimate
from .cli_size import size as _size
from .cli_prove import register as _register_prove


EXIT_CODES = ("Exit codes: 0 a plan (or the output asked for); 1 internal error, a bug to report; 2 bad input, "
              "one line on stderr: 'error: <field>: <what is wrong>; accepted: <values>'; 3 infeasible: no "
              "deployment meets the SLOs, the reason on stderr (solve, prove, size); 4 --time-limit ran out before any "
              "plan was found (solve).")


def _raise_broken_pipe(console) -> None:
    raise BrokenPipeError


class _Group(TyperGroup):
    """Every command's output goes through `reader_may_leave` (sloplan/cli_output.py): click would turn a
    closed pipe into exit 1, and so would rich, whose consoles call `Console.on_broken_pipe` (its documented
    hook, which exits 1): here it re-raises, so the one policy above decides for every console the commands
    print through."""

    def invoke(self, ctx):
        from rich.console import Console

        Console.on_broken_pipe = _raise_broken_pipe
        with reader_may_leave():
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


@app.command(epilog=EXIT_CODES)
def solve(
    request: Optional[Path] = typer.Argument(None, help="YAML request file with the fields below; flags override it"),
    model: Optional[str] = typer.Option(None, help=f"{MODEL_HELP} [required, here or in the file]"),
    system: Optional[str] = typer.Option(None, help=f"{SYSTEM_HELP} [required, here or in the file]"),
    backend: Optional[str] = typer.Option(None, help=f"serving framework: {enum_values(Backend)} "
                                                     f"[default: {schema_default('backend')}]"),
    version: Optional[str] = typer.Option(None, help=VERSION_HELP),
    isl: Optional[int] = typer.Option(None, help=f"input tokens per request [default: {schema_default('isl')}]"),
    osl: Optional[int] = typer.Option(None, help="output tokens per request, ≥ 2 "
                                                 f"[default: {schema_default('osl')}]"),
    prefix: Optional[int] = typer.Option(None, help="tokens of each input already in the prefix cache, below isl "
                                                    f"[default: {schema_default('prefix')}]"),
    ttft_ms: Optional[float] = typer.Option(None, help="SLO: time to first token, ms [default: no limit]"),
    tpot_ms: Optional[float] = typer.Option(None, help="SLO: time per output token, ms (tokens/s/user = "
                                                       "1000 / tpot_ms) [default: no limit]"),
    request_latency_ms: Optional[float] = typer.Option(None, help="SLO: whole request, first token to last, ms "
                                                                  "[default: no limit]"),
    total_gpus: Optional[int] = typer.Option(None, help="GPU budget of the deployment [required, here or in the file]"),
    modes: Optional[str] = typer.Option(None, help=f"comma list of serving modes: {enum_values(ServingMode)} "
                                                   f"[default: {schema_default('modes')}]"),
    quantizations: Optional[str] = typer.Option(None, help="comma list of GEMM formats to plan: "
                                                           f"{enum_values(GemmQuant)} "
                                                           "[default: the checkpoint's, plus fp8 for bf16]"),
    max_batch_size: Optional[int] = typer.Option(None, help="most requests in flight per replica, 1-4096 "
                                                            f"[default: {schema_default('max_batch_size')}]"),
    client: Optional[str] = typer.Option(None, help=f"{CLIENT_HELP} [default: {schema_default('client')}]"),
    headroom: Optional[str] = typer.Option(None, help="plan for latencies that much slower: 0.15 or '15%' "
                                                      "(SLO limits / 1.15) [default: none]"),
    min_slack: Optional[str] = typer.Option(None, help="only plans whose latencies may be that much "
                                                       "underestimated, 0.1 or '10%' (exact front) [default: none]"),
    prefill_system: Optional[str] = typer.Option(None, help="disagg: the prefill workers' system [default: --system]"),
    decode_system: Optional[str] = typer.Option(None, help="disagg: the decode workers' system [default: --system]"),
    max_prefill_gpus: Optional[int] = typer.Option(None, help="disagg: most GPUs of prefill workers [default: all]"),
    max_decode_gpus: Optional[int] = typer.Option(None, help="disagg: most GPUs of decode workers [default: all]"),
    mixed_pools: Optional[bool] = typer.Option(None, "--mixed-pools/--one-engine-per-pool",
                                               help="disagg: may a pool mix engine types [default: one per pool]"),
    kv_link_bytes_per_s: Optional[float] = typer.Option(None, help="disagg: KV hand-off bytes/s per GPU "
                                                                   "[default: the hardware catalog's link]"),
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
                 modes=csv_list("modes", modes, ServingMode),
                 quantizations=csv_list("quantizations", quantizations, GemmQuant), max_batch_size=max_batch_size,
                 client=client, headroom=headroom, min_slack=min_slack, solver=solver, time_limit_s=time_limit,
                 prefill_system=prefill_system, decode_system=decode_system,
                 max_prefill_gpus=max_prefill_gpus, max_decode_gpus=max_decode_gpus, mixed_pools=mixed_pools,
                 kv_link_bytes_per_s=kv_link_bytes_per_s)
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

    with spinner("solving"):
        result = run(req, export=export[0], export_tolerance=export[1])
    with reader_may_leave():
        if as_json:
            print_json(result.to_dict())
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


app.command("estimate", epilog=EXIT_CODES)(_estimate)


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
        sys.exit(narrowed(app, sys.argv[1:])(standalone_mode=False, prog_name="sloplan") or 0)
    except InputError as exc:
        fail(EXIT_INPUT, str(exc))
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
            fail(EXIT_INPUT, named(exc))
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "format_message"):
            fail_usage(exc)
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
