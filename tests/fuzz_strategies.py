"""Hypothesis strategies for the front-door fuzzer (tests/test_fuzz_front_door.py), and the oracle that
says, for each generated input, which outcomes the contract allows.

An input is judged *before* it is run, from what the user wrote (never from sloplan's own parsing):
  VALID      the run must plan (exit 0) or prove infeasibility (exit 3);
  BAD        the run must refuse it (exit 2) naming one of the offending fields;
  AMBIGUOUS  either is fine (e.g. `isl: "1000"`, `modes: [agg, agg]`), but an accepted value must mean
             what the user wrote (the echo in --json equals the interpreted value).
Several mutations in one input combine: any BAD makes exit 2 the only answer, and the field it names
may be any BAD or AMBIGUOUS one (a validator may stop at either first).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace

import yaml
from hypothesis import strategies as st

# --------------------------------------------------------------------------- the fast corner we fuzz in
SYSTEM, BACKEND, VERSION = "h200_sxm", "trtllm", "1.3.0rc20"
# model spelling -> (canonical catalog id, context tokens, quantizations that are valid on h200)
MODELS = {
    "Qwen/Qwen3-32B-FP8": ("Qwen/Qwen3-32B-FP8", 40960, ("fp8_block",)),
    "qwen3-32b-fp8": ("Qwen/Qwen3-32B-FP8", 40960, ("fp8_block",)),
    "meta-llama/Llama-3.1-8B-Instruct": ("meta-llama/Llama-3.1-8B-Instruct", 131072, ("bf16", "fp8", "fp8_block")),
    "Llama-3.1-8B-Instruct": ("meta-llama/Llama-3.1-8B-Instruct", 131072, ("bf16", "fp8", "fp8_block")),
}
ALL_QUANTS = ("bf16", "fp8", "fp8_block", "nvfp4")
MODES = ("agg", "static")
SLO_FIELDS = ("ttft_ms", "tpot_ms", "request_latency_ms")
INT_FIELDS = {"isl": (1, None), "osl": (2, None), "prefix": (0, None), "total_gpus": (1, None),
              "max_batch_size": (1, 4096)}
DEFAULTS = {"backend": BACKEND, "version": None, "isl": 4000, "osl": 1000, "prefix": 0, "ttft_ms": None,
            "tpot_ms": None, "request_latency_ms": None, "modes": list(MODES), "quantizations": None,
            "max_batch_size": 512}
REQUIRED = ("model", "system", "total_gpus")
REQUEST_FIELDS = ("model", "system", "backend", "version", "isl", "osl", "prefix", "ttft_ms", "tpot_ms",
                  "request_latency_ms", "total_gpus", "modes", "quantizations", "max_batch_size")
MAX_FAST_GPUS = 64  # above this a budget may be refused as out of range: either answer is fine


class Verdict:
    VALID, AMBIGUOUS, BAD = "valid", "ambiguous", "bad"


@dataclass(frozen=True)
class Expect:
    """What the contract allows for one input."""

    codes: frozenset            # exit codes allowed
    fields: frozenset = frozenset()  # on exit 2: the line must name one of these (empty: any known field)
    mentions: tuple = ()        # on exit 2 naming a field of `mention_for`: the line must contain each of these
    mention_for: frozenset = frozenset()
    intended: dict = field(default_factory=dict)  # on exit 0 with --json: echoed request fields must equal these
    slo: dict = field(default_factory=dict)       # on exit 0: SLOs the best plan must meet
    total_gpus: int | None = None


VALID_EXPECT = frozenset({0, 3})
BAD_EXPECT = frozenset({2})
ANY_EXPECT = frozenset({0, 2, 3})


class Raw(str):
    """A YAML snippet written as is (tags, YAML 1.1 spellings, anchors); its meaning is what safe_load makes of it."""


@dataclass(frozen=True)
class Deep:
    """A list nested `depth` levels, written by hand (emitters and parsers recurse)."""

    depth: int

    def text(self) -> str:
        return "[" * self.depth + "1" + "]" * self.depth


# --------------------------------------------------------------------------- hostile values
def _long(c: str, n: int) -> str:
    return c * n


control_text = st.text(st.characters(categories=["Cc", "Zl", "Zp", "Cf"], exclude_characters="\x00"), min_size=1,
                       max_size=4)
unicode_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
long_text = st.builds(_long, st.sampled_from(["a", "é", "字", "\U0001F600", "\n", "/"]),
                      st.sampled_from([256, 300, 4000, 20000]))
YAML_SPELLINGS = ["yes", "no", "on", "off", "~", "null", "0x10", "0o17", "012", "1_000", ".nan", ".inf", "-.inf",
                  "1e3", "1.0e+400", "-0", "+7", "2001-12-14", "!!binary aGVsbG8=", "!!set {a, b}",
                  "!!str 1000", "!!int '12'", "!!float '3'", "&r [*r]", "!!python/object/apply:os.system ['true']",
                  "{}", "[]", "''", "' '", "[agg]", "[agg, agg]", "[[agg]]", "{agg: 1}", "[null]", "[1, 2]"]
numbers = st.one_of(
    st.sampled_from([-(2 ** 63), -1, 0, 1, 2, 3, 7, 8, 100, 1000, 4095, 4096, 4097, 40960, 2 ** 31, 2 ** 63, 10 ** 30]),
    st.integers(min_value=-10, max_value=5000),
    st.sampled_from([0.0, -0.0, 0.5, 1.5, 1000.0, 1000.7, 1e-300, 5e-324, 1e300, 1e308, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, unicode_text, control_text,
                    numbers.map(str), st.sampled_from(["", " ", "abc", "agg", "static", "fp8", "trtllm", "h200_sxm"]))
hostile_values = st.one_of(
    scalars,
    st.builds(Raw, st.sampled_from(YAML_SPELLINGS)),
    long_text,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
    st.builds(Deep, st.sampled_from([2, 30, 200, 1000, 5000])),
)


def render(value) -> str:
    """One YAML flow value (no newline at the end)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Deep):
        return value.text()
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=math.inf)
    return text.removesuffix("\n").removesuffix("\n...").rstrip("\n")


