"""GPUs to serve a target load: `sloplan size` (exact integer program) against the peer's sizing
(`aiconfigurator cli recommend`), on the same targets in the same run.

Run from the repository root:

    .venv/bin/python bench/size.py                       # every target
    .venv/bin/python bench/size.py --target qwen32b-rate50

The peer is aiconfigurator 0.12.0 in its own virtualenv (bench/speed.py's `ensure_peer`, shared).
Its `recommend` takes `--target-request-rate` or `--target-concurrency` with the SLOs and answers, per
serving mode, "GPUs needed": the cheapest `ceil(target / one replica's rate)` copies of one candidate
(its §5.3 in /work/shared/reference/peer-aiconfigurator.md). Both of its answers are printed: agg
(aggregated serving, what sloplan sizes) and its overall best (agg or disagg, whichever needs fewer).
The "one type" column applies the peer's method to sloplan's own option table, which separates what the
exact mix saves from what the two estimators and candidate grids differ by.

sloplan runs `sloplan size --rate R` (or `--concurrency C`) with no GPU cap: aggregated only (`--modes
agg`, the peer's agg experiment's mode) and with its default modes (static, agg and disagg: a fleet
may mix replicas with one disaggregated pool pair). Targets marked `disagg` also run `--modes disagg`
(prefill and decode pools only), next to the peer's disagg answer. Each figure is one process's answer;
nothing is timed or averaged. The ratio is peer agg / sloplan agg. sloplan must never need more GPUs
than the peer: agg against its agg answer, all modes against its best, disagg against its disagg.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass

from _common import find_sloplan, render_table
from speed import DEFAULT_PEER_VENV, PEER_PACKAGE, ensure_peer


@dataclass(frozen=True)
class Target:
    """One sizing question, expressed once and translated to each tool's flags."""

    name: str
    model: str
    system: str
    backend: str
    rate: float | None = None
    concurrency: int | None = None
    isl: int = 4000
    osl: int = 500
    ttft_ms: float = 2000
    tpot_ms: float = 30
    disagg: bool = False  # also size disaggregated pools alone, against the peer's disagg answer

    def common(self) -> list[str]:
        return ["--model", self.model, "--system", self.system, "--backend", self.backend, "--isl", str(self.isl),
                "--osl", str(self.osl)]

    def sloplan_cmd(self, exe: str, modes: str | None) -> list[str]:
        load = ["--rate", f"{self.rate:g}"] if self.rate is not None else ["--concurrency", str(self.concurrency)]
        extra = ["--modes", modes] if modes else []
        return [exe, "size", *self.common(), "--ttft-ms", f"{self.ttft_ms:g}", "--tpot-ms", f"{self.tpot_ms:g}",
                *load, *extra, "--json"]

    def peer_cmd(self, exe: str) -> list[str]:
        load = (["--target-request-rate", f"{self.rate:g}"] if self.rate is not None
                else ["--target-concurrency", str(self.concurrency)])
        return [exe, "cli", "recommend", *self.common(), "--ttft", f"{self.ttft_ms:g}", "--tpot",
                f"{self.tpot_ms:g}", *load]

    @property
    def load(self) -> str:
        return f"{self.rate:g} req/s" if self.rate is not None else f"{self.concurrency} users"


QWEN = dict(model="Qwen/Qwen3-32B-FP8", system="h200_sxm", backend="trtllm")
TARGETS = [
    Target("qwen32b-rate50", **QWEN, rate=50),  # issue 14's scenario: the peer answers 28 GPUs
    Target("qwen32b-rate30", **QWEN, rate=30),  # where a mix of replica types saves a GPU
    Target("qwen32b-rate12", **QWEN, rate=12),
    Target("qwen32b-conc500", **QWEN, concurrency=500),
    Target("llama8b-h100-vllm-rate40", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "vllm", rate=40),
    Target("qwen32b-rate50-disagg", **QWEN, rate=50, disagg=True),  # the scenario, disagg pools too
    Target("qwen30b-moe-rate20-disagg", "Qwen/Qwen3-30B-A3B-FP8", "h200_sxm", "trtllm", rate=20, disagg=True),
]

_PEER_LINE = re.compile(r"^\s*(agg|disagg) GPUs needed:\s*(\d+)", re.MULTILINE)


