"""A Hugging Face config.json checked once: the single place a model's shape and weight format are validated.

Every architecture sloplan plans (a local folder, our catalog, the configs the aiconfigurator-core wheel
ships) goes through `arch_fields`, so a config with zero KV heads, 32.5 layers or GPTQ weights is refused
with the file and field named instead of becoming a confident plan, a wrong format, or a crash deep in
the estimator. Integers must be JSON integers (not bools, not 32.5 or 32.0, not the string "32": config
files written by transformers never use those, so they are a hand-edit error, not a spelling to guess at),
inside bounds generous for any real model and tight enough to refuse absurd ones.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .quant import GemmQuant
from .weight_format import WeightFormat

MAX_CONFIG_BYTES = 8 << 20  # real config.json files are a few kB (the largest ModelOpt ones < 1 MB)
_ECHO = 40  # characters of a bad value echoed back

# Inclusive bounds per field. The largest public dense models stay far inside them
# (Llama-3.1-405B: hidden 16384, 126 layers, 128 heads, intermediate 53248; vocabularies ≤ 262144).
BOUNDS = {
    "hidden_size": (1, 1 << 17), "num_hidden_layers": (1, 1024), "num_attention_heads": (1, 1024),
    "num_key_value_heads": (1, 1024), "head_dim": (1, 1024), "intermediate_size": (1, 1 << 20),
    "vocab_size": (1, 1 << 24), "max_position_embeddings": (1, 1 << 27),
    "sliding_window": (0, 1 << 27),  # 0 or null: full attention on every layer
}
# The fields only MoE / MLA / sparse / linear-attention designs read (a dense config's are not looked at).
FAMILY_BOUNDS = {
    # MoE (DeepSeek / Qwen / Mixtral spellings of the same numbers); the largest public: Qwen3.5 512 experts
    "n_routed_experts": (1, 1 << 14), "num_experts": (1, 1 << 14), "num_local_experts": (1, 1 << 14),
    "num_experts_per_tok": (1, 1024), "experts_per_token": (1, 1024), "moe_intermediate_size": (1, 1 << 20),
    "n_shared_experts": (0, 64), "shared_expert_intermediate_size": (0, 1 << 20),
    "shared_intermediate_size": (0, 1 << 20), "first_k_dense_replace": (0, 1024), "moe_layer_freq": (1, 1024),
    "decoder_sparse_step": (1, 1024), "mlp_only_layers[]": (0, 1023),
    # MLA (DeepSeek-V3: q_lora 1536, kv_lora 512, nope 128, rope 64, v 128) and its sparse indexer
    "q_lora_rank": (1, 1 << 16), "kv_lora_rank": (1, 1 << 16), "qk_nope_head_dim": (0, 1024),
    "qk_rope_head_dim": (1, 1024), "v_head_dim": (1, 1024), "index_n_heads": (1, 1024),
    "index_head_dim": (1, 1024), "index_topk": (1, 1 << 27),
    # gated-DeltaNet linear attention (Qwen3.5: 16 key heads, 64 value heads of 128, conv kernel 4)
    "linear_num_key_heads": (1, 1024), "linear_num_value_heads": (1, 1024), "linear_key_head_dim": (1, 1024),
    "linear_value_head_dim": (1, 1024), "linear_conv_kernel_dim": (1, 64), "full_attention_interval": (1, 1024),
    # multi-token-prediction layers shipped with the checkpoint (not part of the main forward pass)
    "num_nextn_predict_layers": (0, 64), "mtp_num_hidden_layers": (0, 64), "num_mtp_modules": (0, 64),
}
DEFAULT_MAX_POSITION = 131072

_MODELOPT_ALGOS = {"FP8": GemmQuant.FP8, "NVFP4": GemmQuant.NVFP4}
ACCEPTED_QUANT = ("none (BF16/FP16 weights), quant_method fp8 (per-tensor or weight_block_size), fbgemm_fp8, "
                  "ModelOpt quant_algo FP8 or NVFP4, compressed-tensors FP8 or NVFP4 (W4A4)")


def bounds(key: str) -> tuple[int, int]:
    return BOUNDS[key] if key in BOUNDS else FAMILY_BOUNDS[key]


class InvalidModelConfig(ValueError):
    """config.json (or hf_quant_config.json) is malformed, inconsistent, or in a format sloplan does not model."""


def echo(value: object) -> str:
    """A bad value as the user wrote it, bounded and on one line."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = type(value).__name__
    return _clip(text)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ECHO else text[:_ECHO - 1] + "…"


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def read_json(path: Path, label: str) -> object:
    """A JSON file's value; a file that cannot be read or parsed names itself and the line."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise InvalidModelConfig(f"model: {label}: {size} bytes is not a config file; accepted: "
                                     f"≤ {MAX_CONFIG_BYTES >> 20} MiB")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidModelConfig(f"model: {label} is not UTF-8 text; accepted: a JSON object") from None
    except OSError as exc:
        raise InvalidModelConfig(f"model: {label} cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidModelConfig(f"model: {label} is not valid JSON (line {exc.lineno}: {exc.msg}); "
                                 "accepted: a JSON object") from None
    except RecursionError:
        raise InvalidModelConfig(f"model: {label} is nested too deeply to be a config; "
                                 "accepted: a JSON object") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise InvalidModelConfig(f"model: {label} is not valid JSON ({echo(str(exc))}); "
                                 "accepted: a JSON object") from None


class Fields:
    """Typed reads from one JSON object, each error naming `label` and the dotted field."""

    def __init__(self, obj: dict, label: str, prefix: str = ""):
        self.obj, self.label, self.prefix = obj, label, prefix

    def fail(self, key: str, what: str) -> InvalidModelConfig:
        return InvalidModelConfig(f"model: {self.label} {self.prefix}{key}: {what}")

    def int(self, key: str, default: int | None = None, required: bool = True) -> int | None:
        """A bounded integer; null or absent is `default` for optional fields."""
        lo, hi = bounds(key)
        v = self.obj.get(key)
        if v is None:
            if not required:
                return default
            raise self.fail(key, f"{'missing' if key not in self.obj else 'is null'}; accepted: an integer {lo}..{hi}")
        if type(v) is not int:
            raise self.fail(key, f"must be an integer (got {echo(v)}); accepted: an integer {lo}..{hi}")
        if not lo <= v <= hi:
            raise self.fail(key, f"out of range (got {v}); accepted: an integer {lo}..{hi}")
        return v

    def first_int(self, keys: tuple[str, ...], default: int | None = None) -> int | None:
        """The first of several spellings of one number that the config has (e.g. n_routed_experts,
        num_experts, num_local_experts); `default` when none is there, an error naming all when none
        is there and no default is given."""
        for key in keys:
            if self.obj.get(key) is not None:
                return self.int(key)
        if default is None:
            lo, hi = bounds(keys[0])
            raise self.fail(keys[0], f"missing (also looked for {', '.join(keys[1:])}); accepted: an integer {lo}..{hi}"
                            if len(keys) > 1 else f"missing; accepted: an integer {lo}..{hi}")
        return default

    def int_list(self, key: str) -> tuple[int, ...]:
        """A list of bounded integers (bounds of `key[]`); null or absent is empty."""
        v = self.obj.get(key)
        if v is None:
            return ()
        lo, hi = bounds(key + "[]")
        if not isinstance(v, list) or not all(type(x) is int and lo <= x <= hi for x in v):
            raise self.fail(key, f"must be a list of integers {lo}..{hi} (got {echo(v)})")
        return tuple(v)

    def choices(self, key: str, accepted: tuple[str, ...], length: int) -> tuple[str, ...] | None:
        """A list of `length` names, each one of `accepted` (e.g. layer_types); None when absent."""
        v = self.obj.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != length or not all(isinstance(x, str) and x in accepted for x in v):
            bad = next((x for x in v if x not in accepted), None) if isinstance(v, list) else v
            what = (f"has {len(v)} entries, not num_hidden_layers = {length}" if isinstance(v, list) and bad is None
                    else f"got {echo(bad)}")
            raise self.fail(key, f"{what}; accepted: a list of {length} of {', '.join(accepted)}")
        return tuple(v)

    def bool(self, key: str, default: bool) -> bool:
        v = self.obj.get(key)
        if v is None:
            return default
        if type(v) is not bool:
            raise self.fail(key, f"must be true or false (got {echo(v)}); accepted: true, false")
        return v


def require_object(cfg: object, source: str) -> None:
    if not isinstance(cfg, dict):
        raise InvalidModelConfig(f"model: {source} must be a JSON object (got {_kind(cfg)}); accepted: a JSON object")


def decoder_fields(cfg: dict, source: str) -> Fields:
    """Typed reads from the decoder's part of the config (multimodal checkpoints nest it in text_config)."""
    require_object(cfg, source)
    prefix = ""
    if "num_hidden_layers" not in cfg and "text_config" in cfg:  # multimodal: the decoder is in text_config
        cfg, prefix = cfg["text_config"], "text_config."
        if not isinstance(cfg, dict):
            raise InvalidModelConfig(f"model: {source} text_config: must be a JSON object (got {_kind(cfg)})")
    return Fields(cfg, source, prefix)


