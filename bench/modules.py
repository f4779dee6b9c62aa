"""Modules a warm dense solve executes: the sloplan modules, and all of them, from one in-process run.

A solve should import what it runs and nothing more (issue 11: "the number of library modules a warm
dense solve executes drops"). This script runs the quick start once through the console script's entry point
(sloplan/command.py, which then runs sloplan.cli) in a
fresh interpreter (after a warm-up process fills the perf-table cache), then prints how many
`sloplan.*` modules and how many modules in all are in sys.modules, and which heavy libraries were
imported, so before/after figures can be compared.

    .venv/bin/python bench/modules.py            # counts and heavy libraries
    .venv/bin/python bench/modules.py --list     # also every sloplan module, sorted
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import REPO_ROOT

QUICK_START = "instances/qwen3-32b-fp8-h200-trtllm.yaml"
HEAVY = ("scipy", "pyarrow", "matplotlib", "pandas", "numpy.ma", "aiconfigurator", "torch")

# Runs in the child: the CLI's own entry point, output discarded, then the module census as JSON.
_PROBE = f"""
import contextlib, io, json, sys
sys.argv = ["sloplan", "solve", {QUICK_START!r}]
from sloplan.command import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
mods = sorted(sys.modules)
print(json.dumps({{"code": code, "modules": mods}}))
"""


def census() -> dict:
    """The child's exit code of the solve and its sorted module names, after one warm-up solve."""
    subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def library_modules() -> int:
    """Modules of a process that only imports the libraries (bench/startup.py's reference)."""
    code = "import json, sys; import numpy, highspy, yaml, typer, rich, pydantic; print(len(sys.modules))"
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every sloplan module imported")
    args = parser.parse_args()
    doc = census()
    mods = doc["modules"]
    ours = [m for m in mods if m == "sloplan" or m.startswith("sloplan.")]
    heavy = [h for h in HEAVY if h in mods]
    print(f"warm solve of {QUICK_START} (exit {doc['code']}), in-process via sloplan.command:main")
    print(f"sloplan modules: {len(ours)}")
    print(f"all modules:     {len(mods)} (a process importing just its libraries: {library_modules()})")
    print(f"heavy libraries imported: {', '.join(heavy) or 'none'}")
    if args.list:
        print("\n".join(ours))


if __name__ == "__main__":
    main()
