"""`estimate --from-csv`: every row of a silicon_sample.csv-style file comes back with predictions or its error.

A bad row costs only itself: anything input-shaped about it (a column that is not a finite integer,
an unknown quantization, too many or too few fields, a model the release cannot estimate) becomes
that row's `error`, and the other rows are predicted. Only InputError and perfdb's input errors are
row errors; anything else is a bug and surfaces (exit 1) rather than hiding in the output.

Rows that share a configuration (model, system, backend, version, tp, pp, quant, isl, osl) are
evaluated together, in one estimator call over their concurrencies: the context and the step curves
are built once per configuration, not once per row, and every number is what `estimate` gives for
that row alone (tests/test_estimate_csv.py compares them).
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from collections.abc import Callable

import numpy as np

from sloplan.core.enums import Client
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .csv_quant import expert_width, served, storage_label
from sloplan.perfdb import nearest_version
from sloplan.perfdb.errors import PerfDBInputError, UnknownSystem

from .csv_layout import block_scaled_ep, recover
from .csv_moe_backend import moe_backend
from .csv_speculation import speculation
from .errors import InputError, shown
from .estimation import EstimateArgs, arguments, context_for, metrics
from .fields import accepted
from .outfile import atomic_write, check_target

REQUIRED = ("model_path", "system", "backend", "isl", "osl")
PREDICTIONS = ("layout_note", "pred_ttft_ms", "pred_tpot_ms", "data_version", "error")
# estimate's argument → the silicon_sample.csv column that carries it (the others have the same name)
COLUMN = {"model": "model_path", "tp": "tp_size", "pp": "pp_size", "quant": "gemm_quant_mode",
          "concurrency": "batch_size", "version": "backend_version", "dp": "attention_dp_size",
          "moe_tp": "moe_tp_size", "moe_ep": "moe_ep_size"}
ARGUMENT = {column: arg for arg, column in COLUMN.items()}
QUANT_COLUMN = {"bf16": GemmQuant.BF16, "bfloat16": GemmQuant.BF16, "float16": GemmQuant.BF16,
                "fp8": GemmQuant.FP8, "fp8_block": GemmQuant.FP8_BLOCK, "nvfp4": GemmQuant.NVFP4}
ROW_ERRORS = (InputError, PerfDBInputError)
ERROR_CHARS = 300  # an error cell stays one bounded line whatever the row echoes

Advance = Callable[[int], None]


def _text(row: dict, column: str) -> str:
    return (row.get(column) or "").strip()


def _integer(row: dict, arg: str, default: int | None = None, column: str | None = None,
             accepts: str | None = None) -> int | None:
    """An integral column: empty → `default` (required when None); 1000.0 is 1000; 1000.7, inf, 1e400,
    nan and words are errors naming the column (never truncated or guessed). `column` and `accepts`
    default to estimate's argument `arg` as the sample names it and what the schema accepts."""
    column = column or COLUMN.get(arg, arg)
    what = accepts if accepts is not None else accepted(EstimateArgs, arg)
    text = _text(row, column)
    if not text:
        if default is None:
            raise InputError(column, f"is empty; accepted: {what}")
        return default
    try:
        return int(text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        raise InputError(column, f"not a number (got {shown(text)}); accepted: {what}") from None
    if not math.isfinite(x) or x != math.floor(x):
        raise InputError(column, f"must be a finite integer (got {shown(text)}); accepted: {what}")
    return int(x)


def _quant(row: dict) -> GemmQuant | None:
    name = _text(row, "gemm_quant_mode").lower()
    if not name:
        return None
    if name not in QUANT_COLUMN:
        raise InputError("gemm_quant_mode", f"unknown value {shown(name)}; accepted: {', '.join(QUANT_COLUMN)}, "
                                            "or empty for the checkpoint's own format")
    return QUANT_COLUMN[name]


def _shape(row: dict) -> None:
    """csv.DictReader puts a longer row's extra fields under None and fills a shorter row with None."""
    width = len(row) - (None in row)
    if None in row:
        raise InputError("from_csv", f"row has {len(row[None])} more field(s) than the header; "
                                     f"accepted: the header's {width} fields")
    short = [k for k, v in row.items() if v is None]
    if short:
        raise InputError("from_csv", f"row has {len(short)} field(s) fewer than the header (no {shown(short[0])}); "
                                     f"accepted: the header's {width} fields")


def _client(row: dict, default: Client) -> Client | str:
    """A `client` column, when the file has one, chooses per row; else the command's --client."""
    return _text(row, "client") or default


def parse_noted(row: dict, client: Client = Client.SERVING) -> tuple[EstimateArgs, str]:
    """One row as validated estimate arguments (aggregated mode) and how its layout columns were read
    (sloplan/csv_layout.py; empty when as recorded); InputError naming the column otherwise."""
    _shape(row)
    if (_text(row, "mode") or "agg") != "agg":
        mode = shown(_text(row, "mode"))
        raise InputError("mode", f"a row is aggregated or disaggregated (got {mode}); accepted: agg, disagg")
    layout = recover(row, lambda column: _integer(row, ARGUMENT.get(column, column), 0) if _text(row, column) else None)
    label = storage_label(_text(row, "model_path"), _text(row, "gemm_quant_mode").lower())
    model, quant, quant_note = label or served(_text(row, "model_path"), _quant(row))
    layout = block_scaled_ep(layout, _text(row, "backend"), expert_width(model), quant is GemmQuant.FP8_BLOCK)
    drafts, draft_note = speculation(row, layout.dp, _integer(row, "draft_tokens", 0) if _text(row, "draft_tokens")
                                     else None)
    concurrency = layout.concurrency(_integer(row, "concurrency"))
    kernel, kernel_note = moe_backend(row, "agg", layout.dp, concurrency)
    args = arguments(COLUMN, model=model, system=_text(row, "system"),
                     backend=_text(row, "backend"), version=_text(row, "backend_version") or None,
                     tp=layout.tp, pp=_integer(row, "pp", 1), quant=quant, dp=layout.dp,
                     moe_tp=layout.moe_tp, moe_ep=layout.moe_ep, client=_client(row, client),
                     isl=_integer(row, "isl"), osl=_integer(row, "osl"),
                     concurrency=concurrency, mode=ServingMode.AGG, draft_tokens=drafts, moe_backend=kernel)
    return args, "; ".join(n for n in (layout.note, quant_note, draft_note, kernel_note) if n)


def parse_row(row: dict, client: Client = Client.SERVING) -> EstimateArgs:
    """One row as validated estimate arguments (aggregated mode); InputError naming the column otherwise."""
    return parse_noted(row, client)[0]


def with_nearest_version(args: EstimateArgs) -> EstimateArgs:
    """A row's framework version without data is estimated on the nearest one that has data; the version
    it ran stays its `runtime_version` (what that version's step pays follows it: sloplan/context.py)."""
    if args.version is None:
        return args
    try:
        return args.model_copy(update={"version": nearest_version(args.system, args.backend.value, args.version),
                                       "runtime_version": args.runtime_version or args.version})
    except UnknownSystem as exc:
        accepted_systems = ", ".join(exc.accepted)
        raise InputError("system", f"unknown system {shown(args.system)}; accepted: {accepted_systems}") from None
    except PerfDBInputError:
        raise InputError("backend_version", f"no {args.backend.value} data on {args.system} for any version; "
                                            "accepted: empty") from None


def row_config(row: dict) -> dict:
    """Keyword arguments of `estimation.configure` for one row (bench/calibrate.py prices rows with it)."""
    args = with_nearest_version(parse_row(row))
    return {**args.model_dump(exclude={"mode", "concurrency", "max_batch_size"}), "dense_ignores_moe": True}


def _one_line(exc: Exception) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else f"{text[:ERROR_CHARS - 1]}…"


def _failed(exc: Exception) -> dict:
    return {"pred_ttft_ms": "", "pred_tpot_ms": "", "data_version": "", "error": _one_line(exc)}


def _column_error(exc: InputError) -> InputError:
    """An argument's error named as the CSV names it: tp → tp_size, moe_ep → moe_ep_size."""
    return InputError(COLUMN.get(exc.field, exc.field), str(exc).split(": ", 1)[-1])


def predict_group(args: EstimateArgs, concurrencies: list[int]) -> list[dict]:
    """Predictions for one configuration at each of its rows' concurrencies (one estimator call)."""
    try:  # the sample writes tp_size, 0 or 1 into a dense row's MoE columns: they say nothing there
        ctx, slot = context_for(with_nearest_version(args), dense_ignores_moe=True)
    except InputError as exc:
        return [_failed(_column_error(exc))] * len(concurrencies)
    except PerfDBInputError as exc:
        return [_failed(exc)] * len(concurrencies)
    m = metrics(ctx, slot, ServingMode.AGG, np.array(concurrencies))
    return [{"pred_ttft_ms": f"{float(t) * 1e3:.4f}", "pred_tpot_ms": f"{float(p) * 1e3:.4f}",
             "data_version": ctx.db.version, "error": ""} for t, p in zip(m.ttft_s, m.tpot_s)]


def predict_rows(rows: list[dict], advance: Advance = lambda n: None, client: Client = Client.SERVING) -> list[dict]:
    """Each row's predictions (or error) and its layout note, in row order; rows sharing a configuration
    are evaluated together. `client` is the default for rows without a `client` column."""
    out: list[dict | None] = [None] * len(rows)
    notes = [""] * len(rows)
    groups: dict[EstimateArgs, list[tuple[int, int]]] = {}
    disagg = [i for i, row in enumerate(rows) if _text(row, "mode") == "disagg"]
    if disagg:  # their own path (sloplan/estimate_rows_disagg.py)
        from .estimate_rows_disagg import predict_disagg

        for i, (pred, note) in zip(disagg, predict_disagg([rows[i] for i in disagg], client)):
            out[i], notes[i] = pred, note
    for i, row in enumerate(rows):
        if out[i] is not None:
            continue
        try:
            args, notes[i] = parse_noted(row, client)
        except ROW_ERRORS as exc:
            out[i] = _failed(exc)
            continue
        groups.setdefault(args.model_copy(update={"concurrency": 1}), []).append((i, args.concurrency))
    advance(len(rows) - sum(map(len, groups.values())))  # disaggregated and refused rows are done
    for key, members in groups.items():
        for (i, _), pred in zip(members, predict_group(key, [c for _, c in members])):
            out[i] = pred
        advance(len(members))
    return [{**pred, "layout_note": note} for pred, note in zip(out, notes)]


def estimate_row(row: dict, client: Client = Client.SERVING) -> dict:
    """Predict one row; returns pred_ttft_ms, pred_tpot_ms, data_version, error, layout_note."""
    return predict_rows([row], client=client)[0]


def read_rows(src: Path) -> tuple[list[str], list[dict]]:
    """The header and the rows of a CSV file; a file that is not a readable text CSV is an InputError."""
    if not src.exists():
        raise InputError("from_csv", f"file not found: {shown(str(src))}")
    if not src.is_file():
        raise InputError("from_csv", f"not a regular file: {shown(str(src))}")
    try:
        with open(src, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError("from_csv", f"not a text CSV file: {shown(str(src))} ({exc.__class__.__name__})") from None
    except OSError as exc:
        raise InputError("from_csv", f"cannot read {shown(str(src))} ({exc.strerror})") from None
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise InputError("from_csv", f"missing columns {', '.join(missing)}; "
                                     "the input uses silicon_sample.csv's columns")
    return fields, rows


def estimate_csv(src: Path, out: Path, progress: Callable[[int], Advance] | None = None,
                 client: Client = Client.SERVING) -> tuple[int, int]:
    """Read rows, predict each, write all input columns plus predictions; returns (rows, predicted).
    `progress(total)`, when given, returns the callable to advance by a number of rows done. The output
    target is checked before any work (a bad --out fails at once) and written whole or not at all.
    `client` applies to rows without a `client` column."""
    src, out = Path(src), check_target("out", Path(out))
    fields, rows = read_rows(src)
    preds = predict_rows(rows, progress(len(rows)) if progress else lambda n: None, client)
    header = fields + [c for c in PREDICTIONS if c not in fields]
    if any(_text(row, "mode") == "disagg" for row in rows):  # TTFT's parts (sloplan/estimate_rows_disagg.py)
        from .estimate_rows_disagg import DISAGG_PREDICTIONS

        header += [c for c in DISAGG_PREDICTIONS if c not in header]

    def write(fh) -> None:
        w = csv.DictWriter(fh, fieldnames=header, restval="")
        w.writeheader()
        w.writerows({**{f: row.get(f) for f in fields}, **pred} for row, pred in zip(rows, preds))

    atomic_write("out", out, write)
    return len(rows), sum(1 for p in preds if not p["error"])


def every(seconds: float, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic
          ) -> Callable[[int], Advance]:
    """A `progress` for estimate_csv that writes a plain line ("estimating: 1200/5000 rows") at most once
    every `seconds`: scripts and logs see a long run advance without a terminal's progress bar."""
    def start(total: int) -> Advance:
        done, last = 0, clock()

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = clock()
            if now - last >= seconds and done < total:
                write(f"estimating: {done}/{total} rows")
                last = now
        return advance
    return start