def arch_fields(cfg: dict, source: str) -> dict:
    """The validated shape of a dense decoder as ModelArch's keyword arguments."""
    f = decoder_fields(cfg, source)
    heads = f.int("num_attention_heads")
    kv = f.int("num_key_value_heads", default=heads, required=False)
    if kv > heads:
        raise f.fail("num_key_value_heads", f"must not exceed num_attention_heads (got {kv} and {heads}); "
                                            f"accepted: a divisor of {heads}")
    if heads % kv:
        raise f.fail("num_key_value_heads", f"must divide num_attention_heads (got {kv} and {heads}); "
                                            f"accepted: a divisor of {heads}")
    hidden = f.int("hidden_size")
    head_dim = f.int("head_dim", required=False)
    if head_dim is None:
        if hidden % heads:
            raise f.fail("hidden_size", f"must be a multiple of num_attention_heads when head_dim is absent "
                                        f"(got {hidden} and {heads}); accepted: a multiple of {heads}, or set head_dim")
        head_dim = hidden // heads
    max_pos = f.int("max_position_embeddings", default=DEFAULT_MAX_POSITION, required=False)
    window = f.int("sliding_window", required=False)
    use_window = f.bool("use_sliding_window", default=True)
    return dict(
        hidden_size=hidden, num_layers=f.int("num_hidden_layers"), num_heads=heads, num_kv_heads=kv,
        head_dim=head_dim, intermediate_size=f.int("intermediate_size"), vocab_size=f.int("vocab_size"),
        max_position_embeddings=max_pos,
        sliding_window=window if use_window and window and window < max_pos else 0,
        tie_word_embeddings=f.bool("tie_word_embeddings", default=False),
    )


