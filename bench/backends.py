"""Solve time of `sloplan solve` on each installed solver backend, on one bundled instance.

Run from the repository root:

    .venv/bin/python bench/backends.py                       # instances/qwen3-32b-fp8-h200-trtllm.yaml
    .venv/bin/python bench/backends.py --repeats 5 --instance instances/regression/llama-3.1-8b-h100-vllm.yaml

Each backend runs as a fresh `sloplan solve REQUEST --solver NAME --json` process: once untimed (warm
caches), then `--repeats` timed runs. Reported per backend: the median of the JSON's
`timings_s.optimize` (best plan + front, the part the backend changes), the median whole-process wall
time, and whether best plan and front equal the default run's (no --solver) in the same run: their
values (mode, tokens/s, tokens/s/user, GPUs used) — a named solver also solves the disaggregated mode
as a MILP (sloplan/solve_disagg.py), where the default enumerates, and on exact ties the two may pick
different deployments of the same values. ortools:cp-sat refuses models with non-integral coefficients
(real tokens/s are): it shows as refused (exit 2).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, find_sloplan, fmt, last_line, median, render_table  # noqa: E402


def _run(sloplan: str, instance: Path, backend: str | None) -> tuple[int, dict | None, float, str]:
    t0 = time.perf_counter()
    named = [] if backend is None else ["--solver", backend]
    proc = subprocess.run([sloplan, "solve", str(instance), *named, "--json"], capture_output=True,
                          text=True, cwd=REPO_ROOT)
    wall = time.perf_counter() - t0
    doc = json.loads(proc.stdout) if proc.returncode in (0, 3) and proc.stdout.strip() else None
    return proc.returncode, doc, wall, last_line(proc.stderr)


def _values(doc: dict) -> tuple:
    """What two runs must agree on: each plan's mode, tokens/s, tokens/s/user and GPUs used."""
    def v(p):
        return None if p is None else (p["mode"], p["tokens_per_s"], p["tokens_per_s_per_user"], p["gpus_used"])
    return v(doc["best"]), [v(p) for p in doc["front"]]


def main() -> None:
    from sloplan.solver.backends import installed_backends

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", type=Path, default=REPO_ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sloplan")
    args = ap.parse_args()
    sloplan = find_sloplan(args.sloplan)
    reference = None
    rows = []
    for backend in (None, *installed_backends()):
        code, doc, _, err = _run(sloplan, args.instance, backend)
        if doc is None:
            rows.append([backend or "default", "-", "-", f"refused (exit {code}): {err[:70]}"])
            continue
        runs = [_run(sloplan, args.instance, backend) for _ in range(args.repeats)]
        opt = median([r[1]["timings_s"]["optimize"] for r in runs if r[1]])
        wall = median([r[2] for r in runs if r[1]])
        answer = _values(doc)
        reference = reference or answer
        rows.append([backend or "default (no --solver)", fmt(opt, ".3f"), fmt(wall, ".2f"),
                     "yes" if answer == reference else "NO"])
    print(f"instance: {args.instance.relative_to(REPO_ROOT)}, {args.repeats} timed runs per backend")
    print(render_table(["backend", "optimize s", "wall s", "same plan and front values as default"], rows))


if __name__ == "__main__":
    main()
