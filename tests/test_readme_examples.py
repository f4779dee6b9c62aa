"""The README's example outputs are what the commands print today (docs/readme_examples.py --check)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples_are_current():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "readme_examples.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, "README.md is stale; run python docs/readme_examples.py\n" + done.stdout[-4000:]