def architecture(cfg: dict, source: str) -> str:
    """The first name in `architectures` (the decoder's, or the multimodal wrapper's), "unnamed" if none."""
    inner = cfg.get("text_config") if "num_hidden_layers" not in cfg else None
    for where, obj in (("text_config.", inner), ("", cfg)):
        names = obj.get("architectures") if isinstance(obj, dict) else None
        if names is None or names == []:
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidModelConfig(f"model: {source} {where}architectures: must be a list of class names "
                                     f"(got {echo(names)}); accepted: e.g. [\"LlamaForCausalLM\"]")
        return names[0]
    return "unnamed"


def checkpoint_quant(qcfg: object, modelopt: object, source: str) -> GemmQuant:
    """The GEMM format the checkpoint's weights are stored in; a scheme sloplan does not model is refused
    (planning GPTQ int4 weights as BF16 would size memory 4x wrong and quantize them again on launch)."""
    if modelopt is not None:
        label = source.replace("config.json", "hf_quant_config.json")
        q = modelopt.get("quantization") if isinstance(modelopt, dict) else None
        if not isinstance(q, dict):
            raise InvalidModelConfig(f"model: {label} quantization: must be a JSON object; accepted: {ACCEPTED_QUANT}")
        if q.get("quant_algo") is not None:
            return _modelopt(q["quant_algo"], f"{label} quantization.quant_algo")
    if qcfg is None:
        return GemmQuant.BF16
    if not isinstance(qcfg, dict):
        raise InvalidModelConfig(f"model: {source} quantization_config: must be a JSON object (got {_kind(qcfg)}); "
                                 f"accepted: {ACCEPTED_QUANT}")
    method = qcfg.get("quant_method")
    method_l = method.lower() if isinstance(method, str) else method
    if method_l in (None, "modelopt") and qcfg.get("quant_algo") is not None:
        return _modelopt(qcfg["quant_algo"], f"{source} quantization_config.quant_algo")
    if method_l == "fp8":
        return GemmQuant.FP8_BLOCK if qcfg.get("weight_block_size") else GemmQuant.FP8
    if method_l == "fbgemm_fp8":
        return GemmQuant.FP8
    if method_l == "compressed-tensors":
        return _compressed_tensors(qcfg, source)
    what = "names no quant_method" if method is None else f"quant_method {echo(method)} is not modelled"
    raise InvalidModelConfig(f"model: {source} quantization_config: {what}; accepted: {ACCEPTED_QUANT}")


