"""The request edge under hostile and careless input (issue 10, items 6, 8, 9, 11): every bad request, from a
YAML file, CLI flags, a dict or `sloplan.Request(...)`, is one bounded line naming the field, exit 2, fast."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import sloplan
from sloplan.errors import InputError, shown
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant
from sloplan.request import parse_request

ROOT = Path(__file__).resolve().parents[1]
BASE = dict(model="Qwen/Qwen3-32B-FP8", system="h200_sxm", total_gpus=8, isl=4000, osl=500, tpot_ms=30)
MAX_LINE = 600  # an error line is bounded whatever the input: echoed values are cut, lists of accepted values are short


def run_cli(*args, timeout=30):
    """A subprocess with a deadline: an input that makes sloplan spin (an alias bomb) fails the test."""
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def assert_refused(r, field: str, *words: str) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and r.stdout == "", r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), lines[:3]
    assert len(lines[0]) <= MAX_LINE, len(lines[0])
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def assert_input_error(exc: InputError, field: str, *words: str) -> None:
    text = str(exc)
    assert exc.field == field and text.startswith(f"{field}:"), text[:200]
    assert len(text.splitlines()) == 1 and len(text) <= MAX_LINE, text[:200]
    for w in words:
        assert w in text, (w, text)


# ---- 6: a key given twice, at any depth, names the key and both lines -------------------------------------

@pytest.mark.parametrize("text,key,lines", [
    ("model: Qwen/Qwen3-32B-FP8\nsystem: h200_sxm\ntotal_gpus: 8\nisl: 4000\nosl: 500\ntpot_ms: 30\ntotal_gpus: 1\n",
     "total_gpus", (3, 7)),
    ("model: a\nmodel: b\nsystem: h200_sxm\ntotal_gpus: 8\n", "model", (1, 2)),
    ("model: a\nsystem: h200_sxm\ntotal_gpus: 8\nmodes:\n  - {x: 1, x: 2}\n", "x", (5, 5)),
], ids=["top-level, last would win", "adjacent", "nested in a list"])
def test_duplicate_keys_are_refused_naming_both_lines(tmp_path, text, key, lines):
    """A repeated field is named as the field; a repeated key deeper down is the request's."""
    path = tmp_path / "req.yaml"
    path.write_text(text)
    field = "request" if key == "x" else key
    assert_refused(run_cli("solve", path), field,
                   f"duplicate key '{key}' (lines {lines[0]} and {lines[1]}); accepted: each field once")


# ---- 9: hostile files fail fast, in one bounded line ----------------------------------------------------------

def _alias_bomb() -> str:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(rows + ["model: *i", "system: h200_sxm", "total_gpus: 8"]) + "\n"


