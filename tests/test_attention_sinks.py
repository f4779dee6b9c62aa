"""Attention sinks (gpt-oss) are held inside the attention kernel's measured time (model/attention_sinks.py):
the bound that justifies it, and that every estimate of a sink model says so while others say nothing."""
import pytest

from sloplan.model import attention_sinks
from sloplan.model.catalog import resolve_model


def test_the_sink_share_is_below_1e4_at_gpt_oss_shortest_attention():
    arch = resolve_model("openai/gpt-oss-120b", estimable=False)
    g = arch.attention.gqa
    assert g.sinks and g.window == 128 and g.head_dim == 64
    share = attention_sinks.flop_share(g.head_dim, g.window)
    # 3 FLOPs next to Q.K and P.V over 128 keys of 64: 4 * 64 * 128 = 32768 FLOPs per (query, head)
    assert share == pytest.approx(3 / (32768 + 3)) and share < 1e-4
    assert attention_sinks.flop_share(g.head_dim, 8192) < share  # the full layers: smaller still


def test_a_sink_model_says_so_and_others_do_not():
    assert any("sinks" in n for n in resolve_model("openai/gpt-oss-120b", estimable=False).attention.kernel_notes)
    assert resolve_model("Qwen/Qwen3-30B-A3B", estimable=False).attention.kernel_notes == ()
    assert resolve_model("Qwen/Qwen3-32B").attention.kernel_notes == ()


def test_the_estimate_carries_the_note():
    from sloplan.estimation import estimate

    e = estimate("openai/gpt-oss-120b", "h200_sxm", "trtllm", tp=1, concurrency=4, isl=1024, osl=128)
    assert len(e.notes) == 1 and "attention kernel" in e.notes[0] and "9e-05" in e.notes[0]
    assert estimate("Qwen/Qwen3-32B", "h200_sxm", "trtllm", tp=1, concurrency=4, isl=1024, osl=128).notes == ()
