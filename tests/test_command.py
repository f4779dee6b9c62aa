"""The console script's process settings (sloplan/command.py): set by its entry point, not by importing sloplan."""
import subprocess
import sys

_PROBE = """
import gc, sys
import sloplan.command as command
import sloplan.cli
seen = {}
def run():  # stands in for the CLI: what the entry point has set up by the time the CLI runs
    seen["frozen"], seen["gen0"], seen["on"] = gc.get_freeze_count(), gc.get_threshold()[0], int(gc.isenabled())
before = gc.get_freeze_count(), gc.get_threshold()[0]
sloplan.cli.main = run
command.main()
print(before[0], before[1], seen["frozen"], seen["gen0"], seen["on"])
"""


def test_entry_point_freezes_the_cli_imports_and_collects_again_before_the_cli_runs():
    out = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True).stdout
    frozen_before, gen0_before, frozen, gen0, on = map(int, out.split())
    assert frozen_before == 0 and gen0_before < 10_000  # importing sloplan (a library user) changes neither
    assert frozen > 10_000  # the modules, functions and classes of ~320 imported modules
    assert gen0 >= 10_000 and on  # collecting again (only the imports ran with the collector off)
