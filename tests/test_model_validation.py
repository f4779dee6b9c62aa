"""A model's config.json is validated once (model/hf_config.py), and launches serve the resolved checkpoint.

Every bad config reaches the CLI as exit 2 with one stderr line naming `model`, the file and the field;
every launch command loads the checkpoint a spelling names (the catalog's Hugging Face id, or the folder),
never the spelling itself.
"""
import json
import shlex

import pytest
from cli_helpers import cli_run

from sloplan.generators import launch_command
from sloplan.model.catalog import _entries, catalog_entry, list_models, resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, profile
from sloplan.model.memory import memory_plan
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system

LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
            "max_position_embeddings": 131072}


def solve_folder(capsys, folder, *extra):
    return cli_run(capsys, "solve", "--model", folder, "--system", "h200_sxm", "--backend", "vllm", "--isl", 1000,
                   "--osl", 100, "--total-gpus", 2, *extra)


def write_config(tmp_path, text: str, quant: str | None = None):
    (tmp_path / "config.json").write_text(text)
    if quant is not None:
        (tmp_path / "hf_quant_config.json").write_text(quant)
    return tmp_path


def assert_refused(code, out, err, *words):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: model: "), lines
    assert "Traceback" not in err + out and out == ""
    for w in words:
        assert w in lines[0], (w, lines[0])


# ---- integer fields: typed (bool, float, string are not integers), positive, bounded -------------------
BAD_INTEGERS = {
    "zero kv heads": ("num_key_value_heads", 0), "zero heads": ("num_attention_heads", 0),
    "head_dim 0": ("head_dim", 0), "fractional layers": ("num_hidden_layers", 32.5),
    "integral float": ("num_hidden_layers", 32.0), "zero layers": ("num_hidden_layers", 0),
    "negative layers": ("num_hidden_layers", -3), "bool layers": ("num_hidden_layers", True),
    "string layers": ("num_hidden_layers", "32"), "zero intermediate": ("intermediate_size", 0),
    "zero vocab": ("vocab_size", 0), "null vocab": ("vocab_size", None), "NaN vocab": ("vocab_size", float("nan")),
    "infinite vocab": ("vocab_size", float("inf")), "absurd hidden": ("hidden_size", 10**9),
    "sliding window text": ("sliding_window", "abc"), "negative sliding window": ("sliding_window", -1),
    "huge context": ("max_position_embeddings", 10**12), "list heads": ("num_attention_heads", [32]),
}


@pytest.mark.parametrize("case", sorted(BAD_INTEGERS))
def test_integer_fields_must_be_bounded_integers(tmp_path, capsys, case):
    field, value = BAD_INTEGERS[case]
    folder = write_config(tmp_path, json.dumps({**LLAMA_8B, field: value}))
    assert_refused(*solve_folder(capsys, folder), "config.json", field, "accepted: an integer")


def test_missing_field_is_named(tmp_path, capsys):
    cfg = {k: v for k, v in LLAMA_8B.items() if k != "intermediate_size"}
    assert_refused(*solve_folder(capsys, write_config(tmp_path, json.dumps(cfg))), "intermediate_size", "missing")


# ---- head geometry: KV heads divide the heads, hidden splits into heads when head_dim is absent ----------
GEOMETRY = {
    "kv heads do not divide": ({"num_key_value_heads": 7}, "num_key_value_heads",
                               "must divide num_attention_heads (got 7 and 32)"),
    "kv heads exceed heads": ({"num_key_value_heads": 64}, "num_key_value_heads", "must not exceed"),
    "hidden not a multiple of heads": ({"hidden_size": 4100}, "hidden_size", "multiple of num_attention_heads"),
    "multimodal text_config too": ({"text_config": {**LLAMA_8B, "num_key_value_heads": 5}, "num_hidden_layers": None},
                                   "text_config.num_key_value_heads", "must divide"),
}


@pytest.mark.parametrize("case", sorted(GEOMETRY))
def test_inconsistent_head_geometry_is_refused(tmp_path, capsys, case):
    change, field, why = GEOMETRY[case]
    cfg = {k: v for k, v in {**LLAMA_8B, **change}.items() if v is not None}
    assert_refused(*solve_folder(capsys, write_config(tmp_path, json.dumps(cfg))), field, why)


def test_head_dim_given_lifts_the_divisibility_rule(tmp_path):
    """Configs that state head_dim (Qwen3: 5120 hidden, 64 heads of 128) need not split hidden evenly."""
    arch = resolve_model(str(write_config(tmp_path, json.dumps({**LLAMA_8B, "hidden_size": 4100, "head_dim": 128}))))
    assert arch.hidden_size == 4100 and arch.head_dim == 128
    assert resolve_model("Qwen/Qwen3-32B").head_dim == 128 != 5120 // 64


