"""MTP speculative decoding (model/speculative.py): the verify step's tokens, the drafter's passes, the accepted
tokens per step in the closed loop, the CSV rows the campaign data names, and refusals naming draft_tokens."""
from dataclasses import replace

import numpy as np
import pytest

import sloplan
from sloplan.estimate_rows import parse_noted
from sloplan.estimation import configure
from sloplan.model.aggregated import closed_loop, step_curves
from sloplan.model.calibration import Calibration
from sloplan.model.speculative import accepted_tokens, draft_layer_scale

R1 = "nvidia/DeepSeek-R1-NVFP4"
POST3 = ("source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=4; measured=2026-02-06T17:21:58Z; "
         "wip=False; image=nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post3")


def test_accepted_tokens_is_the_accepted_prefix_of_the_drafts():
    assert accepted_tokens(0, 0.9) == 1.0
    assert accepted_tokens(3, 0.0) == 1.0
    assert accepted_tokens(3, 0.5) == pytest.approx(1.875)
    assert accepted_tokens(1, 0.7) == pytest.approx(1.7)
    assert accepted_tokens(3, 1.0) == 4.0
    assert draft_layer_scale(61, 3) == pytest.approx(64 / 61)


@pytest.fixture(scope="module")
def contexts(isolated_perfdb_cache):
    kw = dict(tp=8, pp=1, quant=None, isl=1024, osl=8192)
    return {k: configure(R1, "b200_sxm", "trtllm", draft_tokens=k, **kw) for k in (0, 3)}


def test_a_speculating_step_verifies_every_draft_and_pays_the_drafter(contexts):
    (ctx0, slot0), (ctx3, _) = contexts[0], contexts[3]
    assert ctx0.fw.draft_tokens == 0 and ctx3.fw.draft_tokens == 3
    plain = step_curves(ctx0.arch, slot0.engine, ctx0.db, ctx0.fw, ctx0.workload, 40)
    spec = step_curves(ctx3.arch, slot0.engine, ctx3.db, ctx3.fw, ctx3.workload, 10)
    # a decode step of d requests with 3 drafts carries 4d tokens: the plain step of 4d requests' tokens
    # differs only in attention (same KV per query token), so compare against the plain step at 4d
    # bounded on both sides by the layer scale
    d = np.arange(1, 11)
    ratio = spec.tau_dec_s[d] / plain.tau_dec_s[4 * d]
    assert np.allclose(ratio, draft_layer_scale(ctx3.arch.num_layers, 3), rtol=1e-9)
    assert spec.draft_tokens == 3 and plain.draft_tokens == 0


def test_tpot_is_the_step_over_the_accepted_tokens(contexts):
    ctx, slot = contexts[3]
    curves = step_curves(ctx.arch, slot.engine, ctx.db, ctx.fw, ctx.workload, 40)
    conc = np.array([4.0, 16.0])
    none = closed_loop(curves, ctx.workload, 1, conc, slot.max_running, Calibration(draft_accept_rate=0.0))
    some = closed_loop(curves, ctx.workload, 1, conc, slot.max_running, Calibration(draft_accept_rate=0.6))
    plain = replace(curves, draft_tokens=0)
    same = closed_loop(plain, ctx.workload, 1, conc, slot.max_running, Calibration(draft_accept_rate=0.6))
    assert np.array_equal(none.tpot_s, same.tpot_s)  # nothing accepted: the verify step's time per token
    # accepted drafts: fewer steps per request, so each client's step is narrower and TPOT below step/1
    assert np.all(some.tpot_s < none.tpot_s / accepted_tokens(3, 0.6) * 1.05)
    assert np.all(some.tpot_s < none.tpot_s)
    assert np.all(some.tokens_per_s > none.tokens_per_s)


def _row(source, dp="", drafts=None):
    row = {"id": "r", "silicon_data_source": source, "backend": "trtllm", "backend_version": "1.2.0rc6.post3",
           "model_path": "deepseek-ai/DeepSeek-R1", "system": "b200_sxm", "mode": "agg", "isl": "1024",
           "osl": "1024", "gemm_quant_mode": "nvfp4", "batch_size": "4", "tp_size": "8" if not dp else "1",
           "pp_size": "1", "attention_dp_size": dp, "moe_tp_size": "8" if not dp else "1",
           "moe_ep_size": "1" if not dp else dp}
    if drafts is not None:
        row["draft_tokens"] = drafts
    return row


