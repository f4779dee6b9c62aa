"""MoE / MLA / sparse / hybrid configs: validated field by field, recognised by every spelling the sample uses,
and refused by solve/estimate in one line that says what is recognised and what is not estimated yet."""
import csv
import importlib.util
import json
from pathlib import Path

import pytest
from cli_helpers import cli_run as run_cli

from sloplan.model.arch import ModelArch, UnsupportedModel
from sloplan.model.catalog import _ours, catalog_entry, resolve_model
from sloplan.model.hf_config import FAMILY_BOUNDS, InvalidModelConfig

DS = dict(_ours()["deepseek-ai/DeepSeek-V3"][0])
GPT_OSS = dict(_ours()["openai/gpt-oss-120b"][0])
QWEN35 = dict(_ours()["Qwen/Qwen3.5-397B-A17B"][0])


def sample_models() -> list[str]:
    folder = Path(importlib.util.find_spec("aiconfigurator_core").submodule_search_locations[0])
    with open(folder / "systems" / "silicon_sample.csv", newline="") as fh:
        return sorted({row["model_path"] for row in csv.DictReader(fh)})


def test_every_model_in_the_sample_is_recognised():
    for name in sample_models():
        a = resolve_model(name, estimable=False)
        assert a.total_params > 1e9 and len(a.attention.layers) == len(a.mlp.layers) == a.num_layers, name


@pytest.mark.parametrize("typed,entry,checkpoint", [
    ("DeepSeek-R1", "deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"),
    ("deepseek-v3", "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3"),
    ("zhipuai/GLM-5", "zai-org/GLM-5", "zhipuai/GLM-5"),  # the sample's org: another org serves as typed
    ("gpt_oss_120b", "openai/gpt-oss-120b", "openai/gpt-oss-120b"),
    ("qwen3-30b-a3b-fp8", "Qwen/Qwen3-30B-A3B-FP8", "Qwen/Qwen3-30B-A3B-FP8"),
    ("kimi-k2-instruct", "moonshotai/Kimi-K2-Instruct", "moonshotai/Kimi-K2-Instruct"),
    ("Qwen3.5-397B-A17B", "Qwen/Qwen3.5-397B-A17B", "Qwen/Qwen3.5-397B-A17B"),
    ("mixtral-8x7b-v0.1", "mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x7B-v0.1"),
])
def test_spellings(typed, entry, checkpoint):
    assert catalog_entry(typed) == entry
    assert resolve_model(typed, estimable=False).checkpoint == checkpoint


def parse(cfg):
    return ModelArch.parse("x", cfg)