# ---- the file itself: JSON, an object, sane shapes ----------------------------------------------------
BAD_SHAPES = {
    "truncated": ('{"hidden_size": 4096,\n  "num_hidden', "not valid JSON (line 2"),
    "empty": ("", "not valid JSON (line 1"),
    "a list": ("[1, 2]", "must be a JSON object (got a list)"),
    "a string": ('"LlamaForCausalLM"', "must be a JSON object (got a string)"),
    "nested too deep": ("[" * 100000 + "]" * 100000, "config.json"),
    "endless integer": ('{"vocab_size": ' + "9" * 5000 + "}", "not valid JSON"),
    "architectures a string": (json.dumps({**LLAMA_8B, "architectures": "LlamaForCausalLM"}), "architectures"),
    "text_config a list": (json.dumps({"architectures": ["LlamaForCausalLM"], "text_config": []}), "text_config"),
    "tie_word_embeddings a string": (json.dumps({**LLAMA_8B, "tie_word_embeddings": "false"}), "tie_word_embeddings"),
    "not utf-8": (b"\xff\xfe{}", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_SHAPES))
def test_bad_json_shapes_are_refused(tmp_path, capsys, case):
    content, why = BAD_SHAPES[case]
    path = tmp_path / "config.json"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert_refused(*solve_folder(capsys, tmp_path), "config.json", why)


# ---- quantization schemes: only those sloplan models ----------------------------------------------------
BAD_QUANT = {
    "gptq": ({"quant_method": "gptq", "bits": 4, "group_size": 128}, None),
    "awq": ({"quant_method": "awq", "bits": 4, "version": "gemm"}, None),
    "bitsandbytes": ({"quant_method": "bitsandbytes", "load_in_4bit": True}, None),
    "compressed-tensors int4": ({"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 4, "type": "int", "group_size": 128}, "input_activations": None}}}, None),
    "modelopt int4 awq": (None, {"quantization": {"quant_algo": "W4A16_AWQ"}}),
    "no quant_method": ({"bits": 4}, None),
    "not an object": ("gptq", None),
}


@pytest.mark.parametrize("case", sorted(BAD_QUANT))
def test_unmodelled_quantization_is_refused_with_the_accepted_schemes(tmp_path, capsys, case):
    qcfg, modelopt = BAD_QUANT[case]
    cfg = {**LLAMA_8B, **({"quantization_config": qcfg} if qcfg is not None else {})}
    folder = write_config(tmp_path, json.dumps(cfg), json.dumps(modelopt) if modelopt else None)
    code, out, err = solve_folder(capsys, folder)
    assert_refused(code, out, err, "quant")
    assert "FP8" in err and "NVFP4" in err  # the accepted schemes are named


@pytest.mark.parametrize("qcfg,modelopt,gemm", [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, None, GemmQuant.FP8_BLOCK),
    ({"quant_method": "fp8"}, None, GemmQuant.FP8),
    ({"quant_method": "fbgemm_fp8"}, None, GemmQuant.FP8),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, None, GemmQuant.NVFP4),
    (None, {"quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}, GemmQuant.FP8),
    (None, {"quantization": {"quant_algo": None, "kv_cache_quant_algo": "FP8"}}, GemmQuant.BF16),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float"},
                                                                     "input_activations": {"num_bits": 8}}}},
     None, GemmQuant.FP8),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 4, "type": "float"},
                                                                     "input_activations": {"num_bits": 4}}}},
     None, GemmQuant.NVFP4),
])
def test_modelled_quantization_is_read(tmp_path, qcfg, modelopt, gemm):
    cfg = {**LLAMA_8B, **({"quantization_config": qcfg} if qcfg is not None else {})}
    folder = write_config(tmp_path, json.dumps(cfg), json.dumps(modelopt) if modelopt else None)
    assert resolve_model(str(folder)).checkpoint_quant is gemm


def test_every_shipped_config_that_worked_still_validates():
    """The catalog and the wheel's model_configs go through the same validator; none that planned before
    is refused by it (the dense ones all resolve, and their checkpoint is their own name)."""
    names = list_models()
    assert {"Qwen/Qwen3-32B-FP8", "meta-llama/Llama-3.1-70B", "meta-llama/Meta-Llama-3.1-8B",
            "nvidia/Llama-3.1-70B-Instruct-FP8"} <= set(names)
    for name in names:
        assert resolve_model(name).checkpoint == name
        org, _, base = name.partition("/")
        assert org and base, name  # every entry is an org/name Hugging Face id
    assert len(names) < len(_entries())  # MoE/MLA entries stay out, refused as unsupported, not invalid


