"""Whole-process start-up: a warm quick-start solve against the bare import of its dependencies.

The issue's target (issue 11, bullet 7) is a warm `sloplan solve` of the quick start within 1.5x
the time a process takes just to import numpy, highspy, yaml, typer, rich and pydantic: what
sloplan adds on top of its libraries must stay small. Each command runs once untimed (warms the
disk cache and sloplan's perf-table cache), then N times in fresh processes.

Two clocks, each as median and minimum ("best of N"): wall time, and CPU time (user + sys of the
child, from os.wait4's rusage). On a shared machine the wall time carries the waits for the other
processes' CPU; the CPU time of a single-threaded child barely moves with load, so its ratio is the
figure to compare across sessions (BLAS threads spun up by numpy's import add a little CPU to every
row alike).

    .venv/bin/python bench/startup.py            # N = 7
    .venv/bin/python bench/startup.py --repeats 11
    .venv/bin/python bench/startup.py --compare ../before/.venv/bin/sloplan   # before/after, interleaved

"Warm" includes Python's bytecode cache: the child processes run without PYTHONDONTWRITEBYTECODE, so
the warm-up writes sloplan's `__pycache__` (git-ignored) as any installed package has it; with the
variable set, every run would compile ~80 modules from source (~60 ms here) and time the compiler.
The second reference row imports the libraries as a solve uses them (its first pydantic model,
rich's console and table), to show what of the gap is theirs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from _common import REPO_ROOT, find_sloplan, fmt, median, render_table

QUICK_START = "instances/qwen3-32b-fp8-h200-trtllm.yaml"
IMPORTS = "import numpy, highspy, yaml, typer, rich, pydantic"
AS_USED = IMPORTS + "; import rich.console, rich.table\nclass Probe(pydantic.BaseModel):\n    x: int"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh process of argv (exit 0, or 3 for a solve without a plan); CPU is
    the child's user + sys time as the kernel accounted it at exit (os.wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=REPO_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    child.stderr.close()
    if code not in (0, 3):
        raise SystemExit(f"bench: {' '.join(argv)} exited {code}: {err.decode()[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime


def time_commands(commands: list[list[str]], repeats: int) -> tuple[list[list[float]], list[list[float]]]:
    """(wall, CPU) seconds of each command's `repeats` runs, after one untimed warm-up run each.

    Rounds interleave the commands, so load from other processes on a shared machine falls on
    all of them alike and the ratios stay meaningful even when the absolute times drift.
    """
    for argv in commands:
        run_once(argv)
    walls: list[list[float]] = [[] for _ in commands]
    cpus: list[list[float]] = [[] for _ in commands]
    for _ in range(repeats):
        for i, argv in enumerate(commands):
            wall, cpu = run_once(argv)
            walls[i].append(wall)
            cpus[i].append(cpu)
    return walls, cpus


def _rows(cases, times: list[list[float]]) -> list[list[str]]:
    ref_med, ref_min = median(times[0]), min(times[0])
    return [[label, fmt(median(t) * 1e3, ".0f"), fmt(median(t) / ref_med, ".2f"), fmt(min(t) * 1e3, ".0f"),
             fmt(min(t) / ref_min, ".2f")] for (label, _), t in zip(cases, times)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command (median reported)")
    parser.add_argument("--sloplan", help="path of the sloplan executable")
    parser.add_argument("--compare", help="another sloplan executable (e.g. a checkout of the code before a change): "
                                          "its quick-start solve is timed too, in the same interleaved rounds")
    args = parser.parse_args()
    sloplan = find_sloplan(args.sloplan)
    cases = [("python -c 'import numpy, highspy, yaml, typer, rich, pydantic'", [sys.executable, "-c", IMPORTS]),
             ("  … + rich.console, rich.table, one pydantic model", [sys.executable, "-c", AS_USED]),
             ("sloplan --help", [sloplan, "--help"]), ("sloplan solve --help", [sloplan, "solve", "--help"]),
             (f"sloplan solve {QUICK_START} --modes agg,static", [sloplan, "solve", QUICK_START, "--modes",
                                                                  "agg,static"]),
             (f"sloplan solve {QUICK_START}", [sloplan, "solve", QUICK_START])]
    if args.compare:  # before the last row: the summary lines below stay the solve of `sloplan`
        cases.insert(-1, (f"--compare solve {QUICK_START}", [args.compare, "solve", QUICK_START]))
    walls, cpus = time_commands([argv for _, argv in cases], args.repeats)
    print(f"{args.repeats} warm runs per command (after one warm-up), rounds interleaved; the minimum is the "
          "figure least moved by other load")
    for clock, times in (("wall", walls), ("CPU (user + sys)", cpus)):
        print(f"\n{clock}")
        print(render_table(["command", "median ms", "x imports", "min ms", "x imports"], _rows(cases, times)))
    for clock, times in (("wall", walls), ("CPU", cpus)):
        solve, ref = times[-1], times[0]
        print(f"warm quick-start solve / imports, {clock}: {median(solve) / median(ref):.2f} (medians), "
              f"{min(solve) / min(ref):.2f} (minima); target <= 1.50")


if __name__ == "__main__":
    main()
