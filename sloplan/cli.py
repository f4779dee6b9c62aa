"""The `sloplan` command: a thin typer shell over sloplan.api. Exit codes: 0 ok, 1 internal, 2 input, 3 infeasible."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import EXIT_INFEASIBLE, EXIT_INPUT, EXIT_INTERNAL, InputError
from .cli_perfdb import PERFDB_HELP, is_input_error, perfdb_app, use_perfdb
from .cli_collect import collect as _collect

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Plan LLM serving deployments: exact Pareto fronts, best deployment under SLOs, launch flags.")
app.add_typer(perfdb_app, name="perfdb")


@app.callback()
def _global_options(perfdb: Optional[Path] = typer.Option(None, "--perfdb", envvar="SLOPLAN_PERFDB",
                                                          help=PERFDB_HELP)) -> None:
    use_perfdb(perfdb)


def _fail(code: int, message: str) -> None:
    print(f"error: {message}" if code == EXIT_INPUT else message, file=sys.stderr)
    sys.exit(code)


def _spinner(what: str):
    """A spinner on stderr while work runs (the first run on a system builds its table cache, ~1 s);
    nothing when stderr is not a terminal, so scripts and --json consumers see clean output."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _csv_list(text: Optional[str]) -> Optional[list[str]]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@app.command()
def solve(
    request: Optional[Path] = typer.Argument(None, help="YAML request file (flags override its fields)"),
    model: Optional[str] = typer.Option(None), system: Optional[str] = typer.Option(None),
    backend: Optional[str] = typer.Option(None), version: Optional[str] = typer.Option(None),
    isl: Optional[int] = typer.Option(None), osl: Optional[int] = typer.Option(None),
    prefix: Optional[int] = typer.Option(None), ttft_ms: Optional[float] = typer.Option(None),
    tpot_ms: Optional[float] = typer.Option(None), request_latency_ms: Optional[float] = typer.Option(None),
    total_gpus: Optional[int] = typer.Option(None), modes: Optional[str] = typer.Option(None, help="agg,static"),
    quantizations: Optional[str] = typer.Option(None, help="e.g. bf16,fp8"),
    max_batch_size: Optional[int] = typer.Option(None),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    plot: Optional[Path] = typer.Option(None, help="write the front as a PNG"),
) -> None:
    """Best deployment under the SLOs and the exact Pareto front (tokens/s/GPU vs tokens/s/user)."""
    from .request import load_request, parse_request

    flags = {k: v for k, v in dict(model=model, system=system, backend=backend, version=version, isl=isl, osl=osl,
                                   prefix=prefix, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
                                   request_latency_ms=request_latency_ms, total_gpus=total_gpus,
                                   modes=_csv_list(modes), quantizations=_csv_list(quantizations),
                                   max_batch_size=max_batch_size).items() if v is not None}
    base = load_request(request).model_dump(exclude_unset=True) if request else {}
    req = parse_request({**base, **flags})
    from .api import solve as run

    with _spinner("solving"):
        result = run(req)
    if plot:
        from .plot import plot_front

        plot_front(result, plot)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        from .report import print_solve

        print_solve(result)
    if result.best is None:
        if not as_json:
            print(f"infeasible: {result.infeasible_reason}", file=sys.stderr)
        raise typer.Exit(EXIT_INFEASIBLE)


@app.command()
def estimate(
    model: Optional[str] = typer.Option(None), system: Optional[str] = typer.Option(None),
    backend: str = typer.Option("trtllm"), version: Optional[str] = typer.Option(None),
    tp: int = typer.Option(1), pp: int = typer.Option(1), quant: Optional[str] = typer.Option(None),
    mode: str = typer.Option("agg"), concurrency: int = typer.Option(1, help="requests in flight (static: batch)"),
    isl: int = typer.Option(4000), osl: int = typer.Option(1000), prefix: int = typer.Option(0),
    from_csv: Optional[Path] = typer.Option(None, help="CSV with silicon_sample.csv's columns"),
    out: Optional[Path] = typer.Option(None, help="where --from-csv writes predictions"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Metrics of one configuration, or of every row of a CSV (--from-csv IN --out PRED.csv)."""
    if from_csv:
        return _estimate_csv(from_csv, out)
    if not model or not system:
        raise InputError("model" if not model else "system", "required (or use --from-csv FILE --out PRED.csv)")
    from .estimation import estimate as run

    for name, value, choices in (("backend", backend, ("trtllm", "vllm", "sglang")), ("mode", mode, ("agg", "static")),
                                 ("quant", quant, ("bf16", "fp8", "fp8_block", "nvfp4"))):
        if value is not None and value not in choices:
            raise InputError(name, f"accepted: {', '.join(choices)} (got {value!r})")
    est = run(model, system, backend, tp=tp, pp=pp, quant=quant, mode=mode, concurrency=concurrency, isl=isl, osl=osl,
              prefix=prefix, version=version)
    if as_json:
        print(json.dumps(est.to_dict(), indent=2))
    else:
        from .report import print_estimate

        print_estimate(est)


def _estimate_csv(src: Path, out: Optional[Path]) -> None:
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

            n, ok = estimate_csv(src, out, progress=track)
    else:
        n, ok = estimate_csv(src, out, progress=every(5.0, lambda line: print(line, file=sys.stderr, flush=True)))
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


def main() -> None:
    """Entry point: map our exceptions to exit codes with one line and no traceback."""
    try:
        sys.exit(app(standalone_mode=False) or 0)
    except InputError as exc:
        _fail(EXIT_INPUT, str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        if is_input_error(exc):
            _fail(EXIT_INPUT, str(exc))
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "format_message"):
            _fail_usage(exc)
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)


def _fail_usage(exc) -> None:
    print(f"error: {exc.format_message()}", file=sys.stderr)
    sys.exit(EXIT_INPUT)