# ---- launch commands serve the resolved checkpoint ---------------------------------------------------
SPELLINGS = {  # typed -> the checkpoint a server must load
    "qwen3-32b": "Qwen/Qwen3-32B", "QWEN/qwen3-32b": "Qwen/Qwen3-32B", "Qwen3-32B-FP8": "Qwen/Qwen3-32B-FP8",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B": "meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "mistral-7b-v0.3": "mistralai/Mistral-7B-v0.3", "llama_3.1_8b_instruct_fp8": "nvidia/Llama-3.1-8B-Instruct-FP8",
    "unsloth/Llama-3.1-8B-Instruct": "unsloth/Llama-3.1-8B-Instruct",
}


def _served(cmd: str) -> set[str]:
    """The model paths a launch command loads: the server's model argument and any PTQ source."""
    tokens = shlex.split(cmd.replace("&&", " "))
    out = {t.split("=", 1)[1] for t in tokens if t.startswith("--pyt_ckpt_path=")}
    for i, t in enumerate(tokens):
        if t == "serve" or t == "--model-path" or t == "trtllm-serve":
            out.add(tokens[i + 1])
    return out


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("typed", sorted(SPELLINGS))
def test_launch_names_the_resolved_checkpoint(backend, typed):
    arch, system = resolve_model(typed), load_system("h200_sxm")
    assert arch.name == typed and arch.checkpoint == SPELLINGS[typed]
    for gemm in {arch.checkpoint_quant, GemmQuant.NVFP4 if arch.checkpoint_quant is GemmQuant.BF16 else None} - {None}:
        e = Engine(2, 1, Quant.default_for(gemm))
        fw = profile(backend)
        cmd = launch_command(backend, arch, e, memory_plan(arch, e, system, fw), fw, Workload(1000, 100), 8)
        served = _served(cmd)
        assert SPELLINGS[typed] in served, (cmd, served)
        if typed != SPELLINGS[typed]:
            assert typed not in shlex.split(cmd.replace("&&", " ")), cmd


@pytest.mark.parametrize("backend,model", [("trtllm", "qwen3-32b"), ("vllm", "llama-3.1-8b-instruct"),
                                           ("sglang", "FOLDER")])
def test_solve_launches_the_checkpoint_not_the_spelling(tmp_path, capsys, backend, model):
    """End to end through `solve --json`: the best plan's launch loads the checkpoint (or the folder)."""
    if model == "FOLDER":
        model = str(write_config(tmp_path / "", json.dumps(LLAMA_8B)))
        want = model
    else:
        want = SPELLINGS[model]
    code, out, err = cli_run(capsys, "solve", "--model", model, "--system", "h200_sxm", "--backend", backend,
                             "--isl", 1000, "--osl", 100, "--total-gpus", 2, "--modes", "agg,static", "--json")
    assert code == 0, err  # aggregated modes: their best plan has a launch command
    result = json.loads(out)
    assert result["request"]["model"] == model  # results echo what the user typed
    assert want in _served(result["best"]["launch"]), result["best"]["launch"]


def test_models_says_spellings_resolve_and_shows_the_readme_examples(capsys):
    code, out, err = cli_run(capsys, "models")
    assert code == 0, err
    assert "spelling-insensitive" in out and "qwen3-32b" in out and "→ Qwen/Qwen3-32B" in out
    for example in ("Qwen/Qwen3-32B-FP8", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-8B-Instruct"):
        assert example in out
        assert catalog_entry(example) is not None  # each README example resolves


def test_any_config_json_resolves_or_is_an_input_error(tmp_path):
    """Property: whatever config.json holds, resolving it gives an architecture that passes the checks,
    or an InputError on `model` in one line; never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from sloplan.context import resolve_arch
    from sloplan.errors import InputError
    from sloplan.model.hf_config import BOUNDS

    scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 5000), st.integers(), st.floats(),
                       st.text(max_size=8))
    json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=6), inner, max_size=3), max_leaves=8)
    field_values = st.fixed_dictionaries({}, optional={k: st.one_of(st.integers(-2, 1 << 18), json_value)
                                                       for k in [*BOUNDS, "tie_word_embeddings", "use_sliding_window",
                                                                 "quantization_config", "architectures"]})

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(change=field_values, whole=st.one_of(st.none(), json_value))
    def check(change, whole):
        cfg = whole if whole is not None else {**LLAMA_8B, **change}
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        try:
            arch = resolve_arch(str(tmp_path))
        except InputError as exc:
            assert exc.field == "model" and "\n" not in str(exc)
            return
        assert arch.num_heads % arch.num_kv_heads == 0 and arch.head_dim >= 1 and arch.num_layers >= 1
        for key, (lo, hi) in BOUNDS.items():
            value = cfg.get(key)
            assert value is None or (type(value) is int and lo <= value <= hi), (key, value)

    check()
