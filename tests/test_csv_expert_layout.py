"""Expert parallelism a campaign's launches set where the row records none (model/catalog/expert_layout.yaml,
sloplan/csv_expert_layout.py, csv_layout.py rule 8): the Dec 2025 GB200 SGLang sweeps' single-decode-worker
entries ran every attention-DP role expert-parallel; their low-latency entries, other images and rows that
record expert parallelism are read as recorded."""
from sloplan.csv_layout import Layout
from sloplan.csv_expert_layout import expert_layout
from sloplan.estimate_rows_disagg import parse_disagg

SRC = ("db-dump/2026-04-27; config_id=259; silicon_concurrency=8192; measured=2025-12-21T00:00:00.000Z; "
       "workflow_run_id=227; lmsysorg/sglang:v0.5.5.post2")


def _row(**kw) -> dict:
    row = dict(id="x", silicon_data_source=SRC, backend="sglang", backend_version="0.5.5.post2",
               model_path="deepseek-ai/DeepSeek-V3", system="gb200", precision="fp4", mode="disagg", isl="1024",
               osl="1024", gemm_quant_mode="nvfp4", moe_quant_mode="nvfp4", prefill_batch_size="1",
               prefill_num_workers="4", prefill_tp_size="1", prefill_pp_size="1", prefill_attention_dp_size="4",
               prefill_moe_tp_size="4", prefill_moe_ep_size="1", decode_batch_size="256", decode_num_workers="1",
               decode_tp_size="1", decode_pp_size="1", decode_attention_dp_size="32", decode_moe_tp_size="32",
               decode_moe_ep_size="1")
    return {**row, **kw}


def test_single_decode_worker_entries_ran_expert_parallel():
    out = expert_layout(_row(), "decode", Layout(1, 32, 32, 1))
    assert (out.tp, out.dp, out.moe_tp, out.moe_ep) == (1, 32, 1, 32)
    assert "expert_layout.yaml" in out.note
    assert expert_layout(_row(), "prefill", Layout(1, 4, 4, 1)).moe_ep == 4


def test_other_entries_images_and_recorded_layouts_are_kept():
    tp_moe = Layout(1, 4, 4, 1)
    assert expert_layout(_row(decode_num_workers="2"), "decode", tp_moe) == tp_moe  # the low-latency scripts
    assert expert_layout(_row(silicon_data_source=SRC.replace("0.5.5.post2", "0.5.8")), "decode", tp_moe) == tp_moe
    assert expert_layout(_row(system="b200_sxm"), "decode", tp_moe) == tp_moe
    assert expert_layout(_row(), "decode", Layout(4, 1, 4, 1)) == Layout(4, 1, 4, 1)  # no attention DP
    recorded = Layout(1, 32, 2, 16)
    assert expert_layout(_row(), "decode", recorded) == recorded


def test_the_row_reader_prices_the_expert_parallel_workers():
    args, note = parse_disagg(_row())
    assert (args.decode.moe_tp, args.decode.moe_ep) == (1, 32)
    assert (args.prefill.moe_tp, args.prefill.moe_ep) == (1, 4)
    assert "decode: expert parallel over its 32 GPUs" in note


def test_the_low_latency_entries_ran_tensor_parallel_and_keep_their_clients():
    low = _row(silicon_data_source=SRC.replace("config_id=259", "config_id=252").replace("=8192", "=32"),
               prefill_num_workers="1", decode_num_workers="2", decode_attention_dp_size="4", decode_moe_tp_size="4",
               decode_batch_size="4")
    out = expert_layout(low, "decode", Layout(1, 4, 4, 1, clients_per=4))
    assert (out.tp, out.dp, out.moe_tp, out.moe_ep, out.clients_per) == (4, 1, 4, 1, 4)
    assert "tensor parallel over its 4 GPUs" in out.note
    args, note = parse_disagg(low)
    assert (args.decode.tp, args.decode.dp, args.decode.moe_ep) == (4, 1, 1)
    assert (args.prefill.tp, args.prefill.dp) == (4, 1)
    assert args.counts.decode_batch == 16 and args.counts.concurrency == 32  # 2 workers x 4 ranks x 4 recorded


def test_a_rule_names_a_known_layout(monkeypatch):
    import pytest

    import sloplan.csv_expert_layout as mod

    monkeypatch.setattr(mod, "load_yaml_file", lambda _: {"rules": [{"layout": "pipeline_parallel"}]})
    mod._rules.cache_clear()
    try:
        with pytest.raises(ValueError):
            mod._rules()
    finally:
        monkeypatch.undo()
        mod._rules.cache_clear()
    assert mod._rules()[0]["layout"] is mod.LaunchLayout.EXPERT_PARALLEL
