"""Bad input: one line naming the field and what is accepted, exit 2, no traceback (a test per case)."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def request_with(tmp_path, **changes):
    data = yaml.safe_load(EXAMPLE.read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    path = tmp_path / "req.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


CASES = {
    "unknown model": (dict(model="acme/NoSuchModel-7B"), "model"),
    "unknown system": (dict(system="h900_sxm"), "system"),
    "unknown backend": (dict(backend="tensorflow"), "backend"),
    "unknown version": (dict(version="9.9.9"), "version"),
    "negative isl": (dict(isl=-5), "isl"),
    "zero osl": (dict(osl=0), "osl"),
    "negative tpot": (dict(tpot_ms=-1), "tpot_ms"),
    "zero ttft": (dict(ttft_ms=0), "ttft_ms"),
    "zero gpus": (dict(total_gpus=0), "total_gpus"),
    "negative gpus": (dict(total_gpus=-8), "total_gpus"),
    "budget below smallest engine": (dict(model="meta-llama/Llama-3.1-405B", total_gpus=1), "total_gpus"),
    "missing total_gpus": (dict(total_gpus=None), "total_gpus"),
    "unknown field": (dict(frobnicate=3), "frobnicate"),
    "unknown mode": (dict(modes=["agg", "disagg-ish"]), "modes"),
    "prefix not below isl": (dict(prefix=4000), "prefix"),
    "unsupported quantization": (dict(model="Qwen/Qwen3-32B", quantizations=["nvfp4"]), "quantizations"),
    "quantization the checkpoint cannot give": (dict(quantizations=["bf16"]), "quantizations"),
    "backend not run on that system": (dict(system="mi300x"), "backend"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_field(tmp_path, case):
    changes, field = CASES[case]
    r = run("solve", request_with(tmp_path, **changes))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and field in lines[0], lines
    assert r.stdout == ""


@pytest.mark.parametrize("content,why", [
    (b"model: [unclosed\n  isl: 3\n", "malformed"),
    (b"\x00\x01\x02binary", "not a text"),
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"- just\n- a list\n", "mapping"),
])
def test_bad_file(tmp_path, content, why):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    r = run("solve", path)
    assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_missing_file(tmp_path):
    r = run("solve", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "file not found" in r.stderr


def test_directory_instead_of_file(tmp_path):
    r = run("solve", tmp_path)
    assert r.returncode == 2 and "not a file" in r.stderr


def test_unreachable_slo_exits_3_with_reason(tmp_path):
    r = run("solve", request_with(tmp_path, tpot_ms=0.5))
    assert r.returncode == 3, r.stderr
    assert "TPOT" in r.stderr and "Traceback" not in r.stderr


def test_unknown_cli_flag_is_input_error():
    r = run("solve", EXAMPLE, "--frobnicate", "3")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_estimate_names_its_own_quant_flag_when_the_checkpoint_cannot_give_that_format():
    r = run("estimate", "--model", "Qwen/Qwen3-32B-FP8", "--system", "h200_sxm", "--quant", "bf16")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and r.stdout == "" and len(lines) == 1
    assert lines[0].startswith("error: quant: bf16 cannot be made from") and "accepted: fp8_block" in lines[0]
