"""sloplan/csv_layout.py: each rule that reads a silicon_sample.csv row's parallel layout, and the
`estimate --from-csv` path around it (layout_note, per-row errors, dense rows untouched)."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from sloplan.csv_layout import recover
from sloplan.errors import InputError
from sloplan.estimate_rows import parse_noted, parse_row, predict_rows

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = "source_file=2026-04-06.csv; model=DeepSeek-R1; silicon_concurrency=16; wip=False"
DB_DUMP = "db-dump/2026-04-27; config_id=718; silicon_concurrency=16; workflow_run_id=748"
OTHER = "source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=16"


def row(tp="8", dp="1", mt="8", me="1", source=CAMPAIGN, backend="trtllm", system="h200_sxm",
        model="deepseek-ai/DeepSeek-R1", **extra):
    return {"id": "r", "silicon_data_source": source, "backend": backend, "backend_version": "", "model_path": model,
            "system": system, "mode": "agg", "isl": "1024", "osl": "1024", "gemm_quant_mode": "", "batch_size": "16",
            "tp_size": tp, "pp_size": "1", "attention_dp_size": dp, "moe_tp_size": mt, "moe_ep_size": me, **extra}


def layout(r):
    def integer(column):
        text = r.get(column, "")
        return int(text) if text else None
    return recover(r, integer)


def as_tuple(lay):
    return lay.tp, lay.dp, lay.moe_tp, lay.moe_ep


# rule 1: the campaign writes --tp X --ep X as tp_size (or attention_dp_size) X·X, moe_tp = moe_ep = X
@pytest.mark.parametrize("source", [CAMPAIGN, DB_DUMP])
@pytest.mark.parametrize("recorded, real", [
    (("64", "1", "8", "8"), (8, 1, 1, 8)),
    (("16", "1", "4", "4"), (4, 1, 1, 4)),
    (("4", "1", "2", "2"), (2, 1, 1, 2)),
    (("1", "64", "8", "8"), (1, 8, 1, 8)),  # TRT-LLM attention DP: dp 8 on one node
    (("1", "16", "4", "4"), (1, 4, 1, 4)),
])
def test_rule1_campaign_width_is_tp_times_ep(source, recorded, real):
    lay = layout(row(*recorded, source=source))
    assert as_tuple(lay) == real
    assert "campaign tp·ep convention" in lay.note and "/".join(recorded) in lay.note


# rule 2: the campaign's vLLM rows write --tensor-parallel-size X --enable-expert-parallel as dp X, ep X·X
@pytest.mark.parametrize("recorded, real", [(("2", "2", "1", "4"), (2, 1, 1, 2)),
                                            (("4", "4", "1", "16"), (4, 1, 1, 4))])
def test_rule2_campaign_vllm_ep_written_as_dp(recorded, real):
    lay = layout(row(*recorded, backend="vllm", model="MiniMaxAI/MiniMax-M2.5"))
    assert as_tuple(lay) == real and "vLLM EP convention" in lay.note
    # the same columns under TRT-LLM match no convention of the campaign (rule 5)
    with pytest.raises(InputError) as err:
        layout(row(*recorded, backend="trtllm"))
    assert err.value.field == "moe_ep_size"


def test_other_sources_are_taken_as_recorded():
    """Outside the campaign tp 64 / moe 8×8 is a (wide) layout as written: nothing is mapped silently."""
    assert as_tuple(layout(row("64", "1", "8", "8", source=OTHER))) == (64, 1, 8, 8)
    assert layout(row("64", "1", "8", "8", source=OTHER)).note == ""
    assert as_tuple(layout(row("8", "1", "1", "8", source=OTHER))) == (8, 1, 1, 8)  # tp 8, ep 8, moe_tp 1
    assert as_tuple(layout(row("4", "1", "4", "1"))) == (4, 1, 4, 1)  # campaign, no EP: as recorded


# rule 3: attention DP not recorded, MoE width k × tp
@pytest.mark.parametrize("tp, mt, dp", [("1", "2", 2), ("2", "4", 2), ("1", "4", 4)])
def test_rule3_missing_attention_dp_is_derived(tp, mt, dp):
    lay = layout(row(tp, "", mt, "1", source=OTHER, backend="vllm", model="Qwen/Qwen3-235B-A22B-FP8"))
    assert as_tuple(lay) == (int(tp), dp, int(mt), 1)
    assert f"attention_dp_size {dp}" in lay.note


def test_rule3_does_not_fire_on_a_recorded_dp():
    """dp = 1 written: a mismatch stays for the estimator to refuse (named moe_ep), not re-read."""
    assert as_tuple(layout(row("1", "1", "2", "1", source=OTHER))) == (1, 1, 2, 1)


# rule 4: a GB200 allocation's GPU count in tp_size
@pytest.mark.parametrize("tp", ["12", "20", "28", "36", "52", "72", "32", "64"])
def test_rule4_allocation_sizes_are_refused(tp):
    with pytest.raises(InputError) as err:
        layout(row(tp, "1", tp, "1", system="gb200"))
    assert err.value.field == "tp_size" and "GPU count" in str(err.value) and f"tp_size {tp}" in str(err.value)


@pytest.mark.parametrize("tp", ["8", "16", "4"])
def test_rule4_keeps_engine_sizes(tp):
    assert as_tuple(layout(row(tp, "1", tp, "1", system="gb200"))) == (int(tp), 1, int(tp), 1)


# rule 0: empty or 0 is "not recorded"
def test_rule0_zero_and_empty_are_not_recorded():
    assert as_tuple(layout(row("2", "0", "0", "0", source=OTHER))) == (2, 1, None, None)
    assert as_tuple(layout(row("", "", "", "", source=OTHER))) == (1, 1, None, None)


def test_bad_values_reach_the_schema_named_by_column():
    with pytest.raises(InputError) as err:
        parse_row(row("0", "1", "8", "1"))
    assert err.value.field == "tp_size"
    with pytest.raises(InputError) as err:
        parse_row(row("8", "-2", "8", "1"))
    assert err.value.field == "attention_dp_size"
    with pytest.raises(InputError) as err:
        parse_row(row("8", "1", "8", "2.5"))
    assert err.value.field == "moe_ep_size"


def test_parse_noted_passes_the_layout_into_the_arguments():
    args, note = parse_noted(row("64", "1", "8", "8"))
    assert (args.tp, args.dp, args.moe_tp, args.moe_ep) == (8, 1, 1, 8) and note


def test_moe_rows_keep_a_clear_error_and_their_note():
    """Until the MoE estimators land the model is the row's error (then: a prediction, never a layout
    error); the layout note says how it was read either way."""
    mapped, allocation = predict_rows([row("64", "1", "8", "8"), row("36", "1", "36", "1", system="gb200")])
    assert "campaign tp·ep" in mapped["layout_note"] and allocation["layout_note"] == ""
    if mapped["error"]:
        assert mapped["error"].startswith("InputError: model_path:") and mapped["pred_ttft_ms"] == ""
    else:
        assert float(mapped["pred_tpot_ms"]) > 0
    assert allocation["error"].startswith("InputError: tp_size:") and "GPU count" in allocation["error"]


DENSE = dict(model="Qwen/Qwen3-32B", system="h100_sxm", backend="vllm", source=OTHER)


def test_dense_rows_ignore_the_moe_columns():
    """The sample writes tp_size, 0 or 1 into a dense row's MoE columns: predictions do not change."""
    variants = [row("2", "1", "2", "1", **DENSE), row("2", "0", "0", "0", **DENSE), row("2", "", "", "", **DENSE),
                {k: v for k, v in row("2", **DENSE).items()
                 if k not in ("attention_dp_size", "moe_tp_size", "moe_ep_size")}]
    preds = predict_rows(variants)
    assert all(p["error"] == "" and p["layout_note"] == "" for p in preds), preds
    assert len({(p["pred_ttft_ms"], p["pred_tpot_ms"]) for p in preds}) == 1


