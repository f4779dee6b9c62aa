"""`sloplan prove REQUEST`: the certificate of a request — exit 0 feasible (with its witness plan), 3 infeasible.

It takes exactly `solve`'s request argument and flags (the signature is `solve`'s, minus --plot and
--export, plus --verify), so the two commands can never disagree about what a request is; --solver and
--time-limit reach the replica MIPs behind the plans the certificate shows. `--verify` re-derives the
certificate independently (sloplan/prove_verify.py) and exits 1, loudly, on any disagreement.
"""
from __future__ import annotations

import inspect
import sys
from typing import get_type_hints

import typer

VERIFY_HELP = ("re-derive the certificate independently: brute-force enumeration (solver/brute.py) where the "
               "instance is small, else one backend solve per group subset and bound; exit 1 on any disagreement")


_NOT_PROVE = ("plot", "export", "export_tolerance")  # solve's outputs a certificate has no use for


def register(app: typer.Typer, solve, epilog: str) -> None:
    """Add `prove` to `app` with `solve`'s parameters (types resolved here, so typer needs no globals)."""
    hints = get_type_hints(solve)
    params = [p.replace(annotation=hints[p.name]) for p in inspect.signature(solve).parameters.values()
              if p.name not in _NOT_PROVE]
    params.append(inspect.Parameter("verify", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--verify", help=VERIFY_HELP)))

    def prove(**kw) -> None:
        run(**kw)

    prove.__signature__ = inspect.Signature(params)
    prove.__annotations__ = {p.name: p.annotation for p in params}
    prove.__doc__ = ("Certificate of a request: minimal conflicting constraint groups, the best value of each "
                     "SLO, the smallest relaxations with their plans; or the witnessing plan.")
    app.command("prove", epilog=epilog)(prove)


def run(request=None, as_json: bool = False, verify: bool = False, **flags) -> None:
    """The file's fields with the flags over them (as `solve`), the certificate printed, the exit code."""
    from sloplan.model.option_table import ServingMode
    from sloplan.model.quant import GemmQuant

    from .cli_flags import csv_list
    from .cli_output import print_json, spinner
    from .errors import EXIT_INFEASIBLE
    from .request import load_request, parse_request

    flags["modes"] = csv_list("modes", flags.get("modes"), ServingMode)
    flags["quantizations"] = csv_list("quantizations", flags.get("quantizations"), GemmQuant)
    flags["time_limit_s"] = flags.pop("time_limit", None)  # the flag's name, the request's field
    base = load_request(request).model_dump(exclude_unset=True) if request else {}
    req = parse_request({**base, **{k: v for k, v in flags.items() if v is not None}})
    from .prove import prove

    with spinner("proving"):
        cert, doc = prove(req)
    if as_json:
        print_json({"request": doc, "certificate": cert.to_dict()})
    else:
        _print_text(doc, cert)
    if verify:
        _verify(req, cert)
    if not cert.feasible:
        print(f"infeasible: {cert.summary}", file=sys.stderr)
        raise typer.Exit(EXIT_INFEASIBLE)


def _print_text(doc: dict, cert) -> None:
    from .prove_report import print_certificate
    from .report import console

    slo = ", ".join(f"{k} ≤ {doc[k]:g}" for k in ("ttft_ms", "tpot_ms", "request_latency_ms") if doc.get(k))
    console.print(f"[bold]{doc['model']}[/] on {doc['total_gpus']}× {doc['system']} · {cert.data_version} · "
                  f"isl {doc['isl']} osl {doc['osl']} prefix {doc['prefix']} · SLO: {slo or 'none'}")
    if not cert.feasible:
        console.print(f"[red]Infeasible:[/] {cert.summary}")
    print_certificate(cert, doc)


def _verify(req, cert) -> None:
    """Re-derive and compare; a disagreement is a bug (exit 1 with every difference on stderr)."""
    from .prove_verify import verify

    how, problems = verify(req, cert)
    if problems:
        for p in problems:
            print(f"verify: DISAGREEMENT: {p}", file=sys.stderr)
        print(f"verify: the certificate does not hold ({len(problems)} disagreements, {how})", file=sys.stderr)
        raise typer.Exit(1)
    print(f"verify: certificate re-derived by {how}: agrees", file=sys.stderr)
