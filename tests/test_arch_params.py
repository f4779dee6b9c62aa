"""MoE / MLA / sparse / hybrid architectures parse to the parameter counts their configs imply.

Every expected number below is computed by hand from the public config.json (the shapes written out
term by term), not by the code under test; the published totals are checked beside them.
"""
import pytest

from sloplan.model.attention import AttentionKind, LayerAttention
from sloplan.model.catalog import resolve_model
from sloplan.model.layers import WeightRole
from sloplan.model.mlp import LayerMlp
from sloplan.model.weight_format import WeightFormat


def arch(name):
    return resolve_model(name, estimable=False)


def test_deepseek_v3_671b_total_37b_active():
    h = 7168
    attn = h * 1536 + 1536 * 128 * (128 + 64) + h * (512 + 64) + 512 * 128 * (128 + 128) + 128 * 128 * h
    dense_mlp, expert, router = 3 * h * 18432, 3 * h * 2048, 256 * h
    moe_layer = attn + router + 256 * expert + expert  # 256 routed + 1 shared
    weight = 3 * (attn + dense_mlp) + 58 * moe_layer
    emb = 2 * 129280 * h
    a = arch("deepseek-ai/DeepSeek-V3")
    assert a.weight_params == weight and a.embedding_params == emb
    assert a.total_params == weight + emb == pytest.approx(671e9, rel=0.002)
    active = weight - 58 * 256 * expert + 58 * 8 * expert + 129280 * h
    assert a.active_params == active == pytest.approx(37e9, rel=0.02)
    assert a.mlp.layers[:4] == (LayerMlp.DENSE,) * 3 + (LayerMlp.MOE,)
    assert a.attention.kind is AttentionKind.MLA and a.mtp_layers == 1
    assert a.params_of(WeightRole.SHARED_EXPERT) == 58 * expert
    assert a.mtp_params == moe_layer + 2 * h * h  # DeepSeek's "14B MTP module" adds embedding + head (1.85B)
    assert (a.mtp_params + emb) / 1e9 == pytest.approx(14, abs=0.6)


def test_qwen3_30b_a3b():
    h = 2048
    attn = h * 32 * 128 + 2 * h * 4 * 128 + 32 * 128 * h
    expert = 3 * h * 768
    layer = attn + 128 * h + 128 * expert
    a = arch("Qwen/Qwen3-30B-A3B")
    assert a.total_params == 48 * layer + 2 * 151936 * h == pytest.approx(30.5e9, rel=0.005)
    active = 48 * (attn + 128 * h + 8 * expert) + 151936 * h
    assert a.active_params == active
    assert active + 151936 * h == pytest.approx(3.3e9, rel=0.02)  # Qwen's 3.3B counts the input embedding too


def test_gpt_oss_120b_biases_sinks_and_mxfp4_experts():
    h, q, kv = 2880, 64 * 64, 8 * 64
    attn = (h * q + q) + 2 * (h * kv + kv) + (q * h + h) + 64  # biased q/k/v/o, one sink per head
    expert = 2 * (h * 2880 + 2880) + (2880 * h + h)  # gate, up, down with biases
    router = 128 * h + 128
    a = arch("openai/gpt-oss-120b")
    assert a.total_params == 36 * (attn + router + 128 * expert) + 2 * 201088 * h
    assert a.total_params == pytest.approx(116.83e9, rel=0.001)  # OpenAI's model card
    assert a.active_params == 36 * (attn + router + 4 * expert) + 201088 * h == pytest.approx(5.13e9, rel=0.002)
    assert a.attention.layers[:2] == (LayerAttention.SLIDING, LayerAttention.FULL)
    assert a.attention.count(LayerAttention.SLIDING) == 18 and a.attention.window == 128
    assert a.sliding_window == 0  # not every layer is windowed
    fmts = {(w.role, w.fmt) for g in a.groups for w in g.weights if w.gemm}
    assert fmts == {(WeightRole.ATTENTION, WeightFormat.BF16), (WeightRole.ROUTER, WeightFormat.BF16),
                    (WeightRole.EXPERT, WeightFormat.MXFP4)}


def test_qwen35_hybrid_gated_deltanet_moe():
    h = 4096
    full = h * 32 * 256 * 2 + 2 * h * 2 * 256 + 32 * 256 * h  # q_proj also emits the output gate
    key, value = 16 * 128, 64 * 128
    conv = 2 * key + value
    linear = h * conv + h * value + 2 * h * 64 + conv * 4 + 2 * 64 + value * h
    mlp = 512 * h + 512 * 3 * h * 1024 + 3 * h * 1024 + h  # router, experts, shared expert and its gate
    a = arch("Qwen/Qwen3.5-397B-A17B")
    assert a.attention.count(LayerAttention.LINEAR) == 45 and a.attention.layers[3] is LayerAttention.FULL
    assert a.weight_params == 15 * full + 45 * linear + 60 * mlp
    assert a.total_params == pytest.approx(397e9, rel=0.005)  # the vision tower (~0.4B) is not modelled
    assert a.active_params + 248320 * h == pytest.approx(17e9, rel=0.03)


