"""`estimate --from-csv` on disaggregated rows (mode `disagg`): the sample's prefill_* / decode_* columns.

A row is estimated when it says what ran: its four counts (prefill_batch_size, prefill_num_workers,
decode_batch_size, decode_num_workers) and each role's layout (prefill_tp_size ... decode_moe_ep_size,
read through sloplan/csv_layout.py's rules for these columns, a mapping noted as `prefill: ...` /
`decode: ...`). The benchmark's client count comes
from `silicon_concurrency=N` in silicon_data_source. A row without one is not estimated (an error naming
silicon_data_source): its TPOT and TTFT depend on how many clients ran, which it does not say. The rows
that do say are sized one client per decode slot (decode_num_workers x decode_batch_size x the decode
attention DP, on every development-split row), but the five that do not come from another source and
contradict it: the H100 vLLM Qwen3-32B row (2 decode workers x 224 slots, tp 4) measures a TPOT of
8.75 ms, below the 9.9 ms its KV cache alone takes to read at 224 running requests of 4,500 tokens in FP8
over four H100s' HBM. A row missing a count keeps an error naming the column. Rows differing only in
their client count are priced once.

The rows are predicted as the benchmark that measured them ran: `SAMPLE_REQUESTS_PER_CLIENT` requests
per client, all clients started at once, so TTFT is the mean over that run, its start-up wave included
(sloplan/disagg_loop.py); `sloplan estimate --mode disagg` gives the steady state.

A row's decode workers speculate (MTP, model/disagg_workers.py decode_pending) as its
`decode_draft_tokens` column says where the file has one, else as model/catalog/speculation.yaml's
rules recognise its benchmark configuration (sloplan/csv_speculation.py; noted `decode: MTP ...`).

Besides pred_ttft_ms and pred_tpot_ms, a file with disaggregated rows gets TTFT's parts
(DISAGG_PREDICTIONS: prefill, queueing, KV transfer, first decode step), empty on other rows.
"""
from __future__ import annotations

import re
from dataclasses import replace

from sloplan.core.enums import Client, GemmQuant, Role

from .csv_decode_caps import decode_cap, recipe_layout
from .csv_expert_layout import expert_layout
from .csv_layout import Layout, block_scaled_ep, recover
from .csv_quant import expert_width, served, storage_label
from .csv_moe_backend import moe_backend
from .csv_speculation import speculation
from .disagg_loop import closed_loop
from .errors import InputError
from .estimate_disagg import (ENGINE_FIELDS, ROLES, DisaggArgs, DisaggCounts, clients_of, disagg_arguments, price)
from .estimate_rows import (COLUMN, ROW_ERRORS, _client, _failed, _integer, _quant, _shape, _text,
                            with_nearest_version)
from .fields import MAX_BATCH_SIZE, accepted

DISAGG_PREDICTIONS = ("pred_prefill_ms", "pred_queue_ms", "pred_kv_transfer_ms", "pred_first_step_ms")
ENGINE_COLUMN = {"tp": "tp_size", "pp": "pp_size", "dp": "attention_dp_size", "moe_tp": "moe_tp_size",
                 "moe_ep": "moe_ep_size"}
COUNT_COLUMN = {"prefill_batch": "prefill_batch_size", "prefill_workers": "prefill_num_workers",
                "decode_batch": "decode_batch_size", "decode_workers": "decode_num_workers",
                "concurrency": "silicon_data_source"}
# the decode workers' MTP drafts: a column of that name where a file has one, else the rules of
# model/catalog/speculation.yaml (sloplan/csv_speculation.py), else none
DRAFTS = "decode_draft_tokens"
# the requests one decode worker may run (all its attention-DP ranks together): a column of that name where
# a file has one, else model/catalog/decode_caps.yaml by the row's benchmark configuration
# (sloplan/csv_decode_caps.py), else none; the decode slots are cut at it
CAP = "decode_max_running"
MAX_CAP = MAX_BATCH_SIZE * 64
CAP_ACCEPTS = (f"an integer 1..{MAX_CAP} (requests one decode worker may run, all its attention-DP ranks "
               "together; at least one per rank), or empty: the launch recipe's by config_id, else none")
COMMON_COLUMN = {k: v for k, v in COLUMN.items() if k not in ENGINE_FIELDS}
# a role's engine argument as the sample names it: tp -> prefill_tp_size; the shared ones as on agg rows
CSV_NAMES = {role: {**COMMON_COLUMN, **{f: f"{role.value}_{c}" for f, c in ENGINE_COLUMN.items()}}
             for role in ROLES}