HOSTILE_FILES = {
    "alias bomb (billion laughs)": (_alias_bomb(), "b", "alias"),  # named where the first alias is
    "500-deep flow list": ("model: " + "[" * 500 + "]" * 500 + "\nsystem: h200_sxm\ntotal_gpus: 8\n", "model",
                           "nested"),
    "400-deep block list": ("model:\n" + "".join("  " * i + "-\n" for i in range(1, 400)) + "system: s\n",
                            "model", "nested"),
    "file over 1 MiB": ("# " + "x" * (1 << 20) + "\nmodel: a\n", "request", "MiB"),
    "integer of 5000 digits": ("model: a\nsystem: h200_sxm\ntotal_gpus: 1" + "0" * 5000 + "\n", "request", "cannot"),
    "model name of 300 characters": ("model: " + "x" * 300 + "\nsystem: h200_sxm\ntotal_gpus: 8\n", "model", "255"),
    "model name of 5000 characters": ("model: " + "x/" * 2500 + "\nsystem: h200_sxm\ntotal_gpus: 8\n", "model", "1024"),
    "newline in a name": ('model: "Qwen/Qwen3\\n-32B"\nsystem: h200_sxm\ntotal_gpus: 8\n', "model", "U+000A"),
    "terminal escape in a name": ('model: a\nsystem: "\\e[31mred"\ntotal_gpus: 8\n', "system", "U+001B"),
    "line separator in a name": ('model: a\nsystem: h200_sxm\nversion: "1\\u2028x"\ntotal_gpus: 8\n', "version",
                                 "U+2028"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_request_files_fail_fast_in_one_bounded_line(tmp_path, case):
    text, field, word = HOSTILE_FILES[case]
    path = tmp_path / "req.yaml"
    path.write_text(text)
    assert_refused(run_cli("solve", path, timeout=20), field, word)


def _bomb_value():
    v = ["lol"] * 9
    for _ in range(12):  # 9**13 leaves if expanded: only a bounded repr can echo it
        v = [v] * 9
    return v


def _deep(n):
    v = []
    for _ in range(n):
        v = [v]
    return v


@pytest.mark.parametrize("field,value,word", [
    ("model", _bomb_value(), "not text"),
    ("modes", [_bomb_value()], "unknown value"),
    ("backend", _bomb_value(), "unknown value"),
    ("model", _deep(5000), "not text"),
    ("modes", [_deep(5000)], "unknown value"),
    ("model", "x" * 100_000, "too long"),
    ("model", "a\nb", "U+000A"),
    ("system", "h200\ud800", "Unicode"),  # a lone surrogate stderr could not even encode
    ("isl", 10 ** 5000, "out of range"),
    ("total_gpus", 10 ** 20, "out of range"),
], ids=["alias bomb", "alias bomb in modes", "alias bomb as backend", "5000-deep list", "5000-deep list in modes",
        "100k-char name", "newline", "surrogate", "5000-digit isl", "1e20 gpus"])
def test_hostile_python_values_are_one_bounded_input_error(field, value, word):
    with pytest.raises(InputError) as e:
        sloplan.solve({**BASE, field: value})
    assert_input_error(e.value, field, word)


# ---- 11: one meaning per value: numbers are numbers, lists are lists, all floats finite ----------------------

LOOSE = {
    "bool as milliseconds": ("request_latency_ms", True, "a finite number > 0"),
    "text as milliseconds": ("ttft_ms", "2000", "a finite number > 0"),
    "text as tokens": ("isl", "1000", "an integer 1.."),
    "bool as tokens": ("osl", False, "an integer 2.."),
    "fraction as tokens": ("isl", 1000.7, "an integer 1.."),
    "infinite SLO": ("tpot_ms", float("inf"), "a finite number > 0"),
    "NaN SLO": ("ttft_ms", float("nan"), "a finite number > 0"),
    "bare string as modes": ("modes", "agg", "a non-empty list of static, agg"),
    "empty quantizations": ("quantizations", [], "a non-empty list of bf16, fp8, fp8_block, nvfp4"),
    "unknown quantization": ("quantizations", ["fp8", "int3"], "a non-empty list of bf16, fp8, fp8_block, nvfp4"),
    "unknown mode": ("modes", ["agg", "disaggregated"], "a non-empty list of static, agg, disagg"),
    "unknown backend": ("backend", "foo", "trtllm, vllm, sglang"),
    "number as version": ("version", 1.1, "text such as"),
    "batch above its bound": ("max_batch_size", 5000, "an integer 1..4096"),
    "bool as GPUs": ("total_gpus", True, "an integer 1.."),
}


@pytest.mark.parametrize("case", sorted(LOOSE))
def test_loose_types_are_refused_with_what_is_accepted_in_python(case):
    field, value, accepted = LOOSE[case]
    for attempt in (lambda: sloplan.solve({**BASE, field: value}), lambda: sloplan.Request(**{**BASE, field: value})):
        with pytest.raises(InputError) as e:
            attempt()
        assert_input_error(e.value, field, f"accepted: {accepted}")


@pytest.mark.parametrize("case", ["bool as milliseconds", "text as milliseconds", "text as tokens",
                                  "infinite SLO", "bare string as modes", "empty quantizations", "number as version"])
def test_loose_types_are_refused_with_what_is_accepted_in_yaml(tmp_path, case):
    field, value, accepted = LOOSE[case]
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump({**BASE, field: value}))
    assert_refused(run_cli("solve", path), field, f"accepted: {accepted}")


@pytest.mark.parametrize("flags,field,accepted", [
    (["--ttft-ms", "inf"], "ttft_ms", "a finite number > 0"),
    (["--tpot-ms", "nan"], "tpot_ms", "a finite number > 0"),
    (["--model", "a\nb"], "model", "a catalog id"),
    (["--model", "m" * 300], "model", "a catalog id"),
    (["--modes", "agg,nope"], "modes", "a non-empty list of static, agg"),
    (["--total-gpus", "100000000000000000000"], "total_gpus", "an integer 1.."),
])
def test_cli_flags_go_through_the_same_schema(flags, field, accepted):
    args = ["solve", "--model", BASE["model"], "--system", BASE["system"], "--total-gpus", "8", *flags]
    assert_refused(run_cli(*args), field, f"accepted: {accepted}")


@pytest.mark.parametrize("field,given,kept", [
    ("modes", ["agg", "agg", "static", "agg"], (ServingMode.AGG, ServingMode.STATIC)),
    ("quantizations", ["fp8", "fp8"], (GemmQuant.FP8,)),
    ("quantizations", ["fp8_block", "bf16", "fp8_block"], (GemmQuant.FP8_BLOCK, GemmQuant.BF16)),
])
def test_repeated_list_entries_count_once_in_their_order(field, given, kept):
    assert getattr(parse_request({**BASE, field: given}), field) == kept


def test_repeated_cli_modes_plan_once(tmp_path):
    r = run_cli("solve", "--model", BASE["model"], "--system", BASE["system"], "--total-gpus", "8",
                "--modes", "agg,agg", "--json", timeout=120)
    import json

    assert r.returncode in (0, 3), r.stderr
    assert json.loads(r.stdout)["request"]["modes"] == ["agg"]


# ---- 8: the Python API raises InputError, never a bare ValueError/TypeError, for every bad input ------------

@pytest.mark.parametrize("request_,field", [
    ({**BASE, "backend": "foo"}, "backend"),
    ({**BASE, "modes": ["pd"]}, "modes"),
    ({**BASE, "quantizations": ["int4"]}, "quantizations"),
    ({**BASE, "isl": "2"}, "isl"),
    ({**BASE, 3: 4}, "request"),
    (42, "request"),
    (["model", "system"], "request"),
    ("/nonexistent/req.yaml", "request"),
    ("x" * 5000, "request"),
    ("a\x00b.yaml", "request"),
], ids=["backend", "mode", "quant", "text isl", "non-text key", "int", "list", "missing file", "name too long",
        "NUL in path"])
def test_python_api_raises_input_error_for_every_bad_input(request_, field):
    with pytest.raises(InputError) as e:
        sloplan.solve(request_)
    assert_input_error(e.value, field)


def test_a_request_read_back_is_the_same_request():
    """Strictness must not refuse what the schema itself produced (the CLI merges a file's fields with flags)."""
    req = parse_request({**BASE, "modes": ["static"], "quantizations": ["fp8"], "version": "1.3.0rc20"})
    assert parse_request(req.model_dump(exclude_unset=True)) == req


# ---- the helpers every message uses: bounded, one line, whatever they are given -----------------------------

@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
                    max_leaves=40),
       st.text())
def test_shown_and_input_error_are_one_bounded_line(value, message):
    s = shown(value)
    assert len(s) <= 60 and len(s.splitlines()) <= 1
    exc = InputError("field", f"{message} (got {s})")
    assert len(str(exc).splitlines()) == 1 and "\x1b" not in str(exc)
    str(exc).encode("utf-8")  # stderr can always print it


@pytest.mark.parametrize("field, value", [("backend", "foo"), ("backend", 1), ("isl", "2"), ("isl", True),
                                          ("isl", 2.0), ("osl", 1), ("prefix", -1), ("version", 1.0),
                                          ("model", "x" * 2000)])
def test_estimate_arguments_are_refused_in_the_request_schemas_words(field, value):
    """sloplan.estimate's keywords and a request share one set of field types (sloplan/fields.py)."""
    import sloplan

    base = {"model": "Qwen/Qwen3-32B", "system": "h200_sxm"}
    with pytest.raises(InputError) as req:
        parse_request({**base, "total_gpus": 8, field: value})
    with pytest.raises(InputError) as est:
        sloplan.estimate(**{**base, field: value})
    assert req.value.field == est.value.field == field
    assert str(req.value) == str(est.value)
