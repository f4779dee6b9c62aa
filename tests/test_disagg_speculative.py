"""MTP speculation on disaggregated decode workers (model/disagg_workers.py decode_pending): the verify step's
tokens and the drafter's passes, the TPOT as the step over the accepted tokens, `decode_draft_tokens` in
estimate_disagg and its refusal, and the speculation.yaml rule that recognises a disaggregated row."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sloplan
from sloplan.estimate_disagg import estimate_disagg
from sloplan.estimate_rows_disagg import parse_disagg
from sloplan.estimation import configure
from sloplan.model.calibration import Calibration
from sloplan.model.disagg_workers import decode_pending
from sloplan.model.pending import settle
from sloplan.model.speculative import accepted_tokens, draft_layer_scale

R1 = "nvidia/DeepSeek-R1-NVFP4"


@pytest.fixture(scope="module")
def r1(isolated_perfdb_cache):
    return configure(R1, "b200_sxm", "trtllm", tp=8, pp=1, quant=None, isl=1024, osl=8192)


def _decode(ctx, slot, c, cal, k):
    return settle(ctx.db, [decode_pending(ctx.arch, slot.engine, ctx.db.system, ctx.fw, ctx.workload, c, cal, k)])[0]


def test_a_speculating_decode_step_is_the_plain_step_of_its_tokens_with_the_drafter(r1):
    ctx, slot = r1
    c = np.arange(1, 9)
    cal = Calibration(draft_accept_rate=0.6)  # no overheads, no frontend limit: the step is the kernels
    spec, plain = _decode(ctx, slot, c, cal, 3), _decode(ctx, slot, 4 * c, cal, 0)
    step = spec.tpot_s * accepted_tokens(3, 0.6)
    # c requests of 1 + 3 tokens are the plain step of 4c requests (same KV per query token), times (L + 3) / L
    assert np.allclose(step, plain.tpot_s * draft_layer_scale(ctx.arch.num_layers, 3), rtol=1e-9)
    assert np.allclose(spec.first_step_s, step)  # the first token's step is a whole step
    assert np.allclose(spec.requests_per_s, c / (ctx.workload.osl * spec.tpot_s))


def test_nothing_accepted_costs_the_verify_step_per_token(r1):
    ctx, slot = r1
    c = np.array([1, 4, 16])
    none = _decode(ctx, slot, c, Calibration(draft_accept_rate=0.0), 3)
    plain = _decode(ctx, slot, c, Calibration(draft_accept_rate=0.0), 0)
    assert np.all(none.tpot_s > plain.tpot_s)  # drafts paid, none kept
    assert np.array_equal(_decode(ctx, slot, c, Calibration(draft_accept_rate=0.9), 0).tpot_s, plain.tpot_s)


def test_estimate_disagg_takes_decode_draft_tokens(isolated_perfdb_cache):
    kw = dict(prefill_tp=8, decode_tp=8, decode_batch=4, decode_workers=2, isl=1024, osl=1024)
    plain, spec = (estimate_disagg(R1, "b200_sxm", "trtllm", decode_draft_tokens=k, **kw) for k in (0, 3))
    assert spec.decode_draft_tokens == 3 and plain.decode_draft_tokens == 0
    assert spec.tpot_ms < plain.tpot_ms  # the catalog's fitted TRT-LLM acceptance rate is above 0
    assert spec.prefill_ms == pytest.approx(plain.prefill_ms)  # the prefill worker is priced as before
    with pytest.raises(sloplan.InputError, match="decode_draft_tokens"):  # no MTP layers to draft with
        estimate_disagg("openai/gpt-oss-120b", "b200_sxm", "trtllm", decode_draft_tokens=1, **kw)
    with pytest.raises(sloplan.InputError, match="decode_draft_tokens"):
        estimate_disagg(R1, "b200_sxm", "trtllm", decode_draft_tokens=99, **kw)


def _gb200_row(config_id: int, **extra) -> dict:
    source = (f"db-dump/2026-04-27; config_id={config_id}; silicon_concurrency=7; measured=2026-03-23T00:00:00.000Z; "
              "workflow_run_id=333; nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:0.8.1.post2")
    row = {"id": "d", "silicon_data_source": source, "backend": "trtllm", "backend_version": "0.8.1.post2",
           "model_path": "deepseek-ai/DeepSeek-V3", "system": "gb200", "mode": "disagg", "isl": "1024",
           "osl": "8192", "gemm_quant_mode": "nvfp4", "moe_quant_mode": "nvfp4",
           "prefill_batch_size": "1", "prefill_num_workers": "1", "prefill_tp_size": "1", "prefill_pp_size": "1",
           "prefill_attention_dp_size": "4", "prefill_moe_tp_size": "1", "prefill_moe_ep_size": "4",
           "decode_batch_size": "1", "decode_num_workers": "7", "decode_tp_size": "8", "decode_pp_size": "1",
           "decode_attention_dp_size": "1", "decode_moe_tp_size": "1", "decode_moe_ep_size": "8"}
    return {**row, **extra}


def test_the_gb200_mtp3_recipe_row_speculates_on_its_decode_workers():
    args, note = parse_disagg(_gb200_row(423))  # ctx1_gen7_tep8_batch1_eplb0_mtp3: config 423
    assert args.counts.decode_draft_tokens == 3 and "decode: MTP with 3 draft tokens" in note
    args, note = parse_disagg(_gb200_row(388))  # an STP configuration of the same sweep and image
    assert args.counts.decode_draft_tokens == 0 and "MTP" not in note
    other = _gb200_row(423)
    other["silicon_data_source"] = other["silicon_data_source"].replace("0.8.1.post2", "0.8.1.post1")
    assert parse_disagg(other)[0].counts.decode_draft_tokens == 0  # another image's config 423 is not this one
    args, note = parse_disagg(_gb200_row(423, decode_draft_tokens="0"))  # the file's own column says it
    assert args.counts.decode_draft_tokens == 0 and "MTP" not in note
    with pytest.raises(sloplan.InputError, match="decode_draft_tokens"):
        parse_disagg(_gb200_row(423, decode_draft_tokens="99"))


def test_the_cli_takes_decode_draft_tokens_and_refuses_it_in_one_line():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "sloplan", "estimate", *args], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1], timeout=300)
    flags = ["--model", R1, "--system", "b200_sxm", "--mode", "disagg", "--prefill-tp", "8", "--decode-tp", "8",
             "--decode-batch", "4", "--isl", "1024", "--osl", "1024", "--json"]
    plain, spec = (json.loads(run(*flags, *extra).stdout) for extra in ([], ["--decode-draft-tokens", "3"]))
    assert plain["decode_draft_tokens"] == 0 and spec["decode_draft_tokens"] == 3
    assert spec["tpot_ms"] < plain["tpot_ms"]
    for bad in (["--decode-draft-tokens", "2", "--model", "Qwen/Qwen3-32B"],  # no MTP layers
                ["--decode-draft-tokens", "-1"]):
        r = run(*flags, *bad)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: decode_draft_tokens: ")
