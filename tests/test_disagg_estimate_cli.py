"""`sloplan estimate --mode disagg` flags and errors, and `--from-csv` on the sample's disaggregated rows."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sloplan.estimate_disagg import estimate_disagg
from sloplan.estimate_rows import predict_rows
from sloplan.estimate_rows_disagg import parse_disagg

ROOT = Path(__file__).resolve().parents[1]
QWEN = ["--model", "Qwen/Qwen3-32B", "--system", "h200_sxm", "--isl", "2000", "--osl", "200"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_table_and_json_carry_the_ttft_breakdown():
    flags = [*QWEN, "--mode", "disagg", "--prefill-tp", "2", "--decode-tp", "2", "--decode-batch", "16",
             "--decode-workers", "2", "--concurrency", "32"]
    table = run("estimate", *flags)
    assert table.returncode == 0, table.stderr
    assert all(word in table.stdout for word in ("TTFT ms", "queue", "KV transfer", "first step", "decode slots",
                                                 "disaggregated constants", "prefill busy time"))
    doc = json.loads(run("estimate", *flags, "--json").stdout)
    assert doc["mode"] == "disagg" and doc["concurrency"] == 32 and doc["gpus"] == 6
    parts = doc["prefill_ms"] + doc["queue_ms"] + doc["kv_transfer_ms"] + doc["first_step_ms"]
    assert doc["ttft_ms"] == pytest.approx(parts)
    api = estimate_disagg("Qwen/Qwen3-32B", "h200_sxm", prefill_tp=2, decode_tp=2, decode_batch=16, decode_workers=2,
                          concurrency=32, isl=2000, osl=200)
    assert doc["ttft_ms"] == pytest.approx(api.ttft_ms) and doc["tpot_ms"] == pytest.approx(api.tpot_ms)


@pytest.mark.parametrize("flags, field", [
    (["--prefill-tp", "2"], "prefill_tp"),  # a disaggregated flag without --mode disagg
    (["--mode", "disagg", "--tp", "2"], "tp"),  # one engine's layout in a two-engine mode
    (["--mode", "disagg", "--decode-workers", "0"], "decode_workers"),
    (["--mode", "disagg", "--prefill-tp", "3"], "prefill_tp"),
    (["--mode", "disaggregated"], "mode"),
    (["--mode", "disagg", "--moe-backend", "TRTLLM"], "moe_backend"),  # each role has its own
    (["--decode-moe-backend", "TRTLLM"], "decode_moe_backend"),  # without --mode disagg
])
def test_bad_flags_are_one_line_exit_2(flags, field):
    r = run("estimate", *QWEN, *flags)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: ") and "accepted" in lines[0]


def _sample() -> tuple[list[str], list[dict]]:
    spec = importlib.util.find_spec("aiconfigurator_core")
    path = Path(list(spec.submodule_search_locations)[0]) / "systems" / "silicon_sample.csv"
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        dev = [r for r in reader if int(hashlib.sha256(r["id"].encode()).hexdigest()[:8], 16) % 5 != 0]
        return list(reader.fieldnames or []), dev


@pytest.fixture(scope="module")
def sample_rows():
    """Development-split disaggregated rows of one deployment at two client counts, and another's."""
    columns, dev = _sample()
    mine = [r for r in dev if r["mode"] == "disagg" and r["system"] == "h200_sxm" and r["backend"] == "trtllm"
            and r["prefill_num_workers"] == "1" and r["decode_num_workers"] == "9" and r["isl"] == "1024"
            and r["prefill_tp_size"] == "8"]
    assert len(mine) >= 2
    other = next(r for r in dev if r["mode"] == "disagg" and r["system"] == "b200_sxm" and r["backend"] == "sglang"
                 and r["prefill_num_workers"] and r["gemm_quant_mode"] == "fp8")
    return columns, [mine[0], mine[1], other]


