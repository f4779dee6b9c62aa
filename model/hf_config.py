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
DEFAULT_MAX_POSITION = 131072

_MODELOPT_ALGOS = {"FP8": GemmQuant.FP8, "NVFP4": GemmQuant.NVFP4}
ACCEPTED_QUANT = ("none (BF16/FP16 weights), quant_method fp8 (per-tensor or weight_block_size), fbgemm_fp8, "
                  "ModelOpt quant_algo FP8 or NVFP4, compressed-tensors FP8 or NVFP4 (W4A4)")


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


class _Fields:
    """Typed reads from one JSON object, each error naming `label` and the dotted field."""

    def __init__(self, obj: dict, label: str, prefix: str = ""):
        self.obj, self.label, self.prefix = obj, label, prefix

    def fail(self, key: str, what: str) -> InvalidModelConfig:
        return InvalidModelConfig(f"model: {self.label} {self.prefix}{key}: {what}")

    def int(self, key: str, default: int | None = None, required: bool = True) -> int | None:
        """A bounded integer; null or absent is `default` for optional fields."""
        lo, hi = BOUNDS[key]
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


def arch_fields(cfg: dict, source: str) -> dict:
    """The validated shape of a dense decoder as ModelArch's keyword arguments."""
    require_object(cfg, source)
    prefix = ""
    if "num_hidden_layers" not in cfg and "text_config" in cfg:  # multimodal: the decoder is in text_config
        cfg, prefix = cfg["text_config"], "text_config."
        if not isinstance(cfg, dict):
            raise InvalidModelConfig(f"model: {source} text_config: must be a JSON object (got {_kind(cfg)})")
    f = _Fields(cfg, source, prefix)
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
