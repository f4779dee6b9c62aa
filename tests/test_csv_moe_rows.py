"""The CSV edge for the MoE rows that were refused before: Kimi-K2.5's `int4_wo` label, the `nvfp4` rows of
Kimi-K2.5 and DeepSeek-V3 (NVIDIA's releases), and vLLM rows whose FP8-block experts cannot split (rule 6 of
sloplan/csv_layout.py). Each row must parse to the served checkpoint and layout, with a note saying so."""
import pytest

from sloplan.core.enums import GemmQuant
from sloplan.csv_layout import Layout, block_scaled_ep
from sloplan.csv_quant import served, storage_label
from sloplan.estimate_rows import parse_noted

SOURCE = "source_file=2026-03-25.csv; model=x; silicon_concurrency=16"


def row(model, quant, backend="vllm", system="h200_sxm", tp="8", mt="8", me="1"):
    return {"id": "r", "silicon_data_source": SOURCE, "backend": backend, "backend_version": "", "model_path": model,
            "system": system, "mode": "agg", "isl": "1024", "osl": "1024", "gemm_quant_mode": quant,
            "batch_size": "16", "tp_size": tp, "pp_size": "1", "attention_dp_size": "", "moe_tp_size": mt,
            "moe_ep_size": me}


def test_int4_wo_label_is_kimi_as_shipped():
    model, quant, note = storage_label("moonshotai/Kimi-K2.5", "int4_wo")
    assert (model, quant) == ("moonshotai/Kimi-K2.5", GemmQuant.BF16) and "int4_wo" in note
    args, note = parse_noted(row("moonshotai/Kimi-K2.5", "int4_wo"))
    assert args.model == "moonshotai/Kimi-K2.5" and args.quant is GemmQuant.BF16 and "own int4_wo" in note


@pytest.mark.parametrize("model,label", [("deepseek-ai/DeepSeek-V3", "int4_wo"), ("openai/gpt-oss-120b", "int4_wo"),
                                         ("moonshotai/Kimi-K2.5", "fp8"), ("moonshotai/Kimi-K2.5", "")])
def test_storage_label_only_names_the_own_packed_format(model, label):
    assert storage_label(model, label) is None


@pytest.mark.parametrize("model,release", [("moonshotai/Kimi-K2.5", "nvidia/Kimi-K2.5-NVFP4"),
                                           ("deepseek-ai/DeepSeek-V3", "nvidia/DeepSeek-V3-0324-FP4"),
                                           ("deepseek-ai/DeepSeek-R1", "nvidia/DeepSeek-R1-NVFP4")])
def test_nvfp4_rows_are_nvidias_release(model, release):
    assert served(model, GemmQuant.NVFP4) == (release, GemmQuant.NVFP4, f"nvfp4 read as {release}")


def test_packed_experts_without_a_release_stay_as_shipped():
    model, quant, note = served("openai/gpt-oss-120b", GemmQuant.NVFP4)
    assert model == "openai/gpt-oss-120b" and quant is not GemmQuant.NVFP4 and "own mxfp4" in note


def test_rule6_vllm_tp8_minimax_is_expert_parallel():
    args, note = parse_noted(row("MiniMaxAI/MiniMax-M2.5", "fp8"))
    assert (args.tp, args.dp, args.moe_tp, args.moe_ep) == (8, 1, 1, 8) and "cannot split 1536-wide" in note


@pytest.mark.parametrize("backend,tp,mt,me", [("vllm", "4", "4", "1"),  # 1536 / 4 = 384: whole blocks
                                              ("trtllm", "8", "8", "1"),  # TRT-LLM: not vLLM's rule
                                              ("vllm", "8", "1", "8")])  # already expert parallel
def test_rule6_leaves_other_rows(backend, tp, mt, me):
    args, _ = parse_noted(row("MiniMaxAI/MiniMax-M2.5", "fp8", backend=backend, tp=tp, mt=mt, me=me))
    assert (args.moe_tp, args.moe_ep) == (int(mt), int(me))


def test_rule6_needs_block_scaled_fp8():
    lay = Layout(8, 1, 8, None)
    assert block_scaled_ep(lay, "vllm", 1536, block_fp8=False) is lay
    assert block_scaled_ep(lay, "vllm", None, block_fp8=True) is lay
    assert block_scaled_ep(lay, "vllm", 2048, block_fp8=True) is lay  # 256 per GPU: whole blocks
    assert (block_scaled_ep(lay, "vllm", 1536, block_fp8=True).moe_ep) == 8


@pytest.mark.parametrize("model,system,backend,kw", [
    ("moonshotai/Kimi-K2.5", "h200_sxm", "vllm", dict(tp=8)),  # INT4 experts: the MoE table's int4_wo lane
    ("zai-org/GLM-5-FP8", "h200_sxm", "sglang", dict(tp=8)),  # DSA: the module tables
    ("nvidia/DeepSeek-V3-0324-FP4", "b200_sxm", "trtllm", dict(tp=4))])
def test_formerly_refused_models_estimate_with_a_tier(model, system, backend, kw):
    import sloplan

    e = sloplan.estimate(model, system, backend, isl=1024, osl=1024, concurrency=16, **kw)
    assert 0 < e.ttft_ms < 1e5 and 0 < e.tpot_ms < 1e3 and e.tier


def test_attention_dp_rows_count_clients_per_recorded_rank():
    """Rule 7: batch_size counts the clients of one recorded attention-DP rank. The campaign's batch 2 at
    dp 64 and the 2026-03-25 batch 16 at dp 8 are one run with silicon_concurrency=128: 128 clients, 16 per
    rank of the 8 ranks both readings run."""
    r = {**row("deepseek-ai/DeepSeek-R1", "fp8", backend="trtllm", tp="1", mt="8", me="8"),
         "attention_dp_size": "64", "silicon_data_source": "source_file=2026-04-06.csv; model=DeepSeek-R1",
         "batch_size": "2"}
    args, note = parse_noted(r)
    assert (args.tp, args.dp, args.moe_ep, args.concurrency) == (1, 8, 8, 128) and "rule 7" in note
    old = {**r, "attention_dp_size": "8", "moe_tp_size": "1", "batch_size": "16",
           "silicon_data_source": "source_file=2026-03-25.csv; model=DeepSeek-R1"}
    args, note = parse_noted(old)
    assert (args.tp, args.dp, args.moe_ep, args.concurrency) == (1, 8, 8, 128) and "rule 7" in note
    tp_row = {**r, "tp_size": "64", "attention_dp_size": "1"}  # rule 1 without attention DP: as recorded
    assert parse_noted(tp_row)[0].concurrency == 2
