"""Weight bytes and KV-cache bytes per GPU under (tp, pp, dp, moe_tp, moe_ep), against hand-computed numbers;
for dense models, the same numbers as the memory model the planner uses today (model/memory.py)."""
import pytest

from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.kv_cache import kv_footprint
from sloplan.model.layers import WeightRole
from sloplan.model.memory import kv_bytes_per_token, weights_per_gpu
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.model.weight_format import WeightFormat
from sloplan.model.weights import Sharding, stage_layers, weight_bytes_per_gpu

FB = 1 + 4 / (128 * 128)  # fp8_block bytes per weight
H = 7168


def arch(name):
    return resolve_model(name, estimable=False)


def test_deepseek_v3_on_tp8_ep8():
    """Experts spread over EP (32 of 256 per GPU), MLA down-projections and routers replicated."""
    a, s = arch("deepseek-ai/DeepSeek-V3"), Sharding(tp=8, moe_ep=8)
    b = weight_bytes_per_gpu(a, s)
    assert b.experts == pytest.approx(58 * 32 * 3 * H * 2048 * FB)
    replicated = H * 1536 + H * 576
    split = 1536 * 128 * 192 + 512 * 128 * 256 + 128 * 128 * H
    assert b.attention == pytest.approx(61 * (replicated + split / 8) * FB)
    assert b.router == 58 * 256 * H * 2
    assert b.shared_experts == pytest.approx(58 * 3 * H * 2048 / 8 * FB)
    assert b.dense_mlp == pytest.approx(3 * 3 * H * 18432 / 8 * FB)
    assert b.embeddings == 2 * 129280 * H * 2 / 8
    nvfp4 = weight_bytes_per_gpu(a, s, {WeightRole.EXPERT: WeightFormat.NVFP4})
    assert nvfp4.experts == pytest.approx(58 * 32 * 3 * H * 2048 * 9 / 16) and nvfp4.attention == b.attention


def test_moe_tp_cuts_each_expert_and_ep_rounds_up():
    a = arch("Qwen/Qwen3-30B-A3B")
    expert = 3 * 2048 * 768 * 2
    assert weight_bytes_per_gpu(a, Sharding(tp=4, moe_tp=4)).experts == 48 * 128 * expert / 4
    assert weight_bytes_per_gpu(a, Sharding(tp=3, moe_ep=3)).experts == 48 * 43 * expert  # ceil(128 / 3)
    # 4 KV heads on tp 8: each GPU keeps one whole K and V head
    att = weight_bytes_per_gpu(a, Sharding(tp=8, moe_ep=8)).attention
    assert att == 48 * 2 * (2 * 2048 * 32 * 128 / 8 + 2 * 2048 * 128)


def test_pipeline_stages_put_dense_layers_and_embeddings_where_they_are():
    a = arch("deepseek-ai/DeepSeek-V3")
    assert [len(r) for r in stage_layers(61, 2)] == [31, 30]
    b = weight_bytes_per_gpu(a, Sharding(tp=8, pp=2, moe_ep=8))
    assert b.dense_mlp == 0  # the heaviest stage is the second: 30 MoE layers, no dense layer
    assert b.experts == pytest.approx(30 * 32 * 3 * H * 2048 * FB) and b.embeddings == 129280 * H * 2 / 8


def test_kimi_int4_experts_and_bf16_rest():
    a = arch("moonshotai/Kimi-K2.5")
    b = weight_bytes_per_gpu(a, Sharding(tp=8, moe_ep=8))
    assert b.experts == pytest.approx(60 * 48 * 3 * H * 2048 * (0.5 + 2 / 32))
    assert b.shared_experts == 60 * 3 * H * 2048 / 8 * 2


