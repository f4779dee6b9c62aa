"""`sloplan estimate --mode disagg`: the flags of a disaggregated configuration and what prints it.

The flags mirror silicon_sample.csv's prefill_* / decode_* columns (prefill_tp_size -> --prefill-tp,
prefill_num_workers -> --prefill-workers, decode_batch_size -> --decode-batch). They are declared here
and used by cli.py's `estimate` signature, so that command keeps one body per mode; the estimate
itself is sloplan/estimate_disagg.py's, imported only when asked for (start-up stays as it was).
"""

from collections.abc import Callable
import typer

from sloplan.core.enums import ServingMode
from sloplan.perfdb.queries import MoeKernel

from .cli_flags import enum_values
from .errors import InputError

# estimate's one-replica modes (a disaggregated configuration is two engines: its own flags)
ONE_REPLICA = ", ".join(m.value for m in ServingMode if m.value != "disagg")

ROLE_HELP = {"prefill": "prefill worker", "decode": "decode worker"}
ENGINE_HELP = {"tp": "tensor-parallel GPUs per {who}", "pp": "pipeline-parallel stages per {who}",
               "dp": "attention data-parallel copies per {who} (MoE models)",
               "moe_tp": "MoE tensor-parallel ways of the {who}'s experts [default: tp × dp / moe_ep]",
               "moe_ep": "MoE expert-parallel ways of the {who}'s experts [default: tp × dp / moe_tp]",
               "moe_backend": "TensorRT-LLM MoE kernel backend of the {who}'s experts (moe_config.backend): "
                              f"{enum_values(MoeKernel)}"}
COUNT_HELP = {"prefill_batch": "prompts per attention-DP rank in one prefill pass (the CSV's prefill_batch_size); "
                               "a pass packs more when they fit the framework's token budget",
              "prefill_workers": "prefill workers (the CSV's prefill_num_workers)",
              "decode_batch": "requests per attention-DP rank decoding together (the CSV's decode_batch_size)",
              "decode_workers": "decode workers (the CSV's decode_num_workers)",
              "decode_draft_tokens": "MTP draft tokens per decode step of the decode workers, drafted by the "
                                     "checkpoint's own MTP layers (TRT-LLM num_nextn_predict_layers), 0: no "
                                     "speculation"}


NOT_ONE = {"decode_draft_tokens": 0, "prefill_moe_backend": MoeKernel.CUTLASS.value,
           "decode_moe_backend": MoeKernel.CUTLASS.value}  # flags whose default is not 1


def _default(name: str):
    """A disaggregated flag's default: none for the MoE split (derived from the other), else NOT_ONE's or 1."""
    return None if name.endswith(("moe_tp", "moe_ep")) else NOT_ONE.get(name, 1)


def _option(name: str, text: str) -> object:
    default = _default(name)
    return typer.Option(None, f"--{name.replace('_', '-')}", help=f"{text} [default: {default}; --mode disagg only]"
                        if default is not None else f"{text} [--mode disagg only]")


OPTIONS = {f"{role}_{f}": _option(f"{role}_{f}", text.format(who=ROLE_HELP[role]))
           for role in ROLE_HELP for f, text in ENGINE_HELP.items()}
OPTIONS |= {name: _option(name, text) for name, text in COUNT_HELP.items()}
DEFAULTS = {name: _default(name) for name in OPTIONS}
AGG_ONLY = {"tp": 1, "pp": 1, "dp": 1, "moe_tp": None, "moe_ep": None}


def check_flags(mode: str, flags: dict, agg_flags: dict) -> None:
    """Disaggregated flags only with --mode disagg; the one-engine flags not with it."""
    if mode != "disagg":
        given = [name for name in OPTIONS if flags.get(name) is not None]
        if given:
            raise InputError(given[0], f"is a flag of a disaggregated configuration (got mode {mode}); accepted: "
                                       f"--mode disagg with --{given[0].replace('_', '-')}, or leave it out")
        return
    for name, default in AGG_ONLY.items():
        if agg_flags[name] != default:
            raise InputError(name, f"--mode disagg takes each role's layout (got --{name.replace('_', '-')} "
                                   f"{agg_flags[name]}); accepted: --prefill-{name.replace('_', '-')} and "
                                   f"--decode-{name.replace('_', '-')}")


def run(common: dict, flags: dict, concurrency: int | None, as_json: bool, print_json: Callable[[dict], None]
        ) -> None:
    """Estimate one disaggregated configuration and print it (a table, or one JSON document)."""
    from .estimate_disagg import estimate_disagg

    given = {name: (DEFAULTS[name] if flags.get(name) is None else flags[name]) for name in OPTIONS}
    est = estimate_disagg(**common, **given, concurrency=concurrency)
    if as_json:
        print_json(est.to_dict())
    else:
        print_disagg(est)


def print_disagg(e) -> None:
    """The deployment, its TTFT with its parts, TPOT and throughput, and the load behind them."""
    from rich.table import Table

    from .report import console

    t = Table(title=f"{e.model} · disagg · {e.prefill_workers} × prefill {e.prefill_engine} (batch {e.prefill_batch})"
                    f" + {e.decode_workers} × decode {e.decode_engine} (batch {e.decode_batch}"
                    f"{f', MTP {e.decode_draft_tokens} drafts' if e.decode_draft_tokens else ''}) · {e.gpus} GPUs · "
                    f"concurrency {e.concurrency} · {e.system} {e.backend} {e.data_version}", title_justify="left")
    for col in ("TTFT ms", "prefill", "queue", "KV transfer", "first step", "TPOT ms", "tok/s/user", "tok/s/gpu",
                "tier"):
        t.add_column(col, justify="right")
    t.add_row(f"{e.ttft_ms:.1f}", f"{e.prefill_ms:.1f}", f"{e.queue_ms:.1f}", f"{e.kv_transfer_ms:.2f}",
              f"{e.first_step_ms:.2f}", f"{e.tpot_ms:.2f}", f"{e.tokens_per_s_per_user:.1f}",
              f"{e.tokens_per_s_per_gpu:.1f}", e.tier)
    console.print(t)
    if e.tier_source:
        console.print(f"tier {e.tier}: set by the {e.tier_source} lookup")
    full = " (every decode slot busy: clients wait for one)" if e.decode_saturated else ""
    console.print(f"load: {e.requests_per_s:.2f} requests/s; prefill pool {100 * e.prefill_utilisation:.0f} % "
                  f"utilised; {e.decode_running:.1f} of {e.decode_slots} decode slots per worker in use{full}; "
                  f"KV {e.kv_bytes_per_request / 2**20:.1f} MiB per request at {e.kv_link_bytes_per_s / 1e9:.0f} GB/s")
    console.print(f"disaggregated constants (fitted, model/catalog/calibration_disagg.yaml): prefill busy time "
                  f"×{e.prefill_scale:.2f}, {e.disagg_fixed_ttft_ms:.1f} ms before the first token")
    console.print("memory per GPU (GiB): " + "; ".join(
        f"{role} " + ", ".join(f"{k} {v}" for k, v in mem.items()) for role, mem in e.memory_gib.items()))