def test_the_campaign_mtp_image_rows_speculate_as_their_launch_script_set():
    args, note = parse_noted(_row(POST3))
    assert args.draft_tokens == 3 and "MTP with 3 draft tokens" in note
    args, note = parse_noted(_row(POST3, dp="8"))  # DP_ATTENTION=true: MTP=1
    assert args.draft_tokens == 1 and "MTP with 1 draft tokens" in note
    args, note = parse_noted(_row(POST3.replace("rc6.post3", "rc6.post2")))
    assert args.draft_tokens == 0 and "MTP" not in note
    args, note = parse_noted(_row(POST3, drafts="0"))  # the file's own column says it
    assert args.draft_tokens == 0 and "MTP" not in note


def test_draft_tokens_refusals_name_the_field(isolated_perfdb_cache):
    with pytest.raises(sloplan.InputError, match="draft_tokens"):  # no MTP layers to draft with
        configure("openai/gpt-oss-120b", "b200_sxm", "trtllm", tp=8, pp=1, quant=None, isl=1024, osl=1024,
                  draft_tokens=3)
    with pytest.raises(sloplan.InputError, match="draft_tokens"):
        parse_noted(_row(POST3, drafts="99"))


def _qwen_row(image, tp="4", me="1"):
    return {"id": "q", "silicon_data_source": f"source_file=2026-03-25.csv; model=x; silicon_concurrency=8; "
                                              f"measured=2026-03-20T00:00:00Z; image={image}",
            "backend": "sglang", "backend_version": "0.5.9", "model_path": "Qwen/Qwen3.5-397B-A17B",
            "system": "b200_sxm", "mode": "agg", "isl": "1024", "osl": "1024", "gemm_quant_mode": "fp8",
            "batch_size": "8", "tp_size": tp, "pp_size": "1", "attention_dp_size": "", "moe_tp_size": tp,
            "moe_ep_size": me}


def test_the_qwen35_mtp_image_is_that_image_and_not_a_longer_tag():
    args, _ = parse_noted(_qwen_row("lmsysorg/sglang:v0.5.9-cu130"))
    assert args.draft_tokens == 3  # EAGLE, 3 steps, top-1: qwen3.5-fp8-b200-sglang-mtp
    for other in ("lmsysorg/sglang:v0.5.9-cu130-amd64", "lmsysorg/sglang:v0.5.9-cu129-amd64"):
        assert parse_noted(_qwen_row(other, "4", "4"))[0].draft_tokens == 0  # the non-MTP config's images


def test_the_gap_analysis_copy_of_those_runs_speculates_only_at_their_layout():
    note = "source_file=qwen3.5-397b-gap-analysis.csv; silicon_concurrency=8"
    row = {**_qwen_row("x/y:z"), "silicon_data_source": note}
    assert parse_noted(row)[0].draft_tokens == 3
    assert parse_noted({**row, "moe_ep_size": "4", "moe_tp_size": "1"})[0].draft_tokens == 0
    assert parse_noted({**row, "tp_size": "8", "moe_tp_size": "8"})[0].draft_tokens == 0


def test_the_pr392_sweep_rows_speculate_by_their_measured_day():
    jan14 = POST3.replace("1.2.0rc6.post3", "1.1.0rc2.post2").replace("2026-02-06T17:21:58Z", "2026-01-14T22:26:21Z")
    assert parse_noted(_row(jan14))[0].draft_tokens == 3
    assert parse_noted({**_row(jan14), "system": "h200_sxm", "gemm_quant_mode": "fp8"})[0].draft_tokens == 3
    dec15 = jan14.replace("2026-01-14T22:26:21Z", "2025-12-15T00:00:00.000Z")  # before the MTP configs existed
    assert parse_noted(_row(dec15))[0].draft_tokens == 0


def test_attention_dp_experts_serve_every_ranks_drafts_too():
    from sloplan.model.aggregated import expert_group_tokens
    from sloplan.model.engine import Engine
    from sloplan.model.quant import GemmQuant, Quant
    from sloplan.model.workload import Workload

    engine = Engine(1, 1, Quant.default_for(GemmQuant.NVFP4), dp=8, moe_ep=8)
    d = np.arange(0, 5)
    room = 8192 - 2 * d
    chunk = np.minimum(room, 1024)
    plain = np.split(expert_group_tokens(engine, Workload(1024, 1024), d, chunk, room), 3)
    drafts = np.split(expert_group_tokens(engine, Workload(1024, 1024), d, chunk, room, 2), 3)
    assert np.array_equal(drafts[0][1:], 2 * plain[0][1:])  # decode-only: every rank's 2 tokens per request
    assert np.allclose(drafts[1] - plain[1], 8 * d)  # a mixed step: the drafts on top, the prompt chunks alike
