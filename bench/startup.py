"""Whole-process start-up: a warm quick-start solve against the bare import of its dependencies.

The issue's target (issue 11, bullet 7) is a warm `sloplan solve` of the quick start within 1.5x
the time a process takes just to import numpy, highspy, yaml, typer, rich and pydantic: what
sloplan adds on top of its libraries must stay small. Each command runs once untimed (warms the
disk cache and sloplan's perf-table cache), then N times in fresh processes; the median is printed.

    .venv/bin/python bench/startup.py            # N = 7
    .venv/bin/python bench/startup.py --repeats 11

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


def run_once(argv: list[str]) -> float:
    """Wall seconds of one fresh process of argv (exit 0, or 3 for a solve without a plan)."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"bench: {' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall


def time_commands(commands: list[list[str]], repeats: int) -> list[list[float]]:
    """Wall seconds of each command's `repeats` runs, after one untimed warm-up run each.

    Rounds interleave the commands, so load from other processes on a shared machine falls on
    all of them alike and the ratios stay meaningful even when the absolute times drift.
    """
    for argv in commands:
        run_once(argv)
    walls: list[list[float]] = [[] for _ in commands]
    for _ in range(repeats):
        for i, argv in enumerate(commands):
            walls[i].append(run_once(argv))
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command (median reported)")
    parser.add_argument("--sloplan", help="path of the sloplan executable")
    args = parser.parse_args()
    sloplan = find_sloplan(args.sloplan)
    cases = [("python -c 'import numpy, highspy, yaml, typer, rich, pydantic'", [sys.executable, "-c", IMPORTS]),
             ("  … + rich.console, rich.table, one pydantic model", [sys.executable, "-c", AS_USED]),
             ("sloplan --help", [sloplan, "--help"]), ("sloplan solve --help", [sloplan, "solve", "--help"]),
             (f"sloplan solve {QUICK_START}", [sloplan, "solve", QUICK_START])]
    walls = time_commands([argv for _, argv in cases], args.repeats)
    ref_med, ref_min = median(walls[0]), min(walls[0])
    rows = [[label, fmt(median(w) * 1e3, ".0f"), fmt(median(w) / ref_med, ".2f"), fmt(min(w) * 1e3, ".0f"),
             fmt(min(w) / ref_min, ".2f")] for (label, _), w in zip(cases, walls)]
    print(f"{args.repeats} warm runs per command (after one warm-up), rounds interleaved; the minimum is the "
          "figure least moved by other load")
    print(render_table(["command", "median ms", "x imports", "min ms", "x imports"], rows))
    solve = walls[-1]
    print(f"warm quick-start solve / imports = {median(solve) / ref_med:.2f} (medians), "
          f"{min(solve) / ref_min:.2f} (minima); target <= 1.50")

if __name__ == "__main__":
    main()
