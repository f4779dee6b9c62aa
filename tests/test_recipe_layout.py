"""Each role's layout as its launch recipe ran it (bench/disagg_recipe_caps.py recipe_layout, written into
model/catalog/decode_caps.yaml, read by sloplan/csv_decode_caps.py): `estimate --from-csv` prices a
disaggregated role as launched where its row records another split of the same GPUs, the per-rank batch
columns carried over to the launched ranks; a recipe of another GPU count, or none, leaves the row as
recorded."""
from __future__ import annotations

import sys
from pathlib import Path

import sloplan.csv_decode_caps as caps
from sloplan.estimate_rows_disagg import parse_disagg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import disagg_recipe_caps as derive  # noqa: E402


def _row(**values) -> dict:
    """The B200 FP8 row of configuration 556 (8k/1k, one client): recorded prefill tp 1 / dp 8 / ep 8,
    launched by ctx1_gen1_tp8_batch1 as TP 8 with tensor-parallel experts."""
    row = dict(id="x", backend="trtllm", backend_version="1.2.0rc6.post2", model_path="deepseek-ai/DeepSeek-V3",
               system="b200_sxm", mode="disagg", isl="8192", osl="1024", gemm_quant_mode="fp8",
               moe_quant_mode="fp8", prefill_batch_size="1", prefill_num_workers="1", prefill_tp_size="1",
               prefill_pp_size="1", prefill_attention_dp_size="8", prefill_moe_tp_size="1", prefill_moe_ep_size="8",
               decode_batch_size="1", decode_num_workers="1", decode_tp_size="8", decode_pp_size="1",
               decode_attention_dp_size="1", decode_moe_tp_size="8", decode_moe_ep_size="1",
               silicon_data_source="db-dump/2026-04-27; config_id=556; silicon_concurrency=1")
    return {**row, **values}


def test_a_recipes_layout_per_framework():
    trt = {"backend": {"trtllm_config": {"prefill": {"tensor_parallel_size": 8, "moe_expert_parallel_size": 1},
                                         "decode": {"tensor_parallel_size": 8, "enable_attention_dp": True,
                                                    "moe_expert_parallel_size": 8}}}}
    assert derive.recipe_layout(trt) == {"prefill_layout": [8, 1, 1], "decode_layout": [1, 8, 8]}
    sgl = {"backend": {"sglang_config": {"decode": {"tp-size": 32, "dp-size": 32, "ep-size": 32,
                                                    "enable-dp-attention": True}}}}
    assert derive.recipe_layout(sgl) == {"decode_layout": [1, 32, 32]}  # no prefill role: none written
    sgl["backend"]["sglang_config"]["decode"]["enable-dp-attention"] = False
    assert derive.recipe_layout(sgl) == {"decode_layout": [32, 1, 32]}


def test_the_catalog_gives_the_launched_layout_by_configuration_shape_and_clients():
    assert caps.recipe_layout(_row(), "prefill") == ((8, 1, 1), "556")
    assert caps.recipe_layout(_row(isl="1024"), "prefill")[0] is None  # no entry of that shape
    assert caps.recipe_layout(_row(silicon_data_source="config_id=556"), "decode")[0] is None  # no client count


def test_the_row_reader_prices_the_launched_layout():
    args, note = parse_disagg(_row())
    p = args.prefill
    assert (p.tp, p.dp, p.moe_tp, p.moe_ep) == (8, 1, 8, 1)
    assert "prefill: tp 8, dp 1, moe_ep 1 as config_id 556's launch recipe runs it" in note
    assert (args.decode.tp, args.decode.dp) == (8, 1) and "decode: tp" not in note  # recorded as launched


def test_other_gpu_counts_keep_the_record_and_per_rank_batches_follow_the_ranks(monkeypatch):
    entry = {"isl": 8192, "osl": 1024, "concurrencies": [16], "decode_max_running": None, "source": "s",
             "prefill_layout": [4, 1, 1], "decode_layout": [1, 8, 8]}
    monkeypatch.setattr(caps, "_configs", lambda: {"556": [entry]})
    row = _row(silicon_data_source="config_id=556; silicon_concurrency=16", decode_batch_size="16")
    args, note = parse_disagg(row)
    assert (args.prefill.tp, args.prefill.dp) == (1, 8)  # the recipe's 4 GPUs are another worker
    assert (args.decode.tp, args.decode.dp, args.decode.moe_ep) == (1, 8, 8)
    assert args.counts.decode_batch == 2 and args.counts.concurrency == 16  # 16 clients over 8 ranks