@pytest.mark.parametrize("tp", [1, 8])
def test_mla_latent_cache_is_not_split_by_tp(tp):
    a = arch("deepseek-ai/DeepSeek-R1")
    k = kv_footprint(a, Sharding(tp=tp, dp=8 // tp, moe_ep=8), KvDtype.FP8)
    assert k.full_bytes_per_token == 61 * (512 + 64) and k.state_bytes_per_request == 0
    assert kv_footprint(a, Sharding(tp=tp), KvDtype.BF16).full_bytes_per_token == 61 * 576 * 2


def test_dsa_adds_the_indexer_key_cache():
    k = kv_footprint(arch("zai-org/GLM-5"), Sharding(tp=8), KvDtype.FP8)
    assert k.full_bytes_per_token == 78 * (576 + 128 + 4)  # FP8 index key + one FP32 scale per 128


def test_sliding_window_layers_are_capped():
    a = arch("openai/gpt-oss-120b")
    k = kv_footprint(a, Sharding(tp=1), KvDtype.BF16)
    per_layer = 2 * 8 * 64 * 2
    assert (k.full_bytes_per_token, k.window_bytes_per_token, k.window_tokens) == (18 * per_layer, 18 * per_layer, 128)
    assert k.bytes_for(10000) == 18 * per_layer * (10000 + 128)
    assert kv_footprint(a, Sharding(tp=16), KvDtype.BF16).full_bytes_per_token == 18 * 2 * 64 * 2  # 1 head per GPU


def test_linear_attention_layers_hold_state_per_request():
    a = arch("Qwen/Qwen3.5-397B-A17B")
    k = kv_footprint(a, Sharding(tp=1), KvDtype.BF16)
    assert k.full_bytes_per_token == 15 * 2 * 2 * 256 * 2
    conv_dim = 2 * 16 * 128 + 64 * 128
    assert k.state_bytes_per_request == 45 * (64 * 128 * 128 * 4 + conv_dim * 3 * 2)  # fp32 state, bf16 conv
    k8 = kv_footprint(a, Sharding(tp=8), KvDtype.BF16)
    assert k8.state_bytes_per_request == 45 * (8 * 128 * 128 * 4 + conv_dim / 8 * 3 * 2)
    assert k8.bytes_for(1000) == k8.full_bytes_per_token * 1000 + k8.state_bytes_per_request


DENSE = ["meta-llama/Llama-3.1-70B", "Qwen/Qwen3-32B-FP8", "mistralai/Mistral-7B-v0.1", "meta-llama/Llama-3.2-1B",
         "Qwen/Qwen2.5-7B-Instruct", "nvidia/Qwen3-32B-NVFP4"]


@pytest.mark.parametrize("name", DENSE)
def test_dense_models_keep_their_numbers(name):
    """The components give the planner's numbers: weights (pp dividing the layers, tp within the KV
    heads, untied or pp 1) and KV bytes per token (every tp and pp)."""
    a = resolve_model(name)
    g = a.attention.gqa
    q = g.num_heads * g.head_dim
    attn = a.hidden_size * (q + 2 * g.num_kv_heads * g.head_dim) + q * a.hidden_size
    assert a.weight_params == a.num_layers * (attn + 3 * a.hidden_size * a.intermediate_size)
    for tp in (1, 2, 4, 8):
        for pp in (1, 2, 4):
            e = Engine(tp, pp, Quant.default_for(a.checkpoint_quant))
            s = Sharding(tp=tp, pp=pp)
            assert kv_footprint(a, s, e.quant.kv).bytes_per_token == kv_bytes_per_token(a, e)
            if a.num_layers % pp == 0 and tp <= a.num_kv_heads and (pp == 1 or not a.tie_word_embeddings):
                fmt = WeightFormat.of(e.quant.gemm)
                new = weight_bytes_per_gpu(a, s, dict.fromkeys(WeightRole, fmt)).total
                assert new == pytest.approx(weights_per_gpu(a, e), rel=1e-12), (tp, pp)


def test_dense_checkpoint_format_is_its_gemm_quant():
    a = resolve_model("Qwen/Qwen3-32B-FP8")
    assert a.checkpoint_quant is GemmQuant.FP8_BLOCK and {w.fmt for g in a.groups for w in g.weights} == {
        WeightFormat.FP8_BLOCK}


def test_sharding_rejects_non_positive_degrees():
    with pytest.raises(ValueError, match="moe_ep"):
        Sharding(moe_ep=0)


def test_gemm_shapes_per_gpu():
    """Column-parallel weights cut N, row-parallel cut K, K/V heads round up, experts spread over EP."""
    from sloplan.model.weights import gemm_shape_on_gpu
    a = arch("deepseek-ai/DeepSeek-V3")
    w = {x.name: x for x in a.groups[-1].weights}
    s = Sharding(tp=8, moe_tp=2, moe_ep=4)
    assert gemm_shape_on_gpu(w["self_attn.q_b_proj"], s) == (1, 128 * 192 // 8, 1536)
    assert gemm_shape_on_gpu(w["self_attn.o_proj"], s) == (1, H, 128 * 128 // 8)
    assert gemm_shape_on_gpu(w["self_attn.kv_a_proj_with_mqa"], s) == (1, 576, H)
    assert gemm_shape_on_gpu(w["mlp.experts.0.down_proj"], s) == (64, H, 1024)
    q = {x.name: x for x in arch("Qwen/Qwen3-30B-A3B").groups[0].weights}
    assert gemm_shape_on_gpu(q["self_attn.k_proj"], Sharding(tp=8)) == (1, 128, 2048)
