"""Helpers shared by the benchmark scripts in bench/.

Kept free of sloplan imports on purpose: the benchmarks drive sloplan through its CLI, as a user
would, so they measure whole-process behaviour and keep working while the packages change.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_dev_row(row_id: str) -> bool:
    """True for rows of the development split (design.md, Contracts: Accurate).

    The other fifth of silicon_sample.csv is held out for independent evaluation, so every script
    must drop those rows before it looks at any of their values.
    """
    return int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16) % 5 != 0


def find_sloplan(explicit: str | None = None) -> str:
    """Path of the `sloplan` executable: the one next to this Python first, then PATH.

    Preferring the interpreter's own bin/ makes `.venv/bin/python bench/x.py` use that venv's
    editable install even when another sloplan is on PATH.
    """
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "sloplan"
    if beside.exists():
        return str(beside)
    on_path = shutil.which("sloplan")
    if on_path:
        return on_path
    raise SystemExit("bench: cannot find the `sloplan` executable (pip install -e . first, or pass --sloplan)")


def median(values: list[float]) -> float | None:
    """Median, or None for an empty list (a tool that never ran successfully)."""
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str = ".2f", missing: str = "-") -> str:
    """Format a number, or a placeholder when the figure could not be measured."""
    return missing if value is None else format(value, spec)


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text table, left-aligned first column, right-aligned figures (no extra dependency)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def last_line(text: str) -> str:
    """The last non-empty line of a process's output: usually its error message."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"