def interpret(value):
    """What safe_load reads back for a rendered value (so judging follows YAML's rules, not ours)."""
    if isinstance(value, Deep):
        return value
    if not isinstance(value, Raw):
        return value
    try:
        return yaml.safe_load("k: " + render(value))["k"]
    except yaml.YAMLError:
        return _Unloadable()


class _Unloadable:
    """A snippet safe_load refuses (python tags): the whole file is bad, field `request`."""


# --------------------------------------------------------------------------- judging one request
def _number_text(v: str):
    """A string that is plainly a decimal number, and its value (else None)."""
    t = v.strip()
    if re.fullmatch(r"[+-]?\d+", t, flags=re.ASCII):
        return int(t)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", t, flags=re.ASCII):
        return float(t)
    return None


def _as_number(v) -> tuple[object, bool]:
    """(the value, whether it was text that only may be read as a number); (None, _) for a bool or for
    text that is no number."""
    if isinstance(v, bool):
        return None, False
    if isinstance(v, str):
        return _number_text(v), True
    return v, False


def judge_int(name: str, v, required: bool) -> tuple[str, object]:
    lo, hi = INT_FIELDS[name]
    if v is None:
        return (Verdict.BAD, None) if required else (Verdict.AMBIGUOUS, DEFAULTS[name])
    v, amb = _as_number(v)
    if v is None:
        return Verdict.BAD, None
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            return Verdict.BAD, None
        v, amb = int(v), True
    if not isinstance(v, int):
        return Verdict.BAD, None
    if v < lo or (hi is not None and v > hi):
        return Verdict.BAD, None
    if name == "total_gpus" and v > MAX_FAST_GPUS:
        amb = True
    return (Verdict.AMBIGUOUS if amb else Verdict.VALID), v


def judge_slo(v) -> tuple[str, object]:
    if v is None:
        return Verdict.VALID, None
    v, amb = _as_number(v)
    if v is None:
        return Verdict.BAD, None
    v = float(v) if amb else v
    if not isinstance(v, (int, float)):
        return Verdict.BAD, None
    if math.isnan(v) or v <= 0:
        return Verdict.BAD, None
    if math.isinf(v) or v > 1e300:
        return Verdict.AMBIGUOUS, None  # "no limit" or "out of range": either; never a bare Infinity in JSON
    return (Verdict.AMBIGUOUS if amb else Verdict.VALID), float(v)