CLIENTS = re.compile(r"silicon_concurrency=(\d+)")
# The sample's serving runs are InferenceMAX / InferenceX benchmarks: `benchmark_serving.py --num-prompts
# $((CONC * 10)) --max-concurrency $CONC --request-rate inf`, ten requests per client, all sent at the start.
SAMPLE_REQUESTS_PER_CLIENT = 10


def is_disagg(row: dict) -> bool:
    return _text(row, "mode") == "disagg"


def _layout(row: dict, role) -> Layout:
    """One role's layout by csv_layout's rules (rule 8: sloplan/csv_expert_layout.py), its columns and errors
    named with the role's prefix."""
    prefix = f"{role.value}_"

    def integer(column: str) -> int | None:
        full = prefix + column
        arg = next(f for f, c in ENGINE_COLUMN.items() if c == column)
        return _integer(row, arg, 0, column=full) if _text(row, full) else None
    try:
        layout = recover(row, integer, campaign=False)  # csv_layout.py: roles' convention
    except InputError as exc:
        raise InputError(prefix + exc.field, str(exc).split(": ", 1)[-1]) from None
    # the per-rank batch columns count the ranks as read (rules 0-7); later remappings carry them over
    recorded = replace(layout, note=f"{role.value}: {layout.note}" if layout.note else "", clients_per=layout.dp)
    return _launched(row, role, expert_layout(row, role.value, recorded))


