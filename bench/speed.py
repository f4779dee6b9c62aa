"""Whole-process wall time of `sloplan solve` against the peer (`aiconfigurator cli default`).

Run from the repository root:

    .venv/bin/python bench/speed.py                    # all scenarios, 3 timed repeats each
    .venv/bin/python bench/speed.py --repeats 5 --scenario qwen32b-h200
    .venv/bin/python bench/speed.py --skip-sloplan     # peer only (e.g. before sloplan's CLI exists)

Both tools run as fresh processes on the same scenarios in the same run, so the ratio
(peer / sloplan, > 1 means sloplan is faster) compares like with like on this machine. Each command
runs once untimed first (disk caches, sloplan's perf-table cache in the user cache dir, the peer's
imports); pass --no-warmup to time cold starts instead.

The peer lives in its own virtualenv (default ~/.cache/sloplan-bench/peer-venv), created and
filled with `pip install aiconfigurator==0.12.0` on first use, so its dependencies never touch
sloplan's environment. Two searches are compared (`--search`, default both), each tool searching
the same modes: `agg` — the peer restricted to aggregated serving (`--serving-mode agg`) against
sloplan's static + agg front (`--modes static,agg`); `full` — the peer's default search, agg and
disagg (`--serving-mode auto`), against sloplan's three-mode front (`--modes static,agg,disagg`).
Timed runs use no --save-dir (sloplan --json writes no files either); one extra untimed run with
--save-dir gives the peer's Pareto fronts (agg/pareto.csv, disagg/pareto.csv, merged), counted twice:
all non-dominated rows (the peer's front as it reports it, which may break --tpot) and the
non-dominated rows that meet both SLOs (comparable with sloplan's SLO-constrained front).

sloplan CLI contract assumed:
    sloplan solve --model M --system S --backend B --total-gpus N --isl I --osl O
                  --ttft-ms T --tpot-ms P --json
prints one JSON document on stdout with a "front" list (one entry per Pareto point); exit 0, or
3 when proved infeasible (still a JSON document; its front may be empty).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import REPO_ROOT, find_sloplan, fmt, last_line, median, render_table

PEER_PACKAGE = "aiconfigurator==0.12.0"
DEFAULT_PEER_VENV = Path.home() / ".cache" / "sloplan-bench" / "peer-venv"
# search name -> (sloplan's --modes, the peer's --serving-mode): each pair searches the same modes
SEARCHES = {"agg": ("static,agg", "agg"), "full": ("static,agg,disagg", "auto")}


@dataclass(frozen=True)
class Scenario:
    """One planning request, expressed once and translated to each tool's flags."""

    name: str
    model: str
    system: str
    backend: str
    total_gpus: int
    isl: int = 4000
    osl: int = 500
    ttft_ms: float = 2000
    tpot_ms: float = 30

    def sloplan_cmd(self, exe: str, search: str) -> list[str]:
        return [exe, "solve", "--model", self.model, "--system", self.system, "--backend", self.backend,
                "--total-gpus", str(self.total_gpus), "--isl", str(self.isl), "--osl", str(self.osl),
                "--ttft-ms", f"{self.ttft_ms:g}", "--tpot-ms", f"{self.tpot_ms:g}", "--modes", SEARCHES[search][0],
                "--json"]

    def peer_cmd(self, exe: str, search: str, save_dir: Path | None = None) -> list[str]:
        cmd = [exe, "cli", "default", "--model", self.model, "--system", self.system, "--backend", self.backend,
               "--total-gpus", str(self.total_gpus), "--isl", str(self.isl), "--osl", str(self.osl),
               "--ttft", f"{self.ttft_ms:g}", "--tpot", f"{self.tpot_ms:g}", "--serving-mode", SEARCHES[search][1]]
        return cmd + (["--save-dir", str(save_dir)] if save_dir else [])


