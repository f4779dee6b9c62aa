"""Where a warm quick-start solve's CPU time goes, in-process: the ledger behind bench/startup.py's ratio.

bench/startup.py times whole processes; this script splits one warm `sloplan solve` of the quick start
into the items the README's Start-up paragraph lists, as CPU time (time.process_time) of a fresh
interpreter, best of N (the figure least moved by other load on a shared machine):

  entry point settings  sloplan/command.py's (the GC threshold, the collector off during the imports; their freeze
                      is counted in `import sloplan.cli`)
  reference imports   numpy, highspy, yaml, typer, rich, pydantic (bench/startup.py's reference row)
  stack as used       rich's console and table and one pydantic model (its second row: the libraries' own
                      first-use cost, which no sloplan change removes)
  import sloplan.cli  the CLI module and what it imports (the request schema, the framework data classes)
  solve's modules     every other sloplan module the solve imports (listed by a first, untimed run)
  typer               building the invoked command and parsing the line (all of main() outside _solve)
  then the solve's steps (sloplan/api.py: resolve, option table, disaggregated instance, optimize, the
  verified best plan and the front's points) and rich rendering (sloplan/report.py print_solve).
  interpreter start / exit  the CPU before the child's first line and after its last (module teardown and
                      the interpreter's final collection, from os.wait4), so the items add up to the
                      whole process, the figure bench/startup.py times
  collector           the garbage collector's pauses, already inside the items above: its row is their sum
                      (best of N), for a pause moves from item to item between runs (string hashing is
                      randomized per process, so allocation counts and the collections' trigger points move
                      with it) and the best-of-N items can leave it out.

    .venv/bin/python bench/startup_ledger.py             # best of 5
    .venv/bin/python bench/startup_ledger.py --repeats 9
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import REPO_ROOT, render_table

QUICK_START = "instances/qwen3-32b-fp8-h200-trtllm.yaml"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

_CENSUS = f"""
import contextlib, io, json, sys
import sloplan.command
sloplan.command.prepare()
sys.argv = ["sloplan", "solve", {QUICK_START!r}]
import sloplan.cli
before = set(sys.modules)
with contextlib.redirect_stdout(io.StringIO()):
    try:
        sloplan.cli.main()
    except SystemExit:
        pass
print(json.dumps([m for m in sys.modules if m.startswith("sloplan") and m not in before]))
"""

# The timed child: phases in order; the solve's steps by wrapping the api/report functions it calls.
_TIMED = """
import contextlib, dataclasses, functools, importlib, io, json, sys, time
T = time.process_time
t = T()
out = {"interpreter start": t}  # the CPU spent before this line: the interpreter's own start and `site`
import gc, sloplan.command
gc_s, gc_n = [0.0, 0.0], [0]
def on_gc(phase, info):  # the collector's own CPU time, wherever its pauses land
    if phase == "start":
        gc_s[1] = T()
    else:
        gc_s[0] += T() - gc_s[1]
        gc_n[0] += 1
gc.callbacks.append(on_gc)
sloplan.command.prepare()
gc.disable()  # as sloplan/command.py main(): off while the CLI's imports (the reference ones among them) load
out["entry point settings"], t = T() - t, T()
import numpy, highspy, yaml, typer, rich, pydantic
out["reference imports"], t = T() - t, T()
import rich.console, rich.table
class Probe(pydantic.BaseModel):
    x: int
out["stack as used"], t = T() - t, T()
import sloplan.cli
sloplan.command.freeze_imports()
out["import sloplan.cli"], t = T() - t, T()
for name in MODULES:
    importlib.import_module(name)
out["solve's modules"] = T() - t
import sloplan.api as api, sloplan.report as report
steps = {"resolve": (api, "resolve"), "option table": (api, "option_table"),
         "disaggregated instance": (api, "_disagg_setup"), "optimize": (api, "_optimize"),
         "verified best plan": (api, "verified"), "front points": (api, "plan_point"),
         "rich rendering": (report, "print_solve"), "_solve": (sloplan.cli, "_solve")}
def timed(label, f):
    @functools.wraps(f)
    def g(*a, **k):
        s = T()
        try:
            return f(*a, **k)
        finally:
            out[label] = out.get(label, 0.0) + T() - s
    return g
for label, (mod, attr) in steps.items():
    setattr(mod, attr, timed(label, getattr(mod, attr)))
sys.argv = ["sloplan", "solve", QUICK]
s = T()
with contextlib.redirect_stdout(io.StringIO()):
    try:
        sloplan.cli.main()
    except SystemExit:
        pass
out["typer"] = T() - s - out.pop("_solve")
out["collector (in the items above)"] = gc_s[0]
out["count: collections"] = gc_n[0]
mods = [m for n, m in sys.modules.items() if n.startswith("sloplan") and m is not None]
out["count: sloplan modules"] = len(mods)
out["count: dataclasses"] = sum(1 for m in mods for v in vars(m).values()
                                if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == m.__name__)
out["_end"] = T()
print(json.dumps(out))
"""


def census() -> list[str]:
    """The sloplan modules a solve imports after `import sloplan.cli`, in import order (one warm-up run first)."""
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _CENSUS], cwd=REPO_ROOT, env=ENV, check=True,
                              capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_run(modules: list[str]) -> dict:
    """One child's items, plus its exit (the CPU after its last line, from os.wait4: module teardown and
    the interpreter's final collection) and its whole CPU time, so that the items add up to the process."""
    code = f"MODULES = {modules!r}\nQUICK = {QUICK_START!r}\n" + _TIMED
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    text = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = rc = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    child.stdout.close()
    if rc != 0:
        raise SystemExit(f"bench: the timed child exited {rc}")
    out = json.loads(text.strip().splitlines()[-1])
    total = usage.ru_utime + usage.ru_stime
    items = {k: v for k, v in out.items() if not k.startswith(("collector", "count", "_"))}
    items["interpreter exit"] = total - out["_end"]
    items["whole process (os.wait4)"] = total
    return {**items, **{k: v for k, v in out.items() if k.startswith(("collector", "count"))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes (the minimum per item is shown)")
    args = parser.parse_args()
    modules = census()
    runs = [timed_run(modules) for _ in range(args.repeats)]
    rows = []
    for key in runs[0]:
        values = [r[key] for r in runs]
        shown = f"{min(values)}" if key.startswith("count") else f"{min(values) * 1e3:.1f}"
        rows.append([key, shown])
    print(f"warm solve of {QUICK_START}, CPU ms of one fresh process, best of {args.repeats} per item "
          "(the front's points include the verified best plan's)")
    print(render_table(["item", "CPU ms"], rows))


if __name__ == "__main__":
    main()