def _launched(row: dict, role, layout: Layout) -> Layout:
    """`layout` as the row's launch recipe ran it where the recipe splits the same GPUs otherwise
    (sloplan/csv_decode_caps.py recipe_layout), noted; `clients_per` keeps the recorded DP ranks, which
    the row's per-rank batch columns count."""
    found, config = recipe_layout(row, role.value)
    recorded = (layout.tp, layout.dp, layout.moe_ep or 1)
    if found is None or found == recorded or found[0] * found[1] != layout.tp * layout.dp:
        return layout
    tp, dp, ep = found
    note = (f"{role.value}: tp {tp}, dp {dp}, moe_ep {ep} as config_id {config}'s launch recipe runs it "
            f"(recorded tp {recorded[0]}, dp {recorded[1]}, moe_ep {recorded[2]}; model/catalog/decode_caps.yaml)")
    return layout.remapped(note, tp=tp, dp=dp, moe_tp=tp * dp // ep, moe_ep=ep)


def _clients(row: dict) -> int | None:
    match = CLIENTS.search(_text(row, "silicon_data_source"))
    return int(match.group(1)) if match else None


def _capped(row: dict, batch: int, dp: int) -> tuple[int, str]:
    """The decode batch per attention-DP rank with the worker's request cap (CAP), and its note: the cap's
    share of each rank (SGLang splits max_running_requests so, // dp_size) where it is below `batch`."""
    column = _integer(row, CAP, 0, column=CAP, accepts=CAP_ACCEPTS) if _text(row, CAP) else None
    if column is not None and not dp <= column <= MAX_CAP:
        raise InputError(CAP, f"must be at least the decode attention-DP ranks ({dp}) and at most {MAX_CAP} "
                              f"(got {column}); accepted: {CAP_ACCEPTS}")
    cap, note = decode_cap(row, column)
    if cap is None or cap // dp >= batch:
        return batch, ""
    return max(1, cap // dp), note or f"at most {cap} running requests per decode worker ({CAP})"  # a rank runs one


def parse_disagg(row: dict, client: Client = Client.SERVING) -> tuple[DisaggArgs, str]:
    """One disaggregated row as validated arguments and its layout note; InputError naming the column."""
    _shape(row)
    for arg, column in COUNT_COLUMN.items():
        if arg != "concurrency" and not _text(row, column):
            raise InputError(column, "is empty: a disaggregated row is estimated from its worker counts and batch "
                                     "sizes (prefill_batch_size, prefill_num_workers, decode_batch_size, "
                                     f"decode_num_workers); accepted: {accepted(DisaggCounts, arg)}")
    if _clients(row) is None:
        raise InputError("silicon_data_source", "records no silicon_concurrency=N: a disaggregated row's TTFT and "
                                                "TPOT depend on its client count, which the row does not say; "
                                                "accepted: a silicon_concurrency=N entry")
    layouts = {role: _layout(row, role) for role in ROLES}
    label = storage_label(_text(row, "model_path"), _text(row, "gemm_quant_mode").lower())
    model, quant, quant_note = label or served(_text(row, "model_path"), _quant(row))
    layouts = {role: block_scaled_ep(lay, _text(row, "backend"), expert_width(model), quant is GemmQuant.FP8_BLOCK,
                                     f"{role.value}: ") for role, lay in layouts.items()}
    common = dict(model=model, system=_text(row, "system"), backend=_text(row, "backend"),
                  version=_text(row, "backend_version") or None, quant=quant, isl=_integer(row, "isl"),
                  osl=_integer(row, "osl"), prefix=0, client=_client(row, client))
    kernels = {role: moe_backend(row, role.value, lay.dp, _clients(row)) for role, lay in layouts.items()}
    engines = {role: dict(tp=lay.tp, pp=_integer(row, "pp", 1, column=f"{role.value}_pp_size"), dp=lay.dp,
                          moe_tp=lay.moe_tp, moe_ep=lay.moe_ep, moe_backend=kernels[role][0])
               for role, lay in layouts.items()}
    counts = {arg: _integer(row, arg, column=column, accepts=accepted(DisaggCounts, arg))
              for arg, column in COUNT_COLUMN.items() if arg != "concurrency"}
    counts["prefill_batch"] = layouts[Role.PREFILL].per_rank(counts["prefill_batch"])
    counts["decode_batch"], cap_note = _capped(row, layouts[Role.DECODE].per_rank(counts["decode_batch"]),
                                               layouts[Role.DECODE].dp)
    drafts, draft_note = speculation(row, layouts[Role.DECODE].dp, _integer(
        row, DRAFTS, 0, column=DRAFTS, accepts=accepted(DisaggCounts, DRAFTS)) if _text(row, DRAFTS) else None)
    args = disagg_arguments(common, engines, {**counts, DRAFTS: drafts, "concurrency": _clients(row)}, CSV_NAMES,
                            {**COUNT_COLUMN, DRAFTS: DRAFTS})
    notes = (*(lay.note for lay in layouts.values()), quant_note, draft_note and f"decode: {draft_note}",
             cap_note and f"decode: {cap_note}",
             *(note and f"{role.value}: {note}" for role, (_, note) in kernels.items()))
    return args, "; ".join(n for n in notes if n)


def _nearest(args: DisaggArgs) -> DisaggArgs:
    return DisaggArgs(with_nearest_version(args.prefill), with_nearest_version(args.decode), args.counts)


def predict_disagg_group(args: DisaggArgs, clients: list[int | None]) -> list[dict]:
    """Predictions for one deployment at each of its rows' client counts (one round of lookups)."""
    try:
        built, priced = price(_nearest(args), CSV_NAMES, dense_ignores_moe=True)
    except ROW_ERRORS as exc:
        return [_failed(exc)] * len(clients)
    version = built[ROLES[0]][0].db.version
    out = []
    for c in clients:
        key = args.counts.model_copy(update={"concurrency": c})
        p = closed_loop(priced.pools, clients_of(DisaggArgs(args.prefill, args.decode, key), priced),
                        SAMPLE_REQUESTS_PER_CLIENT)
        out.append({"pred_ttft_ms": f"{p.ttft_s * 1e3:.4f}", "pred_tpot_ms": f"{p.tpot_s * 1e3:.4f}",
                    "pred_prefill_ms": f"{p.prefill_s * 1e3:.4f}", "pred_queue_ms": f"{p.queue_s * 1e3:.4f}",
                    "pred_kv_transfer_ms": f"{p.kv_transfer_s * 1e3:.4f}",
                    "pred_first_step_ms": f"{p.first_step_s * 1e3:.4f}", "data_version": version, "error": ""})
    return out


def predict_disagg(rows: list[dict], client: Client = Client.SERVING) -> list[tuple[dict, str]]:
    """Each disaggregated row's (predictions or error, layout note), in order."""
    out: list[tuple[dict, str] | None] = [None] * len(rows)
    groups: dict[DisaggArgs, list[tuple[int, int | None, str]]] = {}
    for i, row in enumerate(rows):
        try:
            args, note = parse_disagg(row, client)
        except ROW_ERRORS as exc:
            out[i] = (_failed(exc), "")
            continue
        key = DisaggArgs(args.prefill, args.decode, args.counts.model_copy(update={"concurrency": None}))
        groups.setdefault(key, []).append((i, args.counts.concurrency, note))
    for key, members in groups.items():
        for (i, _, note), pred in zip(members, predict_disagg_group(key, [c for _, c, _ in members])):
            out[i] = (pred, note)
    return out
