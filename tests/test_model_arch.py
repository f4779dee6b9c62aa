"""Architectures from config.json, catalog spellings, engines and memory."""
import json

import pytest

from sloplan.model.arch import ModelArch, UnsupportedModel
from sloplan.model.catalog import UnknownModel, resolve_model
from sloplan.model.hf_config import InvalidModelConfig
from sloplan.model.engine import Engine, candidate_engines, invalid_reason
from sloplan.model.framework import Backend, profile
from sloplan.model.memory import kv_bytes_per_token, memory_plan, weights_per_gpu
from sloplan.model.quant import GemmQuant, KvDtype, Quant
from sloplan.perfdb import load_system


def test_spellings_resolve_to_one_architecture():
    names = ["meta-llama/Llama-3.1-70B", "meta-llama/Meta-Llama-3.1-70B", "meta-llama/Llama-3.1-70B-Instruct",
             "Llama-3.1-70B"]
    shapes = {(a.num_layers, a.hidden_size, a.num_kv_heads) for a in map(resolve_model, names)}
    assert shapes == {(80, 8192, 8)}


def test_quant_suffix_is_not_dropped():
    assert resolve_model("Qwen/Qwen3-32B-FP8").checkpoint_quant is GemmQuant.FP8_BLOCK
    assert resolve_model("Qwen/Qwen3-32B").checkpoint_quant is GemmQuant.BF16
    assert resolve_model("nvidia/Llama-3.1-8B-Instruct-FP8").checkpoint_quant is GemmQuant.FP8


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModel) as exc:
        resolve_model("Qwen/Qwen3-33B")
    assert "Qwen3-32B" in str(exc.value)


def test_local_folder_with_sliding_window(tmp_path):
    cfg = {"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
           "max_position_embeddings": 32768, "sliding_window": 4096}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    arch = resolve_model(str(tmp_path))
    assert arch.sliding_window == 4096 and arch.head_dim == 128


def test_moe_is_refused_with_the_field_named():
    cfg = {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 48,
           "num_attention_heads": 32, "intermediate_size": 6144, "vocab_size": 151936}
    with pytest.raises((UnsupportedModel, InvalidModelConfig), match="^model:"):  # incomplete: no experts field
        ModelArch.from_hf_config("x", cfg)


def test_multimodal_config_names_its_outer_architecture():
    """The text_config of a multimodal checkpoint has no `architectures`; the refusal names the real one."""
    cfg = {"architectures": ["Qwen3_5ForConditionalGeneration"],
           "text_config": {"hidden_size": 4096, "num_hidden_layers": 60, "num_attention_heads": 32,
                           "intermediate_size": 1024, "vocab_size": 248320}}
    with pytest.raises(UnsupportedModel, match="architectures: Qwen3_5ForConditionalGeneration is not supported"):
        ModelArch.from_hf_config("x", cfg)


def test_parameter_count_matches_published_size():
    assert resolve_model("meta-llama/Llama-3.1-8B").total_params == pytest.approx(8.03e9, rel=0.01)
    assert resolve_model("meta-llama/Llama-3.1-70B").total_params == pytest.approx(70.6e9, rel=0.01)


def test_engine_rules():
    arch = resolve_model("Qwen/Qwen2.5-7B-Instruct")  # 28 heads: tp 8 does not divide
    q = Quant.default_for(GemmQuant.BF16)
    assert invalid_reason(Engine(8, 1, q), arch, 8) is not None
    assert invalid_reason(Engine(4, 1, q), arch, 8) is None
    tps = {e.tp for e in candidate_engines(arch, [q], 8, 64)}
    assert 8 not in tps and 16 not in tps and {1, 2, 4} <= tps
    assert all(e.gpus <= 4 for e in candidate_engines(arch, [q], 8, 4))


def test_kv_heads_replicate_beyond_their_count():
    arch = resolve_model("meta-llama/Llama-3.1-70B")  # 8 KV heads
    q = Quant(GemmQuant.BF16, KvDtype.BF16)
    assert Engine(16, 1, q).kv_heads_per_gpu(arch) == 1
    assert kv_bytes_per_token(arch, Engine(1, 1, q)) == 2 * 80 * 8 * 128 * 2


def test_memory_semantics_differ_by_framework():
    arch, system = resolve_model("Qwen/Qwen3-32B"), load_system("h200_sxm")
    e = Engine(1, 1, Quant.default_for(GemmQuant.BF16))
    trt = memory_plan(arch, e, system, profile(Backend.TRTLLM))
    vllm = memory_plan(arch, e, system, profile(Backend.VLLM))
    free = system.mem_capacity_bytes - trt.weights_bytes - trt.activations_bytes - trt.runtime_bytes
    assert trt.kv_budget_bytes == pytest.approx(0.9 * free)
    assert vllm.kv_budget_bytes == pytest.approx(0.9 * system.mem_capacity_bytes - free * 0 - vllm.weights_bytes
                                                 - vllm.activations_bytes - vllm.runtime_bytes)
    assert weights_per_gpu(arch, Engine(2, 1, e.quant)) < 0.51 * weights_per_gpu(arch, e)


def test_70b_bf16_does_not_fit_one_h100():
    arch, system = resolve_model("meta-llama/Llama-3.1-70B"), load_system("h100_sxm")
    q = Quant.default_for(GemmQuant.BF16)
    assert not memory_plan(arch, Engine(1, 1, q), system, profile(Backend.VLLM)).fits
    assert memory_plan(arch, Engine(4, 1, q), system, profile(Backend.VLLM)).fits


def test_sliding_window_caps_the_kv_a_request_holds():
    from sloplan.model.memory import kv_tokens_per_request

    mistral, llama = resolve_model("mistralai/Mistral-7B-v0.1"), resolve_model("meta-llama/Llama-3.1-8B")
    assert kv_tokens_per_request(mistral, 8000, 2000) == 4096
    assert kv_tokens_per_request(llama, 8000, 2000) == 10000
    assert kv_tokens_per_request(llama, 8000, 2000, 0.5) == 9000
