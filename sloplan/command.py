"""The `sloplan` console script's entry point: a short process's start-up settings, then the CLI.

Two collector settings, neither changing a result: the gen-0 threshold, and the CLI's imports frozen.

Why: a warm quick-start solve allocates its way through ~550 modules' imports and the solve, and with
CPython's default thresholds (700, 10, 10) that costs ~120 gen-0, 11 gen-1 and one full collection, which
together found ~630 unreachable objects and took 45-65 ms (wall, a loaded 2-core machine), the largest single
item of sloplan's own start-up (bench/startup_ledger.py, README "Start-up"). Module objects, classes and the perf
tables live for the whole process and are not garbage, so scanning them is pure cost. A larger gen-0
threshold keeps collecting (every 10,000 net allocations, gen-1 and full collections as often relative to
it as by default) but ~14x less often. It changes no result: collection only frees unreachable objects.
It is set here, not on `import sloplan.cli`, so a program that uses sloplan as a library keeps its own
collector settings; `python -m sloplan` goes through here too.

Frozen imports: once `sloplan.cli` and the libraries it imports are loaded (~420 modules, ~42,000 tracked
objects: modules, functions, classes, their dicts), `gc.freeze()` (CPython >= 3.7, its documented use:
objects that live for the whole process) moves them to the permanent generation, which no later collection
scans. Without it the solve's one gen-1 collection re-scanned all of them (~13 ms CPU of a warm quick-start
solve, bench/startup_ledger.py) to free nothing; the gen-0 collections, which scan only objects made since
the last one, are unchanged. Cyclic garbage made during those imports and not yet collected (a few hundred
objects at most) is then kept until exit, which ends the process anyway.
"""
from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # CPython's default is 700 net allocations between gen-0 collections


def prepare() -> None:
    """The process's settings, before anything heavy is imported (bench/startup_ledger.py applies them too)."""
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, gen0), gen1, gen2)


def freeze_imports() -> None:
    """After `import sloplan.cli`: what is tracked so far lives until exit; no collection scans it again."""
    gc.freeze()


def main() -> None:
    """The settings above, then the CLI (sloplan/cli.py)."""
    prepare()
    from sloplan.cli import main as run

    freeze_imports()
    run()