def test_sample_rows_are_predicted_with_their_parts(sample_rows, tmp_path):
    columns, rows = sample_rows
    src, out = tmp_path / "in.csv", tmp_path / "pred.csv"
    with src.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    r = run("estimate", "--from-csv", src, "--out", out)
    assert r.returncode == 0 and "3/3 rows predicted" in r.stderr, r.stderr
    with out.open(newline="") as fh:
        preds = list(csv.DictReader(fh))
    for p in preds:
        parts = sum(float(p[f"pred_{k}_ms"]) for k in ("prefill", "queue", "kv_transfer", "first_step"))
        assert p["error"] == "" and float(p["pred_ttft_ms"]) == pytest.approx(parts, abs=3e-4)
    # the same numbers as the API on the row's arguments, and two client counts priced once as each alone
    args, _ = parse_disagg(rows[0])
    alone = predict_rows([rows[0]])[0]
    assert alone["pred_tpot_ms"] == preds[0]["pred_tpot_ms"] and alone["pred_ttft_ms"] == preds[0]["pred_ttft_ms"]
    assert args.counts.concurrency == int(rows[0]["silicon_data_source"].split("silicon_concurrency=")[1].split(";")[0])


def _row(columns: list[str], **values) -> dict:
    base = {c: "" for c in columns}
    base.update(id="x", backend="trtllm", model_path="deepseek-ai/DeepSeek-V3", system="gb300", mode="disagg",
                isl="1024", osl="1024", gemm_quant_mode="fp8", prefill_batch_size="1", prefill_num_workers="1",
                prefill_tp_size="1", prefill_pp_size="1", prefill_attention_dp_size="4", prefill_moe_tp_size="1",
                prefill_moe_ep_size="4", decode_batch_size="4", decode_num_workers="2", decode_tp_size="8",
                decode_pp_size="1", decode_attention_dp_size="1", decode_moe_tp_size="1", decode_moe_ep_size="8",
                silicon_data_source="db-dump/2026-04-27; silicon_concurrency=8")
    base.update(values)
    return base


def test_role_columns_follow_csv_layouts_rules(sample_rows):
    columns, _ = sample_rows
    # the campaign writes each role in the natural convention: read as recorded, not refused (rules 1, 2, 5)
    ok = predict_rows([_row(columns)])[0]
    assert ok["error"] == "" and float(ok["pred_ttft_ms"]) > 0
    # a GPU count in a role's tp column (rule 4) is refused naming that role's column
    count = predict_rows([_row(columns, decode_tp_size="72", decode_moe_tp_size="72", decode_moe_ep_size="1")])[0]
    assert "decode_tp_size" in count["error"] and count["pred_ttft_ms"] == ""


@pytest.mark.parametrize("column", ["prefill_batch_size", "prefill_num_workers", "decode_batch_size",
                                    "decode_num_workers"])
def test_a_row_without_a_count_says_which(sample_rows, column):
    columns, _ = sample_rows
    pred = predict_rows([_row(columns, **{column: ""})])[0]
    assert pred["pred_ttft_ms"] == "" and f"{column}: is empty" in pred["error"]


def test_rule6_reads_an_sglang_decode_role_fp8_blocks_cannot_split_as_expert_parallel(sample_rows):
    columns, _ = sample_rows
    wide = dict(backend="sglang", system="gb200", gemm_quant_mode="fp8_block", moe_quant_mode="fp8_block",
                decode_tp_size="1", decode_attention_dp_size="32", decode_moe_tp_size="32", decode_moe_ep_size="1",
                decode_batch_size="16", decode_num_workers="1")
    args, note = parse_disagg(_row(columns, **wide))
    assert (args.decode.moe_tp, args.decode.moe_ep) == (1, 32) and "decode: SGLang cannot split 2048-wide" in note
    assert (args.prefill.moe_tp, args.prefill.moe_ep) == (1, 4)  # already expert parallel: as recorded
    args, note = parse_disagg(_row(columns, **{**wide, "gemm_quant_mode": "nvfp4", "moe_quant_mode": "nvfp4"}))
    assert (args.decode.moe_tp, args.decode.moe_ep) == (32, 1) and "cannot split" not in note  # 64-wide NVFP4


def test_a_row_without_its_client_count_is_not_guessed(sample_rows):
    """The row's load decides its TPOT; a row that does not record it gets an error naming the column."""
    columns, _ = sample_rows
    pred = predict_rows([_row(columns, silicon_data_source="source_file=x.csv; measured=2026-01-25")])[0]
    assert pred["pred_tpot_ms"] == "" and "silicon_data_source" in pred["error"]
    assert "silicon_concurrency" in pred["error"]
    assert predict_rows([_row(columns)])[0]["error"] == ""

