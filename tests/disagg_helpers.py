"""Shared helpers of the disaggregated launch tests: real engines, bundles, commands taken apart, and a
shell run with stub servers that record what each process was started with."""
import shlex
import stat
import subprocess
from functools import cache
from pathlib import Path

import yaml

from sloplan.context import build_context
from sloplan.core.enums import Backend, Role
from sloplan.generators.disagg_launch import LaunchBundle, WorkerSpec, disagg_launch
from sloplan.model.framework import framework, prefill_profile
from sloplan.model.memory import memory_plan
from sloplan.model.options import fitting_engines

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "model" / "frameworks"
ISL, OSL = 4000, 500
DENSE, MOE = "Qwen/Qwen3-32B-FP8", "Qwen/Qwen3-30B-A3B-FP8"


@cache
def context(model: str, backend: Backend, system: str = "h200_sxm"):
    ctx = build_context(model, system, backend, None, ISL, OSL, 0, None)
    slots, _ = fitting_engines(ctx.arch, ctx.db, ctx.fw, ctx.workload, list(ctx.quants), 16, 512)
    return ctx, {s.engine.label: s for s in slots}


def worker(model, backend, label, role, max_seqs, count, system="h200_sxm", fw=None) -> WorkerSpec:
    """A pool of `count` workers of the engine `label`; prefill memory planned at its own token budget."""
    ctx, slots = context(model, backend, system)
    slot = slots[label]
    fw = fw or (prefill_profile(ctx.fw, max_seqs, ISL) if role is Role.PREFILL else ctx.fw)
    return WorkerSpec(slot.engine, memory_plan(ctx.arch, slot.engine, ctx.db.system, fw), max_seqs, count, system)


def bundle(model, backend, p_label, d_label, p=(4, 2), d=(48, 3), spec=None) -> LaunchBundle:
    ctx, _ = context(model, backend)
    return disagg_launch(backend, ctx.arch, ctx.fw, ctx.workload, worker(model, backend, p_label, Role.PREFILL, *p),
                         worker(model, backend, d_label, Role.DECODE, *d), spec=spec)


def argv(cmd: str) -> list[str]:
    return shlex.split(cmd.split(" && ")[-1])


def after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def host_of(step, i: int) -> str:
    """Where worker `i` of `step` listens as its command writes it: localhost on one node, else its node's
    address variable (generators/disagg_nodes.py)."""
    return f"$NODE{step.nodes[i][0]}_ADDR" if step.nodes else "localhost"


def written(cmd: str) -> dict:
    """The YAML a `printf ... > file && ...` command writes."""
    args = shlex.split(cmd.split(" && ")[0])
    assert args[0] == "printf"
    return yaml.safe_load(args[1].replace("\\n", "\n"))


def env_of(cmd: str) -> dict[str, str]:
    """The NAME=value assignments a command starts with."""
    out = {}
    for a in argv(cmd):
        if "=" not in a or a.startswith("-"):
            break
        out[a.split("=")[0]] = a.split("=", 1)[1]
    return out


def all_ports(b: LaunchBundle, dp: dict[Role, int]) -> list[int]:
    """Every port the bundle binds: HTTP, each auxiliary block (one per DP rank where vLLM says so), router."""
    block = {r: dp[r] if framework(b.backend).disaggregation.aux_port_per_dp_rank else 1 for r in dp}
    out = [p for s in b.steps for p in s.ports]
    return out + [a + k for s in b.steps if s.aux_ports for a in s.aux_ports for k in range(block[s.role])]


STUB = """#!/bin/sh
printf '%s\\037' "${CUDA_VISIBLE_DEVICES:-}" "${VLLM_NIXL_SIDE_CHANNEL_PORT:-}" "$(basename "$0")" "$@" \\
  > "$(mktemp "$LOG/run.XXXXXX")"
"""  # one file per process: background workers never interleave their records


def run_stubbed(b: LaunchBundle, tmp_path: Path) -> list[list[str]]:
    """Run the bundle's text with stub servers on PATH; what each process was started with (its GPUs,
    side-channel port, program, arguments), sorted."""
    bin_, log = tmp_path / "bin", tmp_path / "log"
    bin_.mkdir()
    log.mkdir()
    for name in ("vllm", "vllm-router", "python3", "trtllm-serve"):
        (bin_ / name).write_text(STUB)
        (bin_ / name).chmod(stat.S_IRWXU)
    # node addresses set to their own placeholder text, so the processes record what worker_command writes
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "LOG": str(log), **{f"NODE{k}_ADDR": f"$NODE{k}_ADDR" for k in range(64)}}
    run = subprocess.run(["sh", "-c", b.text() + "\nwait\n"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return sorted(f.read_text().split("\x1f")[:-1] for f in log.iterdir())


def expected_starts(b: LaunchBundle) -> list[list[str]]:
    """What worker_command(i) of every step says each process starts with, in run_stubbed's form."""
    out = []
    for s in b.steps:
        for i in range(s.count):
            cmd = s.worker_command(i)
            env = env_of(cmd)
            out.append([env.get("CUDA_VISIBLE_DEVICES", ""), env.get("VLLM_NIXL_SIDE_CHANNEL_PORT", ""),
                        *argv(cmd)[len(env):]])
    return sorted(out)