def checkpoint_format(qcfg: object, modelopt: object, source: str) -> tuple[WeightFormat, tuple[str, ...]]:
    """The format of a MoE/MLA checkpoint's quantized weights and the modules it leaves unquantized.

    Beyond what `checkpoint_quant` reads for dense models, MoE checkpoints use gpt-oss's MXFP4 experts
    and Kimi-K2's INT4 weight-only experts (compressed-tensors, groups of 32); either way most of
    them exclude attention or shared experts, which then stay BF16 (see model/weight_format.py)."""
    if isinstance(qcfg, dict) and isinstance(qcfg.get("quant_method"), str):
        method = qcfg["quant_method"].lower()
        if method == "mxfp4":
            return WeightFormat.MXFP4, _exclusions(qcfg, f"{source} quantization_config")
        if method == "compressed-tensors" and _is_int4_g32(qcfg):
            return WeightFormat.INT4_WO, _exclusions(qcfg, f"{source} quantization_config")
    fmt = WeightFormat.of(checkpoint_quant(qcfg, modelopt, source))
    q = modelopt.get("quantization") if isinstance(modelopt, dict) else None
    if isinstance(q, dict) and q.get("quant_algo") is not None:
        return fmt, _exclusions(q, source.replace("config.json", "hf_quant_config.json") + " quantization")
    return fmt, _exclusions(qcfg, f"{source} quantization_config") if isinstance(qcfg, dict) else ()


def _is_int4_g32(qcfg: dict) -> bool:
    """compressed-tensors W4A16: 4-bit integer weights in groups of 32, activations left BF16."""
    groups = qcfg.get("config_groups")
    if not isinstance(groups, dict) or len(groups) != 1:
        return False
    g = next(iter(groups.values()))
    w = g.get("weights") if isinstance(g, dict) else None
    return (isinstance(w, dict) and g.get("input_activations") is None and w.get("type") == "int"
            and w.get("num_bits") == 4 and w.get("group_size") == 32)


def _exclusions(q: dict, where: str) -> tuple[str, ...]:
    for key in ("exclude_modules", "modules_to_not_convert", "ignore"):
        v = q.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise InvalidModelConfig(f"model: {where}.{key}: must be a list of module names (got {echo(v)})")
        return tuple(v)
    return ()


def _modelopt(algo: object, where: str) -> GemmQuant:
    gemm = _MODELOPT_ALGOS.get(algo.upper()) if isinstance(algo, str) else None
    if gemm is None:
        raise InvalidModelConfig(f"model: {where}: {echo(algo)} is not modelled; "
                                 f"accepted: {', '.join(_MODELOPT_ALGOS)}")
    return gemm


def _compressed_tensors(qcfg: dict, source: str) -> GemmQuant:
    """compressed-tensors (llm-compressor) checkpoints: FP8 weights, or NVFP4 weights with FP4 activations."""
    groups = qcfg.get("config_groups")
    found = set()
    for group in groups.values() if isinstance(groups, dict) else ():
        w = group.get("weights") if isinstance(group, dict) else None
        a = group.get("input_activations") if isinstance(group, dict) else None
        if not isinstance(w, dict):
            continue
        scheme = (w.get("type"), w.get("num_bits"), (a or {}).get("num_bits") if isinstance(a, dict) else None)
        if scheme[:2] == ("float", 8):
            found.add(GemmQuant.FP8_BLOCK if w.get("strategy") == "block" else GemmQuant.FP8)
        elif scheme == ("float", 4, 4):
            found.add(GemmQuant.NVFP4)
        else:
            t, bits, abits = scheme
            found.add(f"W{bits}A{16 if abits is None else abits} {t}")
    if len(found) == 1 and isinstance(next(iter(found)), GemmQuant):
        return found.pop()
    got = ", ".join(sorted(str(x) if not isinstance(x, GemmQuant) else x.value for x in found)) or "no weight scheme"
    raise InvalidModelConfig(f"model: {source} quantization_config: compressed-tensors {_clip(got)} "
                             f"is not modelled; accepted: {ACCEPTED_QUANT}")
