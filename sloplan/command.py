"""The `sloplan` console script's entry point: a short process's start-up settings, then the CLI.

One setting, changing no result: the garbage collector's gen-0 threshold.

Why: a warm quick-start solve allocates its way through ~550 modules' imports and the solve, and with
CPython's default thresholds (700, 10, 10) that costs ~120 gen-0, 11 gen-1 and one full collection, which
together found ~630 unreachable objects and took 45-65 ms (wall, a loaded 2-core machine), the largest single
item of sloplan's own start-up (bench/startup_ledger.py, README "Start-up"). Module objects, classes and the perf
tables live for the whole process and are not garbage, so scanning them is pure cost. A larger gen-0
threshold keeps collecting (every 10,000 net allocations, gen-1 and full collections as often relative to
it as by default) but ~14x less often. It changes no result: collection only frees unreachable objects.
It is set here, not on `import sloplan.cli`, so a program that uses sloplan as a library keeps its own
collector settings; `python -m sloplan` goes through here too.
"""
from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # CPython's default is 700 net allocations between gen-0 collections


def prepare() -> None:
    """The process's settings, before anything heavy is imported (bench/startup_ledger.py applies them too)."""
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, gen0), gen1, gen2)


def main() -> None:
    """The settings above, then the CLI (sloplan/cli.py)."""
    prepare()
    from sloplan.cli import main as run

    run()
