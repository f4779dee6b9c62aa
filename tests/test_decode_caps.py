"""Decode workers' request caps (issue 13 TTFT): the recipe reading of bench/disagg_recipe_caps.py, the
catalog it writes (model/catalog/decode_caps.yaml) as sloplan/csv_decode_caps.py reads it, the
`decode_max_running` column of `estimate --from-csv` and its refusals, and `estimate --mode disagg`'s
decode batch (the cap) against its concurrency (the benchmark's clients)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sloplan
import sloplan.csv_decode_caps as caps
from sloplan.estimate_disagg import estimate_disagg
from sloplan.estimate_rows import predict_rows
from sloplan.estimate_rows_disagg import CAP, parse_disagg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import disagg_recipe_caps as derive  # noqa: E402


def _row(**values) -> dict:
    """A GB300 TensorRT-LLM disaggregated row of benchmark configuration 392 (its 1k/8k entries: C = 4 on
    ctx1_gen4_tep8_batch1, C = 36 on ctx1_gen4_tep8_batch8) at 36 clients over 4 decode workers."""
    row = dict(id="x", backend="trtllm", backend_version="1.2.0rc6.post2", model_path="deepseek-ai/DeepSeek-V3",
               system="gb300", mode="disagg", isl="1024", osl="8192", gemm_quant_mode="fp8", moe_quant_mode="fp8",
               prefill_batch_size="1", prefill_num_workers="1", prefill_tp_size="1", prefill_pp_size="1",
               prefill_attention_dp_size="8", prefill_moe_tp_size="1", prefill_moe_ep_size="8",
               decode_batch_size="9", decode_num_workers="4", decode_tp_size="8", decode_pp_size="1",
               decode_attention_dp_size="1", decode_moe_tp_size="1", decode_moe_ep_size="8",
               silicon_data_source="db-dump/2026-04-27; config_id=392; silicon_concurrency=36")
    row.update(values)
    return row


def _with_clients(row: dict, clients: int, config: int = 392) -> dict:
    return {**row, "silicon_data_source": f"db-dump/2026-04-27; config_id={config}; silicon_concurrency={clients}"}


def test_a_recipes_cap_is_one_workers_requests_over_all_its_ranks():
    trt = {"backend": {"trtllm_config": {"decode": {"max_batch_size": 16, "tensor_parallel_size": 8}}}}
    assert derive.recipe_cap(trt) == 16  # attention DP off: one rank schedules the worker's requests
    trt["backend"]["trtllm_config"]["decode"]["enable_attention_dp"] = True
    assert derive.recipe_cap(trt) == 128  # max_batch_size is per attention-DP rank
    sgl = {"backend": {"sglang_config": {"decode": {"max-running-requests": 100, "data-parallel-size": 8,
                                                    "enable-dp-attention": True}}}}
    assert derive.recipe_cap(sgl) == 96  # SGLang gives each of its 8 ranks 100 // 8
    sgl["backend"]["sglang_config"]["decode"]["enable-dp-attention"] = False
    assert derive.recipe_cap(sgl) == 100
    assert derive.recipe_cap({"backend": {"sglang_config": {"decode": {"mem-fraction-static": 0.8}}}}) is None
    entry = {"prefill": {"additional-settings": ["PREFILL_MAX_BATCH_SIZE=4"]},
             "decode": {"tp": 8, "dp-attn": True, "additional-settings": ["DECODE_MAX_BATCH_SIZE=32"]}}
    facts = derive.entry_cap(entry, [], "2026-01-01")[0]
    assert facts["decode_max_running"] == 256 and facts["prefill_max_batch"] == 4  # prefill without dp-attn


def test_the_catalog_covers_development_config_ids_with_positive_caps_and_sources():
    from accuracy import silicon_csv_path
    from accuracy_disagg import load_dev_disagg

    dev = {m.group(1) for r in load_dev_disagg(silicon_csv_path())
           if (m := re.search(r"config_id=(\d+)", r["silicon_data_source"]))}
    table = caps._configs()
    assert table and set(table) <= dev
    entries = [e for es in table.values() for e in es]
    assert all(e["decode_max_running"] is None or e["decode_max_running"] >= 1 for e in entries)
    assert all("nvidia-master.yaml@" in e["source"] for e in entries)
    assert sum(e["decode_max_running"] is not None for e in entries) > len(entries) / 2


# caps read by hand from the rows' srt-slurm recipes before the derivation existed (issue 13's probe)
HAND_READ = {("392", "1024", "8192", 4): 1, ("392", "1024", "8192", 36): 8, ("386", "8192", "1024", 18): 4,
             ("320", "8192", "1024", 100): 16, ("315", "8192", "1024", 370): 64, ("641", "8192", "1024", 288): 256,
             ("649", "8192", "1024", 288): 128}


def test_the_catalog_agrees_with_the_caps_read_by_hand():
    for (config, isl, osl, clients), cap in HAND_READ.items():
        row = _with_clients(_row(isl=isl, osl=osl), clients, int(config))
        got, note = caps.decode_cap(row, None)
        assert got == cap and f"config_id {config}" in note and "decode_caps.yaml" in note


def test_the_catalog_matches_config_shape_and_client_count_and_a_column_wins():
    assert caps.decode_cap(_with_clients(_row(), 37), None) == (None, "")  # no entry lists 37 clients
    assert caps.decode_cap(_with_clients(_row(), 36, config=1), None) == (None, "")  # not a configuration there
    assert caps.decode_cap(_row(isl="2048"), None) == (None, "")
    assert caps.decode_cap(_row(), 12) == (12, "")


def test_two_entries_listing_one_client_count_with_different_caps_give_none(monkeypatch):
    entries = [{"isl": 1024, "osl": 8192, "concurrencies": [36], "decode_max_running": c, "source": "s"}
               for c in (8, 16)]
    monkeypatch.setattr(caps, "_configs", lambda: {"392": entries})
    assert caps.decode_cap(_row(), None) == (None, "")
    monkeypatch.setattr(caps, "_configs", lambda: {"392": entries[:1] * 2})
    assert caps.decode_cap(_row(), None)[0] == 8


def test_the_cap_cuts_the_decode_batch_per_rank():
    args, note = parse_disagg(_row())  # the catalog's 8 per worker under the sample's 9
    assert args.counts.decode_batch == 8 and args.counts.concurrency == 36 and "decode_caps.yaml" in note
    args, note = parse_disagg(_row(**{CAP: "6"}))
    assert args.counts.decode_batch == 6 and f"({CAP})" in note
    args, note = parse_disagg(_row(**{CAP: "64"}))  # holds every client: the sample's batch as before
    assert args.counts.decode_batch == 9 and "running requests" not in note
    dp = dict(decode_attention_dp_size="4", decode_tp_size="1", decode_batch_size="10")
    args, _ = parse_disagg(_row(**dp, **{CAP: "18"}))
    assert args.counts.decode_batch == 4  # 18 requests over 4 ranks: 4 each
    args, note = parse_disagg(_with_clients(_row(), 37))  # no cap anywhere: today's behaviour
    assert args.counts.decode_batch == 9 and "running requests" not in note


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3", "inf", "9999999"])
def test_a_bad_decode_max_running_is_an_error_naming_the_column(value):
    with pytest.raises(sloplan.InputError) as exc:
        parse_disagg(_row(**{CAP: value}))
    assert exc.value.field == CAP and "\n" not in str(exc.value)
    with pytest.raises(sloplan.InputError, match=f"{CAP}: must be at least the decode attention-DP ranks"):
        parse_disagg(_row(decode_attention_dp_size="4", decode_tp_size="1", **{CAP: "3"}))


def test_a_capped_row_waits_for_a_slot_and_says_so(isolated_perfdb_cache):
    free, capped, bad = predict_rows([_row(**{CAP: "64"}), _row(**{CAP: "4"}), _row(**{CAP: "x"})])
    assert free["error"] == "" and capped["error"] == ""
    assert float(capped["pred_queue_ms"]) > float(free["pred_queue_ms"]) + 100  # 20 clients beyond 16 slots
    assert float(capped["pred_ttft_ms"]) > float(free["pred_ttft_ms"])
    assert float(capped["pred_tpot_ms"]) < float(free["pred_tpot_ms"])  # 4 decoding together, not 9
    assert CAP in bad["error"] and bad["pred_ttft_ms"] == ""


def test_estimate_disagg_prices_a_decode_batch_below_its_clients(isolated_perfdb_cache):
    kw = dict(prefill_tp=8, decode_tp=8, decode_workers=2, isl=1024, osl=1024, concurrency=32)
    roomy, tight = (estimate_disagg("nvidia/DeepSeek-R1-NVFP4", "b200_sxm", "trtllm", decode_batch=b, **kw)
                    for b in (16, 4))
    assert roomy.decode_slots == 16 and tight.decode_slots == 4 and tight.concurrency == roomy.concurrency == 32
    assert tight.decode_saturated and not roomy.decode_saturated
    assert tight.queue_ms > roomy.queue_ms and tight.decode_running <= 4 + 1e-9


def _commit(repo: Path, day: str, batch: int) -> None:
    recipe = {"resources": {"prefill_workers": 1, "decode_workers": 2},
              "backend": {"trtllm_config": {"decode": {"max_batch_size": batch}}}}
    (repo / "recipes").mkdir(exist_ok=True)
    (repo / "recipes" / "r.yaml").write_text(yaml.safe_dump(recipe))
    env = {"GIT_AUTHOR_DATE": f"{day}T12:00:00Z", "GIT_COMMITTER_DATE": f"{day}T12:00:00Z", "HOME": str(repo),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["add", "-A"], ["commit", "-qm", day]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env={**os.environ, **env})


def test_a_recipe_is_read_as_committed_on_the_rows_day_else_its_earliest_version(tmp_path):
    repo = tmp_path / "NVIDIA+srt-slurm" / "repo"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, "2026-01-10", 8)
    _commit(repo, "2026-02-10", 16)
    entry = {"prefill": {"num-worker": 1, "additional-settings": ["CONFIG_FILE=recipes/r.yaml"]},
             "decode": {"num-worker": 2, "tp": 8}}
    clones = [str(repo)]
    for day, cap in (("2026-01-10", 8), ("2026-02-01", 8), ("2026-02-10", 16), ("2026-03-01", 16)):
        facts, source = derive.entry_cap(entry, clones, day)
        assert facts["decode_max_running"] == cap and source.startswith("NVIDIA/srt-slurm:recipes/r.yaml@")
    facts, source = derive.entry_cap(entry, clones, "2026-01-01")  # before any version: the earliest, said so
    assert facts["decode_max_running"] == 8 and "(first in the clones 2026-01-10)" in source
    other = {**entry, "decode": {"num-worker": 3, "tp": 8}}  # the recipe's workers are not the entry's
    assert derive.entry_cap(other, clones, "2026-03-01")[0]["decode_max_running"] is None
    assert derive.entry_cap(entry, [str(tmp_path)], "2026-03-01")[0]["decode_max_running"] is None  # not a clone
