"""`estimate` validates what `solve` does: every bad argument, from Python or the CLI, is sloplan.InputError
naming that argument with its accepted values, and never a number (one class, parametrized over the
symptoms)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sloplan

ROOT = Path(__file__).resolve().parents[1]
BASE = dict(model="Qwen/Qwen3-32B", system="h100_sxm", backend="vllm", tp=2, concurrency=8, isl=1024, osl=256)

BAD = {  # an argument's bad value → the field the error must name
    "unknown backend": (dict(backend="foo"), "backend"),
    "unknown mode": (dict(mode="disagg"), "mode"),
    "unknown quant": (dict(quant="int4"), "quant"),
    "tp as text": (dict(tp="2"), "tp"),
    "tp as float": (dict(tp=2.0), "tp"),
    "tp as bool": (dict(tp=True), "tp"),
    "zero tp": (dict(tp=0), "tp"),
    "tp not dividing the heads": (dict(tp=3), "tp"),
    "tp beyond two nodes": (dict(tp=32), "tp"),
    "pp beyond the layers": (dict(pp=100), "pp"),
    "pp with tp across nodes": (dict(tp=16, pp=2), "pp"),
    "concurrency as bool": (dict(concurrency=True), "concurrency"),
    "zero concurrency": (dict(concurrency=0), "concurrency"),
    "huge concurrency": (dict(concurrency=10**12), "concurrency"),
    "negative prefix": (dict(prefix=-100000), "prefix"),
    "prefix equal to isl": (dict(prefix=1024), "prefix"),
    "prefix beyond isl": (dict(prefix=5000), "prefix"),
    "zero isl": (dict(isl=0), "isl"),
    "isl as float": (dict(isl=1024.5), "isl"),
    "osl of one": (dict(osl=1), "osl"),
    "empty model": (dict(model=""), "model"),
    "model not text": (dict(model=None), "model"),
    "zero max batch": (dict(max_batch_size=0), "max_batch_size"),
    "unknown system": (dict(system="h900_sxm"), "system"),
}


@pytest.mark.parametrize("name", BAD)
def test_a_bad_argument_is_an_input_error_naming_it(name):
    change, field = BAD[name]
    args = {**BASE, **change}
    with pytest.raises(sloplan.InputError) as raised:
        sloplan.estimate(args.pop("model"), args.pop("system"), **args)
    assert raised.value.field == field
    message = str(raised.value)
    assert message.startswith(f"{field}: ") and "accepted" in message and "\n" not in message


def test_numpy_integers_are_integers():
    assert sloplan.estimate(**{**BASE, "tp": np.int64(2), "concurrency": np.int32(8)}) == sloplan.estimate(**BASE)


def run(*args):
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("flags, field", [(["--prefix", "-100000"], "prefix"), (["--prefix", "1024"], "prefix"),
                                          (["--pp", "100"], "pp"), (["--concurrency", "0"], "concurrency")],
                         ids=["negative prefix", "prefix = isl", "pp beyond the layers", "zero concurrency"])
def test_the_cli_refuses_them_in_one_line_with_exit_2(flags, field):
    r = run("estimate", "--model", "Qwen/Qwen3-32B", "--system", "h100_sxm", "--backend", "vllm", "--tp", "2",
            "--isl", "1024", "--osl", "256", *flags)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"error: {field}: ") and r.stderr.count("\n") == 1 and "accepted" in r.stderr
