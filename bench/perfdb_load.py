"""perfdb warm load: `load_perfdb("h200_sxm", "trtllm")` from the disk cache, and a warm quick-start solve.

Each figure is the median of 5 fresh processes (the in-process memo would hide the cache read), after one
warm-up run that fills the cache. Run: .venv/bin/python bench/perfdb_load.py [--python PY] [--runs N]
(`--python` another checkout's interpreter, to compare before/after with the same cache folder rules).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
LOAD = ("import time; from sloplan.perfdb import load_perfdb; t = time.perf_counter(); "
        "db = load_perfdb('h200_sxm', 'trtllm'); print(time.perf_counter() - t)")


def _load_s(python: str) -> float:
    out = subprocess.run([python, "-c", LOAD], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.split()[-1])


def _solve_s(python: str) -> float:
    sloplan = str(Path(python).with_name("sloplan"))
    t = time.perf_counter()
    subprocess.run([sloplan, "solve", str(INSTANCE)], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("SLOPLAN_CACHE_DIR", str(Path("/tmp") / "sloplan-bench-perfdb-load"))
    _solve_s(args.python)  # fills the cache (main file, side files the solve reads)
    load = statistics.median(_load_s(args.python) for _ in range(args.runs))
    solve = statistics.median(_solve_s(args.python) for _ in range(args.runs))
    print(f"load_perfdb('h200_sxm', 'trtllm') warm from cache: {load * 1e3:.1f} ms (median of {args.runs} processes)")
    print(f"sloplan solve {INSTANCE.name}, whole process, warm: {solve * 1e3:.0f} ms (median of {args.runs})")


if __name__ == "__main__":
    main()
