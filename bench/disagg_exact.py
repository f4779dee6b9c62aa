"""Exactness of the disaggregated side of the bundled requests: pair enumeration vs brute force.

    .venv/bin/python bench/disagg_exact.py            # every bundled request under instances/
    .venv/bin/python bench/disagg_exact.py FILE ...   # these request files

For each request's DisaggInstance (one engine type per pool, as the request says), the best plan's
exact key (tokens/s, fewest GPUs, user speed) and the whole (tokens/s/user, tokens/s) front of the
pair enumeration (solver/disagg_pairs.py, what `solve` runs) are compared with brute-force
enumeration of every (prefill row, workers) × (decode row, workers) plan (solver/brute_disagg.py).
Brute force runs over chunks of decode rows: a one-engine-per-pool plan uses one decode row, so the
chunks partition the plans, and the union of the chunks' exact fronts reduces to the exact front.
The tests do the same on small instances (tests/test_disagg_*.py); this is the check on the real,
large tables of the bundled requests, too slow for the test suite (minutes on 2 cores).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from _common import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))

from sloplan.api import _as_request  # noqa: E402
from sloplan.context import build_context  # noqa: E402
from sloplan.disagg_request import disagg_setup  # noqa: E402
from sloplan.model.disagg_tables import take_rows  # noqa: E402
from sloplan.solver.brute_disagg import brute_disagg_best, brute_disagg_front  # noqa: E402
from sloplan.solver.disagg import disagg_best, disagg_front  # noqa: E402

CHUNK = 200  # decode rows per brute-force chunk


def _pairs(front) -> list[tuple]:
    return [(d.tokens_per_s_per_user, d.tokens_exact) for d in front]


def brute(inst):
    """(best key, front pairs) by brute force over chunks of decode rows."""
    from dataclasses import replace

    bests, points = [], []
    for start in range(0, len(inst.decode), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(inst.decode)))
        sub = replace(inst, decode=take_rows(inst.decode, rows))
        b = brute_disagg_best(sub)
        if b is not None:
            bests.append(b.key)
        points += _pairs(brute_disagg_front(sub))
    points.sort(key=lambda t: (-t[0], -t[1]))
    front, top = [], None
    for speed, tokens in points:
        if top is None or tokens > top:
            front.append((speed, tokens))
            top = tokens
    return (max(bests) if bests else None), front[::-1]


def check(path: Path) -> bool:
    req = _as_request(path)
    if "disagg" not in [m.value for m in req.modes]:
        print(f"{path}: no disagg mode")
        return True
    ctx = build_context(req.model, req.system, req.backend, req.version, req.isl, req.osl, req.prefix,
                        req.quantizations, client=req.client)
    inst = disagg_setup(req, ctx).instance
    t0 = time.perf_counter()
    best, front = disagg_best(inst), disagg_front(inst)
    t1 = time.perf_counter()
    true_best, true_front = brute(inst)
    t2 = time.perf_counter()
    ok = (None if best is None else best.key) == true_best and _pairs(front) == true_front
    print(f"{path}: {len(inst.prefill)} prefill x {len(inst.decode)} decode rows; best and {len(front)}-point front "
          f"{'EQUAL' if ok else 'DIFFER FROM'} brute force (solver {t1 - t0:.2f} s, brute force {t2 - t1:.1f} s)")
    return ok


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(p for p in (REPO_ROOT / "instances").rglob("*.yaml")
                                              if p.name != "expected.yaml")
    return 0 if all([check(p) for p in paths]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
