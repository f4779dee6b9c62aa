"""`sloplan size`: the body of the command (registered from cli.py) and its human-readable output.

Flags are `solve`'s, plus the load target (`--rate` or `--concurrency`), prices and the robustness
margins; `--total-gpus` is a cap here (sloplan/size.py), and may be left out.
"""

import sys
from pathlib import Path
from typing import Optional

import typer

from sloplan.core.enums import Client
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import EXIT_INFEASIBLE, EXIT_STOPPED, InputError
from .robust_fields import FRACTION_ACCEPTS, PRICE_ACCEPTS
from .solver_fields import SOLVER_HELP

_MARGIN_HELP = "{what}: " + FRACTION_ACCEPTS + " [default: none]"


def parse_price_text(text: Optional[str]) -> object:
    """`--gpu-price-per-hour 3.5` (every system) or `h200_sxm=3.5,b200_sxm=5` (per system)."""
    if text is None:
        return None
    if "=" not in text:
        try:
            return float(text)
        except ValueError:
            raise InputError("gpu_price_per_hour",
                             f"not a number (got {text[:40]!r}); accepted: {PRICE_ACCEPTS}") from None
    out = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError("gpu_price_per_hour", f"not SYSTEM=PRICE (got {item[:40]!r}); accepted: a comma list "
                                                   "of SYSTEM=PRICE, or one price for every system") from None
    return out


def size(
    request: Optional[Path] = typer.Argument(None, help="YAML request file (solve's fields); flags override it"),
    rate: Optional[float] = typer.Option(None, help="load target: requests/s the deployment must complete"),
    concurrency: Optional[int] = typer.Option(None, help="load target: concurrent users (requests in flight, "
                                                         "each finished one replaced at once)"),
    gpu_price_per_hour: Optional[str] = typer.Option(None, help="minimize cost per hour instead of GPUs: one price "
                                                                "per GPU-hour, or SYSTEM=PRICE,... [default: "
                                                                "minimize GPUs]"),
    headroom: Optional[str] = typer.Option(None, help=_MARGIN_HELP.format(what="plan for load and latencies that "
                                                                               "much higher")),
    min_slack: Optional[str] = typer.Option(None, help=_MARGIN_HELP.format(what="only plans whose latencies may "
                                                                                "be that much underestimated")),
    model: Optional[str] = typer.Option(None, help="HF id, catalog name or a folder with config.json [required]"),
    system: Optional[str] = typer.Option(None, help="GPU system, e.g. h200_sxm [required]"),
    backend: Optional[str] = typer.Option(None, help="serving framework [default: trtllm]"),
    version: Optional[str] = typer.Option(None, help="framework version of the perf data [default: the newest]"),
    isl: Optional[int] = typer.Option(None, help="input tokens per request [default: 4000]"),
    osl: Optional[int] = typer.Option(None, help="output tokens per request [default: 1000]"),
    prefix: Optional[int] = typer.Option(None, help="cached prefix tokens of each input [default: 0]"),
    ttft_ms: Optional[float] = typer.Option(None, help="SLO: time to first token, ms [default: no limit]"),
    tpot_ms: Optional[float] = typer.Option(None, help="SLO: time per output token, ms [default: no limit]"),
    request_latency_ms: Optional[float] = typer.Option(None, help="SLO: whole request, ms [default: no limit]"),
    total_gpus: Optional[int] = typer.Option(None, help="a cap on the GPUs the answer may use (and on one "
                                                        "engine's) [default: no cap, engines up to 64 GPUs]"),
    modes: Optional[str] = typer.Option(None, help="comma list of serving modes: static, agg, disagg (a fleet may "
                                                   "mix replicas with one disaggregated pool pair) [default: all]"),
    quantizations: Optional[str] = typer.Option(None, help="comma list of GEMM formats [default: the checkpoint's]"),
    max_batch_size: Optional[int] = typer.Option(None, help="most requests in flight per replica [default: 512]"),
    client: Optional[str] = typer.Option(None, help="serving or offline [default: serving]"),
    prefill_system: Optional[str] = typer.Option(None, help="disagg: the prefill workers' system [default: --system]"),
    decode_system: Optional[str] = typer.Option(None, help="disagg: the decode workers' system [default: --system]"),
    max_prefill_gpus: Optional[int] = typer.Option(None, help="disagg: most GPUs of prefill workers [default: all]"),
    max_decode_gpus: Optional[int] = typer.Option(None, help="disagg: most GPUs of decode workers [default: all]"),
    kv_link_bytes_per_s: Optional[float] = typer.Option(None, help="disagg: KV hand-off bytes/s per GPU "
                                                                   "[default: the hardware catalog's link]"),
    solver: Optional[str] = typer.Option(None, help=SOLVER_HELP),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="seconds the solver may spend on the "
                                                                          "sizing; a plan it stops on says so "
                                                                          "with its gap [default: no limit]"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document instead of text"),
) -> None:
    """Fewest GPUs (or lowest cost) that serve a request rate or a number of users under the SLOs: exact."""
    from .cli_flags import csv_list

    flags = dict(model=model, system=system, backend=backend, version=version, isl=isl, osl=osl, prefix=prefix,
                 ttft_ms=ttft_ms, tpot_ms=tpot_ms, request_latency_ms=request_latency_ms, total_gpus=total_gpus,
                 modes=csv_list("modes", modes, ServingMode),
                 quantizations=csv_list("quantizations", quantizations, GemmQuant), max_batch_size=max_batch_size,
                 client=client, headroom=headroom, min_slack=min_slack,
                 gpu_price_per_hour=parse_price_text(gpu_price_per_hour), prefill_system=prefill_system,
                 decode_system=decode_system, max_prefill_gpus=max_prefill_gpus, max_decode_gpus=max_decode_gpus,
                 kv_link_bytes_per_s=kv_link_bytes_per_s, solver=solver, time_limit_s=time_limit)
    if client is not None and client not in {c.value for c in Client}:
        raise InputError("client", f"accepted: serving, offline (got {client[:40]!r})")
    _run(request, flags, rate, concurrency, as_json)