# Model ids are the ones the peer's wheel ships configs for (aiconfigurator_core/model_configs),
# which sloplan reads too, so both tools see the same architecture.
SCENARIOS = [
    Scenario("qwen32b-fp8-h200-trtllm-8", "Qwen/Qwen3-32B-FP8", "h200_sxm", "trtllm", 8),
    Scenario("llama8b-h100-vllm-8", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "vllm", 8),
    Scenario("llama70b-b200-trtllm-16", "meta-llama/Meta-Llama-3.1-70B", "b200_sxm", "trtllm", 16),
    # MoE (issue 12): expert / attention-data parallel engines on one and on several 8-GPU nodes
    Scenario("qwen3-30b-a3b-fp8-h200-trtllm-16", "Qwen/Qwen3-30B-A3B-FP8", "h200_sxm", "trtllm", 16),
    Scenario("deepseek-v3-h200-trtllm-32", "deepseek-ai/DeepSeek-V3", "h200_sxm", "trtllm", 32),
]


@dataclass
class Result:
    """Timings and front size of one tool on one scenario; error holds the failing line, if any."""

    times: list[float]
    front: str = "-"
    error: str = ""


# ----------------------------------------------------------------------------- peer install

def ensure_peer(venv: Path) -> str:
    """Path of the peer's `aiconfigurator`, installing the pinned version into its venv if needed."""
    exe, py = venv / "bin" / "aiconfigurator", venv / "bin" / "python"
    if exe.exists() and peer_version(py) == PEER_PACKAGE.split("==")[1]:
        return str(exe)
    print(f"installing {PEER_PACKAGE} into {venv} ...", flush=True)
    if not py.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)  # system Python, not sloplan's venv
    subprocess.run([str(py), "-m", "pip", "install", "-q", PEER_PACKAGE], check=True)
    return str(exe)


def peer_version(py: Path) -> str:
    """Installed aiconfigurator version in the peer venv ('' when missing)."""
    if not py.exists():
        return ""
    code = "import importlib.metadata as m; print(m.version('aiconfigurator'))"
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


# ----------------------------------------------------------------------------- running

def run_once(cmd: list[str], timeout: float,
             ok_codes: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess]:
    """Run one process to completion; wall time measured around the whole process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"exit {proc.returncode}: {last_line(proc.stderr or proc.stdout)}")
    return wall, proc


def time_repeats(cmd: list[str], repeats: int, timeout: float,
                 ok_codes: tuple[int, ...] = (0,)) -> tuple[list[float], subprocess.CompletedProcess]:
    """Wall times of `repeats` runs and the last run's output."""
    times, proc = [], None
    for _ in range(repeats):
        wall, proc = run_once(cmd, timeout, ok_codes)
        times.append(wall)
    return times, proc


def bench_sloplan(sc: Scenario, exe: str, search: str, args: argparse.Namespace) -> Result:
    """Time `sloplan solve --json` and count its front points (per mode) from the JSON it prints."""
    cmd, ok = sc.sloplan_cmd(exe, search), (0, 3)
    try:
        if not args.no_warmup:
            run_once(cmd, args.timeout, ok)
        times, proc = time_repeats(cmd, args.repeats, args.timeout, ok)
        doc = json.loads(proc.stdout)
        modes = [p["mode"] for p in doc["front"]]
        by_mode = " ".join(f"{m[0]}{modes.count(m)}" for m in dict.fromkeys(modes))
        return Result(times, f"{len(modes)}" + (f" ({by_mode})" if by_mode else ""))
    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError, TypeError) as exc:
        return Result([], error=f"sloplan: {type(exc).__name__}: {exc}"[:300])


def bench_peer(sc: Scenario, exe: str, search: str, args: argparse.Namespace) -> Result:
    """Time the peer, then count its front from one untimed --save-dir run.

    The counting run doubles as the warm-up, so it runs before the timed ones unless --no-warmup.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="peer-save-") as tmp:
            save = sc.peer_cmd(exe, search, Path(tmp))
            if not args.no_warmup:
                run_once(save, args.timeout)
            times, _ = time_repeats(sc.peer_cmd(exe, search), args.repeats, args.timeout)
            if args.no_warmup:
                run_once(save, args.timeout)
            return Result(times, count_peer_front(Path(tmp), sc))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return Result([], error=f"peer: {type(exc).__name__}: {exc}"[:300])


# ----------------------------------------------------------------------------- peer front

def count_peer_front(save_dir: Path, sc: Scenario) -> str:
    """'all/within-SLO' non-dominated point counts over the experiments' pareto.csv files (agg, disagg)."""
    files = sorted(save_dir.rglob("*/pareto.csv"))
    if not files:
        return "no pareto.csv"
    rows = []
    for path in files:
        with path.open(newline="") as f:
            rows += list(csv.DictReader(f))
    points = [(float(r["tokens/s/user"]), float(r["tokens/s/gpu"]), float(r["ttft"]), float(r["tpot"])) for r in rows]
    within = [p for p in points if p[2] <= sc.ttft_ms and p[3] <= sc.tpot_ms]
    return f"{len(non_dominated(points))}/{len(non_dominated(within))}"


