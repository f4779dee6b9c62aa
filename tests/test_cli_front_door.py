"""The CLI shell as a newcomer and a script meet it: flags that would be silently ignored are refused, a reader
closing the pipe early is not an error, every option says what it takes, and --json is standard JSON."""
import json
import math
import re
import subprocess
import sys
from enum import Enum
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from sloplan.cli import app
from sloplan.cli_flags import csv_list
from sloplan.cli_output import print_json
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
INFEASIBLE = ROOT / "instances" / "regression" / "qwen3-32b-h200-unreachable-tpot.yaml"
INSTANCES = sorted(yaml.safe_load((ROOT / "instances" / "expected.yaml").read_text()))
SLOPLAN = [sys.executable, "-m", "sloplan"]


def run(*args, cwd=ROOT):
    return subprocess.run([*SLOPLAN, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=180)


def values(kind: type[Enum]) -> list[str]:
    return [m.value for m in kind]


# --------------------------------------------------------------------------- flags that would be ignored
IGNORED = {
    "empty modes": (("solve", EXAMPLE, "--modes", ""), "modes", ServingMode),
    "blank modes": (("solve", EXAMPLE, "--modes", " , "), "modes", ServingMode),
    "empty item in modes": (("solve", EXAMPLE, "--modes", "agg,"), "modes", ServingMode),
    "empty quantizations": (("solve", EXAMPLE, "--quantizations", ""), "quantizations", GemmQuant),
    "empty item in quantizations": (("solve", EXAMPLE, "--quantizations", "fp8,,bf16"), "quantizations", GemmQuant),
    "--out without --from-csv": (("estimate", "--model", "qwen3-32b", "--system", "h200_sxm", "--out", "pred.csv"),
                                 "out", None),
}


@pytest.mark.parametrize("case", list(IGNORED))
def test_a_flag_the_run_would_ignore_is_an_error_naming_it(tmp_path, case):
    args, field, kind = IGNORED[case]
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: ") and "accepted: " in lines[0], r.stderr
    accepted = lines[0].split("accepted: ", 1)[1]
    assert kind is None or all(v in accepted for v in values(kind))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, want", [("agg,agg", ["agg"]), ("static, agg,static", ["static", "agg"]),
                                        ("fp8,bf16,fp8,fp8", ["fp8", "bf16"])])
def test_repeated_list_items_count_once_in_the_users_order(text, want):
    assert csv_list("modes", text, ServingMode) == want


# --------------------------------------------------------------------------- a reader that leaves early
PIPES = {
    "table to head": ((EXAMPLE,), "head -1", 0),
    "json to head": ((EXAMPLE, "--json"), "head -1", 0),  # 80 kB: more than a pipe holds, so the write fails
    "table to a reader that reads nothing": ((EXAMPLE,), "true", 0),
    "infeasible keeps its code": ((INFEASIBLE, "--json"), "head -1", 3),
}


@pytest.mark.parametrize("case", list(PIPES))
def test_a_closed_pipe_is_not_an_error(tmp_path, case):
    """The reader asked for less: exit with the command's own code and print nothing about the pipe."""
    args, reader, code = PIPES[case]
    cmd = " ".join(f"'{a}'" for a in [*SLOPLAN, "solve", *map(str, args)])
    r = subprocess.run(["bash", "-c", f'{cmd} 2>"{tmp_path}/err" | {reader}; echo "rc=${{PIPESTATUS[0]}}"'],
                       capture_output=True, text=True, timeout=180)
    lines = r.stdout.splitlines()
    assert lines[-1] == f"rc={code}", (r.stdout, (tmp_path / "err").read_text())
    err = (tmp_path / "err").read_text()
    assert "BrokenPipe" not in err and "Exception ignored" not in err
    assert err == "" or (code == 3 and "--json" not in args and len(err.splitlines()) == 1)
    if reader.startswith("head"):
        first = lines[0]
        assert first == "{" if "--json" in args else first.startswith("Qwen/Qwen3-32B-FP8 on 8× h200_sxm")


# --------------------------------------------------------------------------- help, -h, --version
COMMANDS = ("solve", "estimate", "systems", "models", "collect")


def _params(command: str):
    return [p for p in get_command(app).commands[command].params if p.name != "help"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_takes(command):
    cli = CliRunner()
    text = cli.invoke(app, [command, "--help"]).output
    assert text == cli.invoke(app, [command, "-h"]).output  # -h is --help
    for p in _params(command):
        assert (p.help or "").strip(), f"{command} {p.name}: no help"
        shows_default = "[default:" in (p.help or "") or (p.show_default is not False
                                                           and p.default is not None and p.default is not False)
        is_flag = getattr(p, "is_flag", False)
        required = "required" in (p.help or "") or p.required
        assert is_flag or shows_default or required or p.param_type_name == "argument", f"{command} {p.name}"


@pytest.mark.parametrize("command, option, kind", [("solve", "backend", Backend), ("solve", "modes", ServingMode),
                                                   ("solve", "quantizations", GemmQuant),
                                                   ("estimate", "backend", Backend), ("estimate", "mode", ServingMode),
                                                   ("estimate", "quant", GemmQuant)])
def test_closed_sets_list_the_enums_values(command, option, kind):
    (param,) = [p for p in _params(command) if p.name == option]
    assert all(v in param.help for v in values(kind))


@pytest.mark.parametrize("args", [("--help",), ("-h",), ("solve", "-h"), ("estimate", "--help")])
def test_help_states_the_exit_codes(args):
    out = CliRunner().invoke(app, list(args)).output
    tail = " ".join(out.split("Exit codes:")[1].split())
    for code in ("0", "1 internal", "2 bad input", "3 infeasible"):
        assert code in tail


def test_version_prints_the_installed_version():
    r = run("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"sloplan {version('sloplan')}\n", "")


# --------------------------------------------------------------------------- strict JSON
def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", INSTANCES)
def test_json_outputs_of_the_instances_are_standard_json(name):
    """solve --json, and estimate --json of the best plan's main replica group, parse with NaN/Infinity refused."""
    cli = CliRunner()
    r = cli.invoke(app, ["solve", str(ROOT / "instances" / name), "--json"])
    assert r.exit_code in (0, 3), r.output
    doc = _strict(r.stdout)
    if doc["best"] is None:
        return
    req, group = doc["request"], doc["best"]["replicas"][0]
    mode = "static" if group["mode"] == "disagg" else group["mode"]  # a worker is priced as a static batch
    args = ["estimate", "--model", req["model"], "--system", group["system"], "--backend", req["backend"],
            "--tp", group["tp"], "--pp", group["pp"], "--quant", group["quant"], "--mode", mode,
            "--concurrency", group["concurrency"], "--isl", req["isl"], "--osl", req["osl"], "--prefix", req["prefix"],
            "--json"]
    r = cli.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert _strict(r.stdout)["engine"] == group["engine"]


@pytest.mark.parametrize("doc, where", [({"a": math.nan}, "a"), ({"front": [{"x": 1.0}, {"ttft_ms": math.inf}]},
                                                                  "front[1].ttft_ms"),
                                        ({"best": {"check": {"tpot_ms": -math.inf}}}, "best.check.tpot_ms")])
def test_a_non_finite_value_is_a_bug_named_not_written(capsys, doc, where):
    with pytest.raises(RuntimeError, match=re.escape(f"non-finite value in the JSON output: {where} = ")):
        print_json(doc)
    assert capsys.readouterr().out == ""