BAD = {
    "kv_lora_rank 0": (DS, {"kv_lora_rank": 0}, "kv_lora_rank: out of range"),
    "experts a string": (DS, {"n_routed_experts": "256"}, "n_routed_experts: must be an integer"),
    "top-k above experts": (DS, {"num_experts_per_tok": 300}, "num_experts_per_tok: exceeds the 256 experts"),
    "no experts": ({k: v for k, v in DS.items() if k != "n_routed_experts"}, {}, "n_routed_experts: missing"),
    "all layers dense": (DS, {"first_k_dense_replace": 61}, "first_k_dense_replace: leaves no MoE layer"),
    "rope dim float": (DS, {"qk_rope_head_dim": 64.0}, "qk_rope_head_dim: must be an integer"),
    "layer_types short": (GPT_OSS, {"layer_types": ["full_attention"] * 3}, "layer_types: has 3 entries"),
    "layer_types unknown": (GPT_OSS, {"layer_types": ["dense"] * 36}, "layer_types: got \"dense\""),
    "linear layers in gpt-oss": (GPT_OSS, {"layer_types": ["linear_attention"] * 36}, "layer_types: names linear"),
    "no window": (GPT_OSS, {"sliding_window": None}, "sliding_window: missing"),
    "state dtype": (QWEN35, {"mamba_ssm_dtype": "int8"}, "mamba_ssm_dtype"),
    "no linear heads": ({k: v for k, v in QWEN35.items() if k != "linear_num_value_heads"}, {},
                        "linear_num_value_heads: missing"),
    "exclusions a string": (GPT_OSS, {"quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": "x"}},
                            "modules_to_not_convert: must be a list"),
    "mlp_only_layers bad": ({**DS, "architectures": ["Qwen3MoeForCausalLM"]}, {"mlp_only_layers": [-1]},
                            "mlp_only_layers: must be a list of integers"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_fields_are_named_in_one_line(case):
    base, change, why = BAD[case]
    with pytest.raises(InvalidModelConfig) as exc:
        parse({**base, **change})
    msg = str(exc.value)
    assert msg.startswith("model: config.json ") and why in msg and "\n" not in msg, msg


def test_unmodelled_expert_quantization_is_refused():
    cfg = {**DS, "quantization_config": {"quant_method": "compressed-tensors", "config_groups": {
        "g": {"weights": {"type": "int", "num_bits": 4, "group_size": 128}, "input_activations": None}}}}
    with pytest.raises(InvalidModelConfig, match="compressed-tensors W4A16 int is not modelled"):
        parse(cfg)


def cli_run(capsys, *args):
    """The CLI's exit code, stdout and non-blank stderr lines."""
    code, out, err = run_cli(capsys, *args)
    return code, out, [ln for ln in err.splitlines() if ln.strip()]


@pytest.mark.parametrize("model,words", [
    ("Qwen/Qwen3.5-27B", ["Qwen3_5ForConditionalGeneration", "recognised", "gated-DeltaNet", "the Qwen3.5 design"]),
])
@pytest.mark.parametrize("command", ["solve", "estimate"])
def test_solve_and_estimate_refuse_recognised_designs(capsys, model, words, command):
    extra = ["--total-gpus", 8] if command == "solve" else ["--tp", 8]
    code, out, err = cli_run(capsys, command, "--model", model, "--system", "h200_sxm", "--isl", 1000,
                             "--osl", 100, *extra)
    assert code == 2 and out == "" and len(err) == 1, (code, out, err)
    assert err[0].startswith("error: model: ") and "not supported yet by solve/estimate" in err[0]
    assert "accepted: LlamaForCausalLM" in err[0]
    for w in words:
        assert w in err[0], (w, err[0])


def test_an_unknown_architecture_keeps_its_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({**DS, "architectures": ["MambaForCausalLM"]}))
    code, out, err = cli_run(capsys, "solve", "--model", tmp_path, "--system", "h200_sxm", "--total-gpus", 8)
    assert code == 2 and len(err) == 1
    assert "architectures: MambaForCausalLM is not supported yet; accepted: LlamaForCausalLM" in err[0]
    assert "recognised" not in err[0]


def test_a_recognised_design_with_a_broken_config_is_still_refused_as_unsupported():
    with pytest.raises(UnsupportedModel, match="recognised as Qwen3.5, but sloplan does not"):
        ModelArch.from_hf_config("x", {**DS, "architectures": ["Qwen3_5ForConditionalGeneration"]})


def test_any_moe_config_parses_or_is_one_line():
    """Property: whatever values the MoE/MLA/linear fields hold, parsing gives a consistent architecture
    or a one-line InvalidModelConfig / UnsupportedModel naming `model`; never another exception."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    value = st.one_of(st.none(), st.booleans(), st.integers(-2, 1 << 17), st.floats(), st.text(max_size=4),
                      st.lists(st.integers(-1, 70), max_size=3))
    keys = [k.removesuffix("[]") for k in FAMILY_BOUNDS] + ["layer_types", "mamba_ssm_dtype", "quantization_config"]

    changes = st.dictionaries(st.sampled_from(keys), value, max_size=4)

    @settings(max_examples=300, deadline=None)
    @given(base=st.sampled_from([DS, GPT_OSS, QWEN35]), change=changes)
    def check(base, change):
        try:
            a = parse({**base, **change})
        except (InvalidModelConfig, UnsupportedModel) as exc:
            assert str(exc).startswith("model: ") and "\n" not in str(exc)
            return
        assert a.total_params > 0 and a.active_params <= a.total_params
        assert len(a.attention.layers) == len(a.mlp.layers) == a.num_layers

    check()
