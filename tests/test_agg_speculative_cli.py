"""`estimate --draft-tokens` (aggregated MTP speculation): its TPOT against the plain engine's, the note saying
what it assumed, the MTP layer's weights in the memory plan, and its one-line refusals."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sloplan.model.moe_memory import mtp_weight_bytes

R1 = "nvidia/DeepSeek-R1-NVFP4"
FLAGS = ["--model", R1, "--system", "b200_sxm", "--tp", "8", "--concurrency", "16", "--isl", "1024", "--osl", "1024"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "sloplan", "estimate", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=300)


@pytest.fixture(scope="module")
def pair():
    return tuple(json.loads(_run(*FLAGS, *extra, "--json").stdout) for extra in ([], ["--draft-tokens", "3"]))


def test_speculation_is_faster_per_token_and_says_what_it_assumed(pair):
    plain, spec = pair
    assert spec["tpot_ms"] < plain["tpot_ms"]
    assert not any("MTP" in n for n in plain["notes"])
    note = next(n for n in spec["notes"] if n.startswith("MTP speculation: 3 drafts"))
    assert "acceptance rate" in note and "tokens accepted per step" in note


def test_the_mtp_layer_is_in_the_memory_plan(pair):
    plain, spec = pair
    extra = spec["memory_gib"]["weights"] - plain["memory_gib"]["weights"]
    assert 0.3 < extra < 3.0  # one MoE layer of 61 (plus its 2h x h projection) over 8 GPUs, NVFP4 experts
    assert spec["memory_gib"]["kv_cache"] < plain["memory_gib"]["kv_cache"]


def test_no_drafts_no_mtp_weights():
    from sloplan.estimation import configure
    from sloplan.model.moe_memory import sharding, served_formats
    from sloplan.model.weights import weight_bytes_per_gpu

    ctx, slot = configure(R1, "b200_sxm", "trtllm", tp=8, pp=1, quant=None, isl=1024, osl=1024)
    parts = weight_bytes_per_gpu(ctx.arch, sharding(slot.engine), served_formats(ctx.arch, slot.engine))
    assert mtp_weight_bytes(ctx.arch, parts, 0) == 0.0 and mtp_weight_bytes(ctx.arch, parts, 3) > 0.0


def test_the_mtp_layer_keeps_its_own_cache():
    """One MTP layer beside DeepSeek's 61 holds one more latent per token: the cache per token grows by 1/61
    exactly, and not at all without drafts."""
    from sloplan.estimation import configure
    from sloplan.model.kv_cache import kv_footprint
    from sloplan.model.moe_memory import sharding, with_mtp_kv

    ctx, slot = configure(R1, "b200_sxm", "trtllm", tp=8, pp=1, quant=None, isl=1024, osl=1024)
    shard = sharding(slot.engine)
    foot = kv_footprint(ctx.arch, shard, slot.engine.quant.kv)
    assert with_mtp_kv(foot, ctx.arch, shard, slot.engine, 0) == foot
    grown = with_mtp_kv(foot, ctx.arch, shard, slot.engine, 3)
    assert ctx.arch.mtp_layers == 1
    assert grown.bytes_per_token == pytest.approx(foot.bytes_per_token * (1 + 1 / ctx.arch.num_layers))


@pytest.mark.parametrize("extra, field", [
    (["--draft-tokens", "9"], "draft_tokens"),
    (["--draft-tokens", "2", "--mode", "static"], "draft_tokens"),
    (["--draft-tokens", "2", "--model", "Qwen/Qwen3-32B"], "draft_tokens"),
])
def test_refusals_are_one_line(extra, field):
    r = _run(*FLAGS, *extra)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {field}: ")