def judge_list(v, allowed: tuple[str, ...], optional: bool) -> tuple[str, object]:
    if v is None:
        return (Verdict.VALID, None) if optional else (Verdict.AMBIGUOUS, list(MODES))
    if isinstance(v, str):
        return (Verdict.AMBIGUOUS, [v]) if v in allowed else (Verdict.BAD, None)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x in allowed for x in v):
        return Verdict.BAD, None
    dedup = list(dict.fromkeys(v))
    return (Verdict.VALID if dedup == v else Verdict.AMBIGUOUS), dedup


def judge_text(name: str, v) -> tuple[str, object]:
    if name == "model":
        return (Verdict.VALID, v) if isinstance(v, str) and v in MODELS else (Verdict.BAD, None)
    if name == "system":
        return (Verdict.VALID, v) if v == SYSTEM else (Verdict.BAD, None)
    if name == "backend":
        if v == BACKEND:
            return Verdict.VALID, v
        if v is None or (isinstance(v, str) and v.strip().lower() == BACKEND):
            return Verdict.AMBIGUOUS, BACKEND
        return Verdict.BAD, None
    if name == "version":
        return (Verdict.VALID, v) if v in (None, VERSION) else (Verdict.BAD, None)
    raise KeyError(name)


def judge_field(name: str, v) -> tuple[str, object]:
    if isinstance(v, (_Unloadable, Deep, _BadFlag)):
        return Verdict.BAD, None
    if isinstance(v, Lenient):
        verdict, value = judge_field(name, v.value)
        return (Verdict.AMBIGUOUS if verdict == Verdict.VALID else verdict), value
    if name in INT_FIELDS:
        return judge_int(name, v, name in REQUIRED)
    if name in SLO_FIELDS:
        return judge_slo(v)
    if name == "modes":
        return judge_list(v, MODES, optional=False)
    if name == "quantizations":
        return judge_list(v, ALL_QUANTS, optional=True)
    return judge_text(name, v)


def judge_request(req: dict, duplicates: tuple = (), dup_lines: tuple = ()) -> Expect:
    """The contract's answer for a whole request mapping (values as safe_load reads them)."""
    bad: set[str] = set()
    amb: set[str] = set()
    vals: dict = {}
    for k, v in req.items():
        if k not in REQUEST_FIELDS:
            bad.add(str(k))
            continue
        verdict, vals[k] = judge_field(k, v)
        {Verdict.BAD: bad, Verdict.AMBIGUOUS: amb}.get(verdict, set()).add(k)
    if any(isinstance(v, _Unloadable) for v in req.values()):
        bad.add("request")
    bad |= {f for f in REQUIRED if f not in req}
    full = {**DEFAULTS, **{k: v for k, v in vals.items() if v is not None or k in SLO_FIELDS}}
    _cross_checks(full, bad, amb)
    bad |= set(duplicates)
    mentions = tuple(str(n) for n in dup_lines) if duplicates else ()
    if bad:  # the lines are promised for the first repeated key only (duplicates[0], see _repeated)
        return Expect(BAD_EXPECT, frozenset(bad | amb), mentions, mention_for=frozenset(duplicates[:1]))
    intended = {k: full[k] for k in req if k in full and k not in amb}
    slo = {k: full.get(k) for k in SLO_FIELDS if full.get(k) is not None}
    return Expect(ANY_EXPECT if amb else VALID_EXPECT, frozenset(amb), intended=intended, slo=slo,
                  total_gpus=full.get("total_gpus") if isinstance(full.get("total_gpus"), int) else None)


def _cross_checks(full: dict, bad: set, amb: set) -> None:
    """Rules that tie fields together: prefix < isl, isl + osl within the context, formats of the checkpoint."""
    model = MODELS.get(full.get("model")) if isinstance(full.get("model"), str) else None
    isl, osl, prefix = full.get("isl"), full.get("osl"), full.get("prefix")
    if all(isinstance(x, int) for x in (isl, prefix)) and prefix >= isl:
        bad.add("prefix")
        amb.add("isl")
    if model and all(isinstance(x, int) for x in (isl, osl)) and isl + osl > model[1]:
        bad.add("isl")
        amb.add("osl")
    quants = full.get("quantizations")
    if model and isinstance(quants, list) and not set(quants) & set(model[2]):
        bad.add("quantizations")
    elif model and isinstance(quants, list) and not set(quants) <= set(model[2]):
        amb.add("quantizations")  # some formats usable, others not: refuse or plan with the usable ones