def test_dense_row_with_attention_dp_is_an_error():
    pred = predict_rows([row("2", "2", "", "", **DENSE)])[0]
    assert pred["error"].startswith("InputError: attention_dp_size:") and "dense" in pred["error"]


def test_cli_writes_layout_note(tmp_path):
    rows = [row("64", "1", "8", "8"), row("2", "1", "2", "1", **DENSE)]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with open(src, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = subprocess.run([sys.executable, "-m", "sloplan", "estimate", "--from-csv", src, "--out", out],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    got = list(csv.DictReader(open(out, newline="")))
    assert list(got[0])[-5:] == ["layout_note", "pred_ttft_ms", "pred_tpot_ms", "data_version", "error"]
    assert "tp 8, ep 8 on 8 GPUs" in got[0]["layout_note"] and got[1]["layout_note"] == ""
    assert float(got[1]["pred_tpot_ms"]) > 0


@pytest.mark.parametrize("given, split", [
    (dict(tp=4), (1, 4, 1)),  # no expert flag: tensor-parallel experts over tp x dp
    (dict(tp=4, moe_ep=4), (1, 1, 4)),
    (dict(tp=1, dp=8, moe_ep=8), (8, 1, 8)),
    (dict(tp=4, moe_tp=2), (1, 2, 2)),
    (dict(tp=8, moe_tp=2, moe_ep=4), (1, 2, 4)),
])
def test_moe_split_derives_the_missing_side(given, split):
    from sloplan.estimation import arguments, moe_split

    assert moe_split(arguments(model="m", system="s", **given), True) == split


@pytest.mark.parametrize("given, field", [(dict(tp=4, moe_tp=2, moe_ep=4), "moe_ep"), (dict(tp=4, moe_ep=3), "moe_ep"),
                                          (dict(tp=4, moe_tp=8), "moe_tp")])
def test_moe_split_refuses_a_width_mismatch(given, field):
    from sloplan.estimation import arguments, moe_split

    with pytest.raises(InputError) as err:
        moe_split(arguments(model="m", system="s", **given), True)
    assert err.value.field == field and "tp × dp" in str(err.value)


def test_dense_split_is_one_unless_csv():
    from sloplan.estimation import arguments, moe_split

    args = arguments(model="m", system="s", tp=2, moe_tp=2)
    assert moe_split(args, False, dense_ignores_moe=True) == (1, 1, 1)
    with pytest.raises(InputError) as err:
        moe_split(args, False)
    assert err.value.field == "moe_tp"