def sloplan_gpus(t: Target, exe: str, modes: str | None, timeout: float) -> tuple[str, str]:
    """GPUs sloplan's sizing answers, with its groups ('infeasible' on exit 3; the error line otherwise),
    and the GPUs of the cheapest copies of one replica type on the same table."""
    proc = subprocess.run(t.sloplan_cmd(exe, modes), capture_output=True, text=True, timeout=timeout)
    if proc.returncode == 3:
        return "infeasible", "-"
    if proc.returncode != 0:
        return f"error: {(proc.stderr or proc.stdout).strip().splitlines()[-1][:120]}", "-"
    doc = json.loads(proc.stdout)
    groups = " + ".join(f"{g['count']}x{g['engine'].split()[0]} {g['role']}" for g in doc["groups"])
    return f"{doc['gpus']} ({groups})", str(doc["one_type_gpus"])


def peer_gpus(t: Target, exe: str, timeout: float) -> dict[str, int]:
    """The peer's 'GPUs needed' per serving mode, read from its report."""
    proc = subprocess.run(t.peer_cmd(exe), capture_output=True, text=True, timeout=timeout)
    found = {mode: int(n) for mode, n in _PEER_LINE.findall(proc.stdout + proc.stderr)}
    if not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"exit {proc.returncode}, no 'GPUs needed' line: {tail[0][:160]}")
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", choices=[t.name for t in TARGETS],
                    help="run only these targets (repeatable); default all")
    ap.add_argument("--peer-venv", default=DEFAULT_PEER_VENV, type=__import__("pathlib").Path)
    ap.add_argument("--sloplan", help="path of the sloplan executable (default: beside this Python, then PATH)")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before one process is killed")
    return ap.parse_args(argv)


def _number(cell: str) -> int | None:
    head = cell.split(" ")[0]
    return int(head) if head.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exe = find_sloplan(args.sloplan)
    peer = None if args.skip_peer else ensure_peer(args.peer_venv)
    print(f"sloplan: {exe}\npeer:    {peer or 'skipped'} ({PEER_PACKAGE}, `aiconfigurator cli recommend`)")
    rows, errors, worse = [], [], []
    for t in [t for t in TARGETS if not args.target or t.name in args.target]:
        print(f"... {t.name}", flush=True)
        agg, one = sloplan_gpus(t, exe, "agg", args.timeout)
        every, _ = sloplan_gpus(t, exe, None, args.timeout)
        dis = sloplan_gpus(t, exe, "disagg", args.timeout)[0] if t.disagg else "-"
        found = {}
        if peer:
            try:
                found = peer_gpus(t, peer, args.timeout)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                errors.append(f"{t.name}: peer: {exc}")
        p_agg, p_dis = str(found.get("agg", "-")), str(found.get("disagg", "-"))
        p_best = str(min(found.values())) if found else "-"
        for mine, theirs, what in ((agg, p_agg, "agg"), (every, p_best, "all modes"), (dis, p_dis, "disagg")):
            a, b = _number(mine), _number(theirs)
            if a and b and a > b:
                worse.append(f"{t.name} ({what})")
        a, b = _number(agg), _number(p_agg)
        ratio = f"{b / a:.2f}" if a and b else "-"
        rows.append([t.name, t.load, p_agg, p_dis if t.disagg else "-", p_best, one, agg, every, dis, ratio])
    print()
    print(render_table(["target", "load", "peer agg", "peer disagg", "peer best", "one type", "sloplan agg",
                        "sloplan all modes", "sloplan disagg", "peer/sloplan agg"], rows))
    print("\nAll: isl 4000, osl 500, TTFT <= 2000 ms, TPOT <= 30 ms; sloplan uncapped (engines up to 64 GPUs).")
    print("peer agg / disagg / best: `recommend`'s 'agg' / 'disagg GPUs needed' / the fewer of the two.")
    print("one type: the peer's method (cheapest ceil(load / rate) copies of one option) on sloplan's agg table.")
    print("sloplan: the exact minimum over every SLO-meeting option (mixes allowed); groups in brackets.")
    for line in errors:
        print("error:", line)
    if worse:
        print("sloplan needed MORE GPUs than the peer on:", ", ".join(worse))
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
