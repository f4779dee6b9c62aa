"""`sloplan estimate`: the metrics of one configuration from the flags, or of every row of a CSV."""

import sys
from pathlib import Path
from typing import Optional

import typer

from sloplan.core.enums import Client
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant
from sloplan.perfdb.queries import MoeKernel

from . import cli_disagg as _disagg
from .cli_flags import CLIENT_HELP, MODEL_HELP, MOE_HELP, SYSTEM_HELP, VERSION_HELP, choice, enum_values
from .cli_output import print_json
from .errors import InputError

_DISAGG = _disagg.OPTIONS  # the --prefill-* / --decode-* flags of `estimate --mode disagg`


def estimate(
    model: Optional[str] = typer.Option(None, help=f"{MODEL_HELP} [required unless --from-csv]"),
    system: Optional[str] = typer.Option(None, help=f"{SYSTEM_HELP} [required unless --from-csv]"),
    backend: str = typer.Option(Backend.TRTLLM.value, help=f"serving framework: {enum_values(Backend)}"),
    version: Optional[str] = typer.Option(None, help=VERSION_HELP),
    tp: int = typer.Option(1, help="tensor-parallel GPUs per replica"),
    pp: int = typer.Option(1, help="pipeline-parallel stages per replica (GPUs per replica = tp × pp × dp)"),
    dp: int = typer.Option(1, help="attention data-parallel copies per replica, each of tp GPUs, an integer ≥ 1 "
                                   "(MoE models only)"),
    moe_tp: Optional[int] = typer.Option(None, help=MOE_HELP.format(what="tensor-parallel")),
    moe_ep: Optional[int] = typer.Option(None, help=MOE_HELP.format(what="expert-parallel")),
    client: str = typer.Option(Client.SERVING.value, help=CLIENT_HELP + "; with --from-csv, a 'client' column "
                                                                          "overrides it per row"),
    quant: Optional[str] = typer.Option(None, help=f"GEMM format: {enum_values(GemmQuant)} "
                                                   "[default: the checkpoint's]"),
    mode: str = typer.Option(ServingMode.AGG.value, help=f"serving mode: {_disagg.ONE_REPLICA}, disagg (prefill "
                                                         "and decode workers: the --prefill-* / --decode-* flags)"),
    concurrency: Optional[int] = typer.Option(None, help="requests in flight on the replica (static: the batch size; "
                                                         "disagg: closed-loop clients) [default: 1; disagg: one per "
                                                         "decode slot]"),
    isl: int = typer.Option(4000, help="input tokens per request"),
    osl: int = typer.Option(1000, help="output tokens per request"),
    prefix: int = typer.Option(0, help="tokens of each input already in the prefix cache, below isl"),
    draft_tokens: int = typer.Option(0, help="MTP draft tokens per decode step, drafted by the checkpoint's own "
                                             "MTP layers (0: no speculation; --mode agg only; disagg: "
                                             "--decode-draft-tokens)"),
    moe_backend: str = typer.Option(MoeKernel.CUTLASS.value, help=f"TensorRT-LLM MoE kernel backend (moe_config."
                                                                  f"backend): {enum_values(MoeKernel)}; --mode agg / "
                                                                  "static (disagg: --prefill-moe-backend, "
                                                                  "--decode-moe-backend)"),
    from_csv: Optional[Path] = typer.Option(None, help="CSV with silicon_sample.csv's columns: predict every row "
                                                       "(needs --out; the flags above are not used) "
                                                       "[default: none, one configuration from the flags]"),
    out: Optional[Path] = typer.Option(None, help="where --from-csv writes its predictions (CSV) "
                                                  "[required with --from-csv, refused without]"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (standard JSON) instead of a table"),
    prefill_tp: Optional[int] = _DISAGG["prefill_tp"], prefill_pp: Optional[int] = _DISAGG["prefill_pp"],
    prefill_dp: Optional[int] = _DISAGG["prefill_dp"], prefill_moe_tp: Optional[int] = _DISAGG["prefill_moe_tp"],
    prefill_moe_ep: Optional[int] = _DISAGG["prefill_moe_ep"],
    prefill_moe_backend: Optional[str] = _DISAGG["prefill_moe_backend"],
    prefill_batch: Optional[int] = _DISAGG["prefill_batch"],
    prefill_workers: Optional[int] = _DISAGG["prefill_workers"], decode_tp: Optional[int] = _DISAGG["decode_tp"],
    decode_pp: Optional[int] = _DISAGG["decode_pp"], decode_dp: Optional[int] = _DISAGG["decode_dp"],
    decode_moe_tp: Optional[int] = _DISAGG["decode_moe_tp"], decode_moe_ep: Optional[int] = _DISAGG["decode_moe_ep"],
    decode_moe_backend: Optional[str] = _DISAGG["decode_moe_backend"],
    decode_batch: Optional[int] = _DISAGG["decode_batch"], decode_workers: Optional[int] = _DISAGG["decode_workers"],
    decode_draft_tokens: Optional[int] = _DISAGG["decode_draft_tokens"],
) -> None:
    """Metrics of one configuration, or of every row of a CSV (--from-csv IN --out PRED.csv)."""
    flags = {k: v for k, v in locals().items() if k in _disagg.OPTIONS}
    choice("client", client, Client)
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
        if draft_tokens:
            raise InputError("draft_tokens", "the disaggregated decode workers' drafts are --decode-draft-tokens; "
                                             "accepted with --mode disagg: 0")
        if moe_backend != MoeKernel.CUTLASS.value:
            raise InputError("moe_backend", "each role has its own with --mode disagg; accepted: "
                                            "--prefill-moe-backend and --decode-moe-backend")
        for name, value, kind in (("backend", backend, Backend), ("quant", quant, GemmQuant)):
            choice(name, value, kind)
        return _disagg.run(dict(model=model, system=system, backend=backend, version=version, quant=quant, isl=isl,
                                osl=osl, prefix=prefix, client=client), flags, concurrency, as_json, print_json)
    from .estimation import estimate as run

    for name, value, kind in (("backend", backend, Backend), ("mode", mode, ServingMode), ("quant", quant, GemmQuant),
                              ("moe_backend", moe_backend, MoeKernel)):
        choice(name, value, kind)
    est = run(model, system, backend, tp=tp, pp=pp, quant=quant, mode=mode, concurrency=1 if concurrency is None
              else concurrency, isl=isl, osl=osl, prefix=prefix, version=version, dp=dp, moe_tp=moe_tp, moe_ep=moe_ep,
              client=client, draft_tokens=draft_tokens, moe_backend=moe_backend)
    if as_json:
        print_json(est.to_dict())
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
