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

Frozen imports: `import sloplan.cli` loads ~320 modules (~65,000 tracked objects: modules, functions,
classes, their dicts), all of which live until exit. The collector is off while they load and they are then
frozen (`gc.freeze()`, CPython >= 3.7; its documented recipe is exactly this: `gc.disable()` early,
`gc.freeze()`, `gc.enable()`), so no collection scans them: not the imports' six gen-0 collections (which
freed ~500 objects of import-time cycles), not the solve's gen-1 collection, and not the full collection
the interpreter runs at exit, which scanned every one of them. Measured (bench/startup_ledger.py, README
"Start-up"): the collector's pauses 11.2 -> 1.1 ms CPU, the interpreter's exit 56.5 -> 13.8 ms. The
solve's own gen-0 collections, over objects made since the last one, are unchanged. The import-time
cycles (a few hundred objects, tens of kB) are kept until exit, which ends the process anyway.
"""
from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # CPython's default is 700 net allocations between gen-0 collections


def prepare() -> None:
    """The process's settings, before anything heavy is imported (bench/startup_ledger.py applies them too)."""
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, gen0), gen1, gen2)


def freeze_imports() -> None:
    """After `import sloplan.cli`: what is tracked so far lives until exit, so no collection scans it again;
    the collector (off during the imports) is back on."""
    gc.freeze()
    gc.enable()


def main() -> None:
    """The settings above, then the CLI (sloplan/cli.py)."""
    prepare()
    gc.disable()  # during the imports only: they make ~500 objects of cyclic garbage, not worth a scan
    try:
        from sloplan.cli import main as run
    finally:
        freeze_imports()
    run()