@pytest.mark.parametrize("name,total_b,active_b", [
    ("moonshotai/Kimi-K2.5", 1026.4, 31.7), ("zai-org/GLM-5", 743.9, 40.8), ("MiniMaxAI/MiniMax-M2.5", 228.7, 10.4),
    ("mistralai/Mixtral-8x7B-v0.1", 46.7, 12.75), ("Qwen/Qwen3-235B-A22B", 235.1, 21.6),
    ("deepseek-ai/DeepSeek-V3.2", 671.9, 37.5), ("mistralai/Mixtral-8x22B-v0.1", 140.6, 39.0),
    ("openai/gpt-oss-20b", 20.9, 3.6), ("Qwen/Qwen3.5-27B", 26.9, 25.6)])
def test_published_sizes(name, total_b, active_b):
    """Kimi-K2 1T/32B, GLM-5 744B/40B, MiniMax-M2.5 230B/10B, Mixtral 46.7B/12.9B and 141B/39B, Qwen3-235B-A22B,
    gpt-oss-20b 21B/3.6B, Qwen3.5-27B (dense hybrid: only the LM head's input twin is not active)."""
    a = arch(name)
    assert a.total_params / 1e9 == pytest.approx(total_b, abs=0.1)
    assert a.active_params / 1e9 == pytest.approx(active_b, abs=0.1)


def test_dsa_indexer_geometry_and_weights():
    a = arch("zai-org/GLM-5")
    i, m = a.attention.indexer, a.attention.mla
    assert (i.num_heads, i.head_dim, i.topk) == (32, 128, 2048)
    geometry = (m.q_lora_rank, m.kv_lora_rank, m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim)
    assert geometry == (2048, 512, 192, 64, 256)
    names = {w.name: w for w in a.groups[0].weights}
    assert names["self_attn.indexer.wq_b"].params == 2048 * 32 * 128
    assert names["self_attn.kv_b_proj"].params == 512 * 64 * (192 + 256)


def test_checkpoint_formats_follow_the_exclusion_lists():
    """NVFP4 checkpoints keep what they exclude in BF16; Kimi-K2.5 stores only routed experts as INT4."""
    def formats(name):
        return {(w.role, w.name.split(".")[-1], w.fmt) for g in arch(name).groups for w in g.weights if w.gemm}

    ds = formats("nvidia/DeepSeek-R1-NVFP4")
    assert (WeightRole.ATTENTION, "q_a_proj", WeightFormat.BF16) in ds
    assert (WeightRole.ATTENTION, "o_proj", WeightFormat.NVFP4) in ds
    assert (WeightRole.EXPERT, "down_proj", WeightFormat.NVFP4) in ds
    kimi = formats("moonshotai/Kimi-K2.5")
    assert {f for r, _, f in kimi if r is WeightRole.EXPERT} == {WeightFormat.INT4_WO}
    assert {f for r, _, f in kimi if r is not WeightRole.EXPERT} == {WeightFormat.BF16}
    qwen = formats("nvidia/Qwen3.5-397B-A17B-NVFP4")
    assert {f for r, _, f in qwen if r is WeightRole.SHARED_EXPERT} == {WeightFormat.BF16}
    assert {f for r, _, f in qwen if r is WeightRole.EXPERT} == {WeightFormat.NVFP4}
    assert arch("deepseek-ai/DeepSeek-R1").checkpoint_format is WeightFormat.FP8_BLOCK


@pytest.mark.parametrize("module,kept_bf16", [
    ("model.layers.3.self_attn.q_proj", True), ("model.layers.3.mlp.gate", True),
    ("model.layers.3.mlp.experts.0.gate_proj", False), ("model.layers.3.mlp.shared_experts.up_proj", True),
    ("model.layers.61.mlp.experts.0.up_proj", True), ("model.layers.6.mlp.experts.0.up_proj", False),
    ("model.layers.2.linear_attn.out_proj", True)])
def test_exclusion_entries_of_each_tool(module, kept_bf16):
    """A glob names a module or one above it, `re:` is a regex, a plain name matches whole components
    ("gate" is the router, not gate_proj); the multimodal wrapper's spelling matches too."""
    from sloplan.model.weight_format import excluded
    patterns = ("lm_head", "model.layers.*.self_attn", "gate", "re:.*shared_experts.*", "model.layers.61*",
                "model.language_model.layers.2.linear_attn*")
    assert excluded(module, patterns) is kept_bf16