# --------------------------------------------------------------------------- request strategies
@st.composite
def valid_requests(draw) -> dict:
    """A request in the fast corner (~0.05 s a solve on a warm cache)."""
    spelling = draw(st.sampled_from(sorted(MODELS)))
    _, context, quants = MODELS[spelling]
    isl = draw(st.integers(16, 4000))
    req = {"model": spelling, "system": SYSTEM, "total_gpus": draw(st.integers(1, 4)), "isl": isl,
           "osl": draw(st.integers(2, 600))}
    optional = {
        "backend": st.just(BACKEND), "version": st.just(VERSION), "prefix": st.integers(0, isl - 1),
        "ttft_ms": st.floats(1, 20000), "tpot_ms": st.floats(1, 200), "request_latency_ms": st.floats(10, 1e6),
        "modes": st.lists(st.sampled_from(MODES), min_size=1, max_size=2, unique=True),
        "quantizations": st.lists(st.sampled_from(quants), min_size=1, max_size=len(quants), unique=True),
        "max_batch_size": st.integers(1, 64),
    }
    for k in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=len(optional))):
        req[k] = draw(optional[k])
    req.setdefault("max_batch_size", draw(st.integers(1, 64)))  # keep solves small
    return req


field_names = st.sampled_from(REQUEST_FIELDS)
unknown_keys = st.one_of(
    st.sampled_from(["ttft", "TTFT_MS", "total-gpus", "gpus", "mode", "quantization", "Model", "model ",
                     "max_batch", "slo", "isl_tokens"]),
    st.from_regex(r"[a-zé字]{1,10}", fullmatch=True).filter(lambda k: k not in REQUEST_FIELDS),
)


@dataclass(frozen=True)
class RequestFile:
    text: str
    expect: Expect
    note: str  # what the mutations were (shown by hypothesis on failure)


def _emit(entries: list[tuple[object, object]]) -> str:
    return "".join(f"{render(k)}: {render(v)}\n" for k, v in entries)


@st.composite
def request_files(draw) -> RequestFile:
    """A valid request with 0-3 mutations: wrong values, unknown keys, missing keys, duplicate keys, aliases."""
    req = draw(valid_requests())
    entries: list[list] = [[k, v] for k, v in req.items()]
    notes = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["value", "value", "value", "unknown", "drop", "duplicate"]))
        if kind == "value":
            name = draw(field_names)
            value = draw(hostile_values)
            _set(entries, name, value)
            notes.append(f"{name}={value!r:.60}")
        elif kind == "unknown":
            key = draw(unknown_keys)
            entries.append([key, draw(scalars)])
            notes.append(f"unknown {key!r}")
        elif kind == "drop" and entries:
            i = draw(st.integers(0, len(entries) - 1))
            notes.append(f"drop {entries[i][0]}")
            del entries[i]
        elif kind == "duplicate" and entries:
            i = draw(st.integers(0, len(entries) - 1))
            entries.append([entries[i][0], entries[i][1]])
            notes.append(f"duplicate {entries[i][0]}")
    plain = [i for i, (_, v) in enumerate(entries) if not isinstance(v, (Raw, Deep))]
    if len(plain) >= 2 and draw(st.integers(0, 4)) == 0:  # last, so no later mutation splits anchor and alias
        i, j = sorted(draw(st.lists(st.sampled_from(plain), min_size=2, max_size=2, unique=True)))
        src = entries[i][1]
        entries[i][1] = Raw(f"&v {render(src)}")
        entries[j][1] = _Alias(src)
        notes.append(f"{entries[j][0]} = *{entries[i][0]}")
    rendered = [f"{render(k)}: {_render_entry(v)}\n" for k, v in entries]
    text = "".join(rendered)
    mapping = {}
    for k, v in entries:
        mapping[k] = v.value if isinstance(v, _Alias) else interpret(_strip_anchor(v))
    starts = [1 + sum(r.count("\n") for r in rendered[:i]) for i in range(len(rendered))]  # a value may span lines
    dups, dup_lines = _repeated(entries, starts)  # after every mutation: a later drop can undo a duplicate
    expect = judge_request(mapping, dups, dup_lines)
    if any(isinstance(v, _Alias) for _, v in entries):  # aliases may be refused outright (field `request`)
        codes = expect.codes if expect.codes == BAD_EXPECT else ANY_EXPECT
        aliased = {k for k, v in entries if isinstance(v, _Alias)}  # the refusal may name where the alias is
        expect = replace(expect, codes=codes, fields=expect.fields | {"request"} | set(expect.intended) | aliased,
                         mention_for=frozenset())  # the alias may be what is refused, not the duplicate
    return RequestFile(text, expect, "; ".join(notes) or "valid")