def non_dominated(points: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    """Points not dominated in (tokens/s/user, tokens/s/gpu), both maximized; duplicates count once."""
    pairs = sorted({(p[0], p[1]) for p in points}, key=lambda p: (-p[0], -p[1]))
    front, best_gpu = [], float("-inf")
    for user, gpu in pairs:
        if gpu > best_gpu:
            front.append((user, gpu))
            best_gpu = gpu
    return front


# ----------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per tool per scenario (median reported)")
    ap.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                    help="run only these scenarios (repeatable); default all")
    ap.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV, help="virtualenv holding the peer")
    ap.add_argument("--sloplan", help="path of the sloplan executable (default: beside this Python, then PATH)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each command")
    ap.add_argument("--search", action="append", choices=list(SEARCHES),
                    help="agg: static+agg vs the peer's agg; full: three modes vs the peer's agg+disagg "
                         "(repeatable); default both")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-sloplan", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds before one process is killed")
    return ap.parse_args(argv)


def setup(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """Executables of both tools (None for a skipped or unavailable one), and what was chosen."""
    sloplan_exe = peer_exe = None
    if not args.skip_sloplan:
        try:
            sloplan_exe = find_sloplan(args.sloplan)
        except SystemExit as exc:
            print(exc)
    if not args.skip_peer:
        try:
            peer_exe = ensure_peer(args.peer_venv)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"peer install failed: {exc}")
    print(f"sloplan: {sloplan_exe or 'skipped'}\npeer:    {peer_exe or 'skipped'} ({PEER_PACKAGE}; "
          f"timed without --save-dir)")
    print(f"repeats: {args.repeats}, warm-up run before timing: {'no' if args.no_warmup else 'yes'}")
    return sloplan_exe, peer_exe


def table_row(sc: Scenario, search: str, ours: Result, peer: Result) -> list[str]:
    """One line of the report; ratio = peer median / sloplan median."""
    a, b = median(ours.times), median(peer.times)
    ratio = b / a if a and b else None
    return [sc.name, search, fmt(a, ".3f"), fmt(b, ".3f"), fmt(ratio, ".1f", "-") + ("x" if ratio else ""),
            ours.front, peer.front]


def precompile() -> None:
    """Byte-compile sloplan's sources, as `pip install` does for the peer's wheel.

    An editable checkout run with PYTHONDONTWRITEBYTECODE=1 (as on this project's machines) would
    otherwise recompile every module on every start, which is not what an installed tool pays."""
    dirs = [str(REPO_ROOT / d) for d in ("core", "perfdb", "model", "solver", "generators", "sloplan")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=False, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    precompile()
    sloplan_exe, peer_exe = setup(args)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    rows, errors = [], []
    for sc in chosen:
        for search in args.search or list(SEARCHES):
            print(f"... {sc.name} ({search})", flush=True)
            ours = bench_sloplan(sc, sloplan_exe, search, args) if sloplan_exe else Result([], error="")
            peer = bench_peer(sc, peer_exe, search, args) if peer_exe else Result([], error="")
            errors += [f"{sc.name} ({search}): {r.error}" for r in (ours, peer) if r.error]
            rows.append(table_row(sc, search, ours, peer))
    header = ["scenario", "search", "sloplan med s", "peer med s", "peer/sloplan", "front sloplan",
              "front peer all/SLO"]
    print()
    print(render_table(header, rows))
    print("\nsearch agg: sloplan static+agg vs the peer's agg; full: sloplan's three modes vs the peer's agg+disagg.")
    print("front sloplan: points (s static, a agg, d disagg); front peer all/SLO: non-dominated points of the peer's")
    print("pareto.csv files (merged) / those meeting TTFT and TPOT.")
    for line in errors:
        print("error:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