def _run(request: Optional[Path], flags: dict, rate: Optional[float], concurrency: Optional[int],
         as_json: bool) -> None:
    """The file's fields with the flags over them; the result printed; exit 3 with one stderr line when
    no plan serves the target."""
    from .cli_output import print_json, reader_may_leave, spinner
    from .request import load_request

    base = load_request(request).model_dump(exclude_unset=True) if request else {}
    data = {**base, **{k: v for k, v in flags.items() if v is not None}}
    from .size import size as run

    with spinner("sizing"):
        result = run(data, rate=rate, concurrency=concurrency)
    with reader_may_leave():
        if as_json:
            print_json(result.to_dict())
        else:
            print_size(result)
    if result.plan is None and not result.proved:
        limit = result.request.get("time_limit_s")
        print(f"stopped: no plan found within the time limit ({limit:g} s)", file=sys.stderr)
        raise typer.Exit(EXIT_STOPPED)
    if result.plan is None:
        if not as_json:
            print(f"infeasible: {result.infeasible_reason}", file=sys.stderr)
        raise typer.Exit(EXIT_INFEASIBLE)


def print_size(r) -> None:
    """The sized plan in a few lines: the target, the answer, its groups, its check and launch commands."""
    from .report import console, slack_text

    req = r.request
    unit = "req/s" if r.target_kind == "rate" else "concurrent users"
    slo = ", ".join(f"{k} ≤ {req[k]:g}" for k in ("ttft_ms", "tpot_ms", "request_latency_ms") if req.get(k))
    cap = f"cap {req['total_gpus']} GPUs" if req["total_gpus"] else "no GPU cap"
    planned = f" ({r.planned_load:g} with headroom)" if r.planned_load != r.target else ""
    margins = "".join(f" · {k.replace('_', ' ')} {req[k]:.0%}" for k in ("headroom", "min_slack") if req.get(k))
    console.print(f"[bold]{req['model']}[/] on {req['system']} · {r.data_version} · isl {req['isl']} osl "
                  f"{req['osl']} · SLO: {slo or 'none'}{margins}")
    console.print(f"target {r.target:g} {unit}{planned} · {cap} · {r.engines} engines, {r.options} options · "
                  f"estimate {r.timings_s['estimate']:.2f} s, optimize {r.timings_s['optimize']:.2f} s")
    p = r.plan
    if p is None:
        console.print(f"[red]No plan serves the target:[/] {r.infeasible_reason}")
        return
    cost = f" · {r.cost_per_hour:.2f} per hour" if r.cost_per_hour is not None else ""
    one = f"; copies of one replica type: {r.one_type_gpus} GPUs" if r.one_type_gpus is not None else ""
    proved = "exact minimum" if r.solver.get("status") == "optimal" else _unproved(r.solver)
    console.print(f"[bold green]Sized:[/] {r.gpus} GPUs{cost} ({proved}{one}) · serves {r.capacity:.2f} {unit}")
    console.print(_groups_table(r.groups), soft_wrap=True)
    console.print(f"  {p.tokens_per_s_per_gpu:.1f} tok/s/gpu · {p.tokens_per_s_per_user:.1f} tok/s/user · "
                  f"TTFT {p.ttft_ms:.0f} ms · TPOT {p.tpot_ms:.2f} ms · slack {slack_text(p.slack)} · tier {p.tier}")
    if p.ttft_breakdown_ms:
        console.print("  TTFT parts (ms): " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}"
                                                        for k, v in p.ttft_breakdown_ms.items()))
    if p.check:
        c = p.check
        console.print(f"  re-checked by the full estimator: TTFT {c.ttft_ms:.0f} ms, TPOT {c.tpot_ms:.2f} ms "
                      f"(surrogate error {c.surrogate_error_pct:.2f}%)")
    for g in p.replicas:
        if g.launch:
            console.print(f"[bold]Launch (one replica of {g.count}× {g.engine}):[/]")
            console.print(g.launch, soft_wrap=True)
    if r.launch_bundle:
        console.print("[bold]Launch (the disaggregated pools):[/]")
        console.print(r.launch_bundle, soft_wrap=True)


def _unproved(solver: dict) -> str:
    gap = solver.get("gap")
    return f"{solver.get('status')}: not proved minimal" + (f", gap {gap:.2%}" if gap is not None else "") + (
        f"; {solver['detail']}" if solver.get("detail") else "")


def _groups_table(groups):
    """The plan's groups: role, system, engine, count, GPUs per worker, concurrency, req/s each."""
    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False)
    for col in ("role", "system", "engine", "count", "gpus", "concurrency", "req/s each"):
        t.add_column(col, justify="left" if col in ("role", "system", "engine") else "right")
    for g in groups:
        t.add_row(g["role"], g["system"], g["engine"], str(g["count"]), str(g["gpus"]), str(g["concurrency"]),
                  f"{g['requests_per_s']:.3f}")
    return t