@dataclass(frozen=True)
class _Alias:
    value: object


def _render_entry(v) -> str:
    return "*v" if isinstance(v, _Alias) else render(v)


def _strip_anchor(v):
    if isinstance(v, Raw) and v.startswith("&v "):
        return Raw(v[3:])
    return v


def _set(entries: list[list], name: str, value) -> None:
    for e in entries:
        if e[0] == name:
            e[1] = value
            return
    entries.append([name, value])


def _repeated(entries, starts: list[int]) -> tuple[tuple, tuple]:
    """(keys given more than once, the two lines of the one a reader meets first repeated): a loader
    stops at the first key whose second occurrence it reaches, so only that one's lines are promised."""
    seen: dict = {}
    first = None
    for (k, _), line in zip(entries, starts):
        if k in seen and first is None:
            first = (k, seen[k], line)
        seen.setdefault(k, line)
    if first is None:
        return (), ()
    keys = tuple(k for k in seen if k != first[0] and sum(1 for kk, _ in entries if kk == k) > 1)
    return (first[0], *keys), first[1:]


# documents that are not a mapping at all: field `request`
not_a_mapping = st.one_of(
    st.sampled_from(["- a\n- b\n", "42\n", "null\n", "~\n", "'just text'\n", "---\nmodel: a\n---\nsystem: b\n",
                     "model: [unclosed\n", "\tmodel: x\n", "{model: x\n", "[" * 3000 + "]" * 3000 + "\n",
                     "[" * 100 + "]" * 100 + "\n", "!!python/name:os.system\n", "%YAML 9.9\n---\na: 1\n",
                     "&a [*a]\n", "key: value: other\n", "? [a, b]\n: c\n", "? {a: 1}\n: c\n"]),
    st.binary(min_size=1, max_size=40).filter(lambda b: _not_utf8_or_nul(b)).map(lambda b: b.decode("latin-1")),
)


def _not_utf8_or_nul(b: bytes) -> bool:
    try:
        return "\x00" in b.decode("utf-8")
    except UnicodeDecodeError:
        return True


# --------------------------------------------------------------------------- config.json strategies
LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
            "max_position_embeddings": 131072, "torch_dtype": "bfloat16", "tie_word_embeddings": False}
QWEN3_8B = {"architectures": ["Qwen3ForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 36,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288,
            "vocab_size": 151936, "max_position_embeddings": 40960, "sliding_window": None,
            "use_sliding_window": False, "torch_dtype": "bfloat16"}
POSITIVE_INT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "intermediate_size", "vocab_size", "max_position_embeddings", "head_dim")
NOT_POSITIVE_INT = [0, -1, -32, 32.5, 0.5, None, math.nan, math.inf, "abc", "32", [32], {"v": 32}, True, 10 ** 30,
                    2 ** 63, -(2 ** 63)]
