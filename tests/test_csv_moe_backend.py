"""The MoE backend a CSV row's launch set (model/catalog/moe_backend.yaml, sloplan/csv_moe_backend.py): per
campaign and role, by the role's attention DP and, for the older aggregated script, the client count; CUTLASS
(TensorRT-LLM's default) wherever no rule matches. The row reader puts it on the engine it prices."""
from sloplan.estimate_rows import parse_noted
from sloplan.estimate_rows_disagg import parse_disagg
from sloplan.perfdb.queries import MoeKernel
from sloplan.csv_moe_backend import moe_backend

OLD = ("db-dump; config_id=1; silicon_concurrency=64; measured=2025-12-15T00:00:00.000Z; "
       "image=nvcr.io#nvidia/tensorrt-llm/release:1.1.0rc2.post2")
NEW = ("db-dump; config_id=2; silicon_concurrency=64; measured=2026-02-03T00:00:00.000Z; "
       "image=nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post2")
DYN = ("db-dump; config_id=3; silicon_concurrency=4; measured=2026-01-29T00:00:00.000Z; "
       "image=nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post1")


def _row(source: str, **kw) -> dict:
    row = dict(id="x", silicon_data_source=source, backend="trtllm", backend_version="1.2.0rc6.post2",
               model_path="nvidia/DeepSeek-R1-0528-FP4-V2", system="b200_sxm", precision="fp4", mode="agg",
               isl="1024", osl="1024", gemm_quant_mode="nvfp4", moe_quant_mode="nvfp4", batch_size="64",
               tp_size="8", pp_size="1", attention_dp_size="1", moe_tp_size="1", moe_ep_size="8")
    return {**row, **kw}


def test_the_older_aggregated_script_switches_to_cutlass_by_concurrency():
    assert moe_backend(_row(OLD), "agg", 1, 64)[0] is MoeKernel.TRTLLM
    assert moe_backend(_row(OLD), "agg", 1, 256)[0] is MoeKernel.CUTLASS  # 1k/1k: CONC >= 256
    assert moe_backend(_row(OLD, isl="8192"), "agg", 1, 32)[0] is MoeKernel.TRTLLM
    assert moe_backend(_row(OLD, isl="8192"), "agg", 1, 64)[0] is MoeKernel.CUTLASS  # 8k/1k: CONC > 32


def test_the_newer_aggregated_script_switches_by_attention_dp():
    assert moe_backend(_row(NEW), "agg", 1, 256)[0] is MoeKernel.TRTLLM
    kernel, note = moe_backend(_row(NEW), "agg", 8, 4)
    assert kernel is MoeKernel.CUTLASS and note == ""


def test_disaggregated_prefill_always_decode_without_attention_dp():
    row = _row(DYN, mode="disagg")
    assert moe_backend(row, "prefill", 4, 4)[0] is MoeKernel.TRTLLM
    assert moe_backend(row, "decode", 1, 4)[0] is MoeKernel.TRTLLM
    assert moe_backend(row, "decode", 8, 4)[0] is MoeKernel.CUTLASS
    assert moe_backend(row, "agg", 1, 4)[0] is MoeKernel.CUTLASS  # no aggregated rule for that campaign


def test_the_fp8_scripts_run_trtllm_gen_and_deepgemm_where_they_say():
    fp8 = dict(moe_quant_mode="fp8", gemm_quant_mode="fp8", model_path="deepseek-ai/DeepSeek-R1-0528")
    assert moe_backend(_row(NEW, **fp8), "agg", 1, 4)[0] is MoeKernel.TRTLLM
    assert moe_backend(_row(NEW, **fp8), "agg", 8, 256)[0] is MoeKernel.TRTLLM  # 1k/1k: no switch
    assert moe_backend(_row(NEW, osl="8192", **fp8), "agg", 1, 128)[0] is MoeKernel.TRTLLM
    kernel, note = moe_backend(_row(NEW, osl="8192", **fp8), "agg", 1, 256)
    assert kernel is MoeKernel.DEEPGEMM and "moe_backend.yaml" in note
    mtp = NEW.replace("1.2.0rc6.post2", "1.2.0rc6.post3")
    assert moe_backend(_row(mtp, **fp8), "agg", 1, 4)[0] is MoeKernel.TRTLLM
    assert moe_backend(_row(mtp, **fp8), "agg", 8, 4)[0] is MoeKernel.DEEPGEMM
    assert moe_backend(_row(OLD, **fp8), "agg", 1, 4)[0] is MoeKernel.CUTLASS  # DEEPGEMM: the default lane


def test_other_dtypes_systems_and_campaigns_keep_the_default():
    assert moe_backend(_row(NEW, moe_quant_mode="bf16"), "agg", 1, 4)[0] is MoeKernel.CUTLASS
    assert moe_backend(_row(NEW, system="h200_sxm"), "agg", 1, 4)[0] is MoeKernel.CUTLASS
    assert moe_backend(_row(NEW.replace("1.2.0rc6.post2", "1.2.0rc2")), "agg", 1, 4)[0] is MoeKernel.CUTLASS
    assert moe_backend(_row("wip=False"), "agg", 1, 4)[0] is MoeKernel.CUTLASS


def test_the_row_readers_put_it_on_the_engine():
    args, note = parse_noted(_row(NEW, batch_size="4"))
    assert args.moe_backend is MoeKernel.TRTLLM and "moe_backend.yaml" in note
    args, _ = parse_noted(_row(NEW, tp_size="1", attention_dp_size="8", batch_size="4"))
    assert args.moe_backend is MoeKernel.CUTLASS
    disagg = _row(DYN, mode="disagg", prefill_batch_size="1", prefill_num_workers="1", prefill_tp_size="4",
                  prefill_pp_size="1", prefill_attention_dp_size="4", prefill_moe_tp_size="1", prefill_moe_ep_size="4",
                  decode_batch_size="1", decode_num_workers="4", decode_tp_size="8", decode_pp_size="1",
                  decode_attention_dp_size="1", decode_moe_tp_size="1", decode_moe_ep_size="8")
    args, note = parse_disagg(disagg)
    assert args.prefill.moe_backend is MoeKernel.TRTLLM and args.decode.moe_backend is MoeKernel.TRTLLM
    assert "decode: MoE backend TRTLLM" in note


def test_wide_attention_dp_decode_workers_name_their_own_backend():
    row = _row(DYN.replace("0.8.1.post1", "0.8.1.post2"), mode="disagg", system="gb200")
    assert moe_backend(row, "decode", 8, 4)[0] is MoeKernel.CUTLASS  # dep8
    assert moe_backend(row, "decode", 32, 4)[0] is MoeKernel.CUTEDSL  # dep32
    old = _row(DYN.replace("0.8.1.post1", "0.5.1-rc0.pre3"), mode="disagg", system="gb200")
    assert moe_backend(old, "prefill", 4, 4)[0] is MoeKernel.CUTLASS  # gen_yaml.py writes none for ctx workers
    assert [moe_backend(old, "decode", dp, 4)[0] for dp in (1, 8, 16)] == \
        [MoeKernel.TRTLLM, MoeKernel.CUTLASS, MoeKernel.WIDEEP]
