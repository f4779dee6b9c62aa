"""`--export model.lp|model.mps`: the target checked before the solve, the file written whole or not at all.

The solver writes the model to a private temporary directory; its bytes then go to the target by
`outfile.atomic_write`, so a failure (or Ctrl-C) leaves the target as it was, as for --plot and --out.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

from .errors import InputError, shown_path
from .outfile import atomic_write, check_target

FORMATS = (".lp", ".mps")


def check_export_target(path: Path | None, tolerance: float | None = None) -> Path | None:
    """The path, once it is writable and ends in .lp or .mps (InputError naming `export` otherwise);
    `tolerance` (the compact model's) needs a path and is a finite number ≥ 0."""
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
        raise InputError("export_tolerance", f"out of range (got {tolerance!r}); accepted: a relative tolerance "
                                             "≥ 0, e.g. 0.01")
    if path is None:
        if tolerance is not None:
            raise InputError("export_tolerance", "given without --export; accepted: with --export model.lp|.mps")
        return None
    check_target("export", path)
    if path.suffix.lower() not in FORMATS:
        got = f"extension {shown_path(path.suffix)}" if path.suffix else "no extension"
        raise InputError("export", f"model format from the file's extension ({got}); accepted: .lp, .mps")
    return path


def write_export(table, total_gpus: int, slo, path: Path, tolerance: float | None = None) -> tuple[int, int]:
    """Write the best-plan model (solver/export.py; compact with a tolerance) to `path` atomically; its
    (rows, columns)."""
    from sloplan.solver.export import export_best_model

    with tempfile.TemporaryDirectory(prefix="sloplan-export-") as tmp:
        staged = Path(tmp) / f"model{path.suffix.lower()}"
        size = export_best_model(table, total_gpus, slo, staged, tolerance)
        data = staged.read_bytes()
    atomic_write("export", path, lambda f: f.write(data), binary=True)
    return size


def write_disagg_export(instance, path: Path) -> tuple[int, int]:
    """Write the disaggregated best-plan model (solver/disagg_export.py) to `path` atomically."""
    from sloplan.solver.disagg_export import export_disagg_model

    with tempfile.TemporaryDirectory(prefix="sloplan-export-") as tmp:
        staged = Path(tmp) / f"model{path.suffix.lower()}"
        size = export_disagg_model(instance, staged)
        data = staged.read_bytes()
    atomic_write("export", path, lambda f: f.write(data), binary=True)
    return size