OPTIONAL_INT_KEYS = {"num_key_value_heads", "head_dim", "max_position_embeddings"}  # transformers defaults them
UNMODELLED_QUANT = [{"quant_method": "gptq", "bits": 4, "group_size": 128},
                    {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"},
                    {"quant_method": "bitsandbytes", "load_in_4bit": True},
                    {"quant_method": "compressed-tensors", "format": "pack-quantized"},
                    {"quant_method": "mxfp4"}, {"quant_method": "aqlm"},
                    {"quant_algo": "W4A16_AWQ"}, {"quant_algo": "INT8_SQ"}, {"quant_method": "hqq"}]


@dataclass(frozen=True)
class ModelFolder:
    files: dict       # file name -> text
    expect: Expect
    keys: tuple       # config keys the refusal should name (one of them), empty for any
    note: str


def _dumps(cfg) -> str:
    return json.dumps(cfg, allow_nan=True)


@st.composite
def valid_geometry(draw, base: dict) -> dict:
    """A consistent perturbation: heads divisible by KV heads, hidden = heads * head_dim when head_dim is implied."""
    cfg = dict(base)
    kv = draw(st.sampled_from([1, 2, 4, 8]))
    heads = kv * draw(st.sampled_from([1, 2, 4, 8]))
    head_dim = draw(st.sampled_from([64, 128]))
    cfg.update(num_attention_heads=heads, num_key_value_heads=kv,
               num_hidden_layers=draw(st.integers(1, 48)), intermediate_size=draw(st.integers(1, 40000)),
               vocab_size=draw(st.integers(1, 200000)))
    if "head_dim" in cfg:
        cfg["head_dim"] = head_dim
        cfg["hidden_size"] = draw(st.sampled_from([1024, 2048, 4096, 5120]))
    else:
        cfg["hidden_size"] = heads * head_dim
    return cfg


@st.composite
def model_folders(draw) -> ModelFolder:
    """A local model folder: a valid dense config, then (usually) one perturbation the contract must refuse."""
    base = draw(st.sampled_from([LLAMA_8B, QWEN3_8B]))
    cfg = draw(valid_geometry(base)) if draw(st.booleans()) else dict(base)
    kind = draw(st.sampled_from(["valid", "int", "int", "int", "geometry", "quant", "window", "truncated",
                                 "shape", "drop", "arch", "nan_text"]))
    keys: tuple = ()
    expect = Expect(frozenset({0, 2, 3}), frozenset({"model", "total_gpus", "isl"}))  # valid: may not fit
    note = kind
    text = None
    if kind == "int":
        key = draw(st.sampled_from(POSITIVE_INT_KEYS))
        value = draw(st.sampled_from(NOT_POSITIVE_INT))
        cfg[key] = value
        keys, note = (key,), f"{key}={value!r}"
        if key == "max_position_embeddings" and value == 10 ** 30:
            keys, expect = (), Expect(ANY_EXPECT, frozenset({"model"}))  # a huge context is just large
        elif value is None and key in OPTIONAL_INT_KEYS:
            keys, expect = (), Expect(ANY_EXPECT, frozenset({"model", "total_gpus", "isl"}))  # null: HF's default
        else:
            expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "geometry":
        keys, note = _break_geometry(draw, cfg)
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "quant":
        q = draw(st.sampled_from(UNMODELLED_QUANT))
        cfg["quantization_config"] = q
        keys, note = ("quantization_config", "quant_method", "quant_algo"), f"quantization_config={q}"
        expect = Expect(BAD_EXPECT, frozenset({"model", "quantizations"}))
    elif kind == "window":
        value = draw(st.sampled_from(["abc", -1, 0.5, [4096], {"w": 1}, math.nan, True]))
        cfg["sliding_window"], cfg["use_sliding_window"] = value, True
        keys, note = ("sliding_window",), f"sliding_window={value!r}"
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "truncated":
        full = _dumps(cfg)
        text = full[: draw(st.integers(0, len(full) - 1))]
        keys, note = ("config.json",), f"truncated at {len(text)}"
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "shape":
        text = draw(st.sampled_from(["[]", "[1, 2]", '"text"', "42", "null", "true", "{} {}", "\ufeff{}",
                                     "\x00\x01", "{\"a\": 1,}", "[" * 5000 + "]" * 5000]))
        keys, note = ("config.json",), f"config.json={text[:20]!r}"
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "drop":
        key = draw(st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                    "vocab_size"]))
        del cfg[key]
        keys, note = (key,), f"without {key}"
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    elif kind == "arch":
        value = draw(st.sampled_from([[], None, "LlamaForCausalLM", ["NoSuchForCausalLM"], [None], [1], {"a": 1}]))
        cfg["architectures"] = value
        note = f"architectures={value!r}"
        expect = Expect(frozenset({2}) if value != "LlamaForCausalLM" else ANY_EXPECT, frozenset({"model"}))
        keys = ("architectures",) if value != "LlamaForCausalLM" else ()
    elif kind == "nan_text":
        text = _dumps(cfg).replace(f'"vocab_size": {cfg["vocab_size"]}', '"vocab_size": NaN')
        keys, note = ("vocab_size",), "vocab_size=NaN (JSON text)"
        expect = Expect(BAD_EXPECT, frozenset({"model"}))
    files = {"config.json": _dumps(cfg) if text is None else text}
    return ModelFolder(files, expect, keys, note)


def _break_geometry(draw, cfg: dict) -> tuple[tuple, str]:
    heads = cfg["num_attention_heads"]
    choice = draw(st.sampled_from(["kv_not_dividing", "kv_above_heads", "hidden_not_divisible", "head_dim_zero"]))
    if choice == "kv_not_dividing":
        cfg["num_key_value_heads"] = draw(st.sampled_from([k for k in (3, 5, 7, 12) if heads % k]))
        return ("num_key_value_heads",), f"num_key_value_heads={cfg['num_key_value_heads']} of {heads} heads"
    if choice == "kv_above_heads":
        cfg["num_key_value_heads"] = heads * 2
        return ("num_key_value_heads",), f"num_key_value_heads={heads * 2} > {heads} heads"
    if choice == "hidden_not_divisible" and "head_dim" not in cfg and heads > 1:  # one head divides anything
        cfg["hidden_size"] = heads * 128 + 1
        return ("hidden_size", "num_attention_heads"), f"hidden_size={cfg['hidden_size']} over {heads} heads"
    cfg["head_dim"] = 0
    return ("head_dim",), "head_dim=0"


# --------------------------------------------------------------------------- CLI flag strategies
FLAG_OF = {f: "--" + f.replace("_", "-") for f in REQUEST_FIELDS}
flag_texts = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1", "2", "8", "1.5", "1000.0", "nan", "inf", "-inf", "1e400", "1e-400",
                     "0x10", "1_000", " 16 ", "\uff11\uff16", "99999999999999999999999", "abc", "agg", "static",
                     "agg,agg", "agg,,static", ",", "AGG", " agg ", "agg,foo", "fp8,fp8", "nvfp4", "bf16",
                     "fp8_block", "trtllm", "TRTLLM", "vllm", "h200_sxm", "1.3.0rc20", "1.3", "--json", "-"]),
    unicode_text, control_text, long_text, numbers.map(str),
)


@dataclass(frozen=True)
class Lenient:
    """A spelling a parser may read leniently (` 16 `, `1_000`, `1000.0` for an int, `agg, static`):
    refusing it is right, and so is reading it as `value`."""

    value: object


class _BadFlag:
    """A flag value no reading makes valid (an empty list, text for a number)."""


def flag_value(name: str, text: str):
    """What a user means by `--name text`, for the judge (the CLI types numbers, splits lists on commas)."""
    if name in ("modes", "quantizations"):
        parts = text.split(",")
        items = [p.strip() for p in parts if p.strip()]
        if not items:
            return _BadFlag()
        return items if items == parts else Lenient(items)
    if name in INT_FIELDS:
        if re.fullmatch(r"[+-]?[0-9]+", text):  # ASCII digits; "１６" is lenient
            return int(text)
        for parse in (int, float):
            try:
                x = parse(text)
            except ValueError:
                continue
            return Lenient(int(x)) if math.isfinite(x) and x == int(x) else _BadFlag()
        return _BadFlag()
    if name in SLO_FIELDS:
        if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf)", text, flags=re.I | re.ASCII):
            return float(text)
        try:
            return Lenient(float(text))
        except ValueError:
            return _BadFlag()
    return text


@dataclass(frozen=True)
class Argv:
    args: tuple
    expect: Expect
    note: str


def request_flags(req: dict) -> list[str]:
    out = []
    for k, v in req.items():
        out += [FLAG_OF[k], ",".join(v) if isinstance(v, list) else str(v)]
    return out
