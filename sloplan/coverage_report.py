"""`sloplan perfdb coverage`: every table a system has (shipped + overlay), its versions and dtypes, and
whether sloplan reads it — so no shipped family is skipped silently.

The list of tables and the read/unread verdict come from `sloplan.perfdb.coverage` (perfdb/coverage.py);
this module adds the dtypes (read from the newest version's file, one column each) and prints.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from sloplan.core.enums import BACKEND_NAMES

from .errors import InputError

BACKENDS = BACKEND_NAMES


@dataclass(frozen=True)
class CoverageRow:
    """One (family, table file, framework) of a system; `dtypes` are those of the newest version."""

    family: str
    table: str
    framework: str
    versions: tuple[str, ...]
    dtypes: tuple[str, ...]
    read_by_sloplan: bool
    read_by: str

    def to_dict(self) -> dict:
        return asdict(self)


def coverage_rows(system: str, backend: str | None = None) -> list[CoverageRow]:
    """Rows for `system`; with `backend`, only that framework plus the framework-independent ones (nccl)."""
    from sloplan.perfdb import UnknownSystem, load_system
    from sloplan.perfdb.source import system_data_dir

    try:
        spec = load_system(system)
    except UnknownSystem as exc:
        raise InputError("system", f"unknown system '{system}'; accepted: {', '.join(exc.accepted)}") from None
    root = system_data_dir(spec.silicon_dir, system)
    rows = []
    for c in _coverage(system, root):
        if backend and c.framework != backend and c.framework in BACKENDS:
            continue
        dtypes = _dtypes(root / c.family / c.framework / c.versions[-1] / c.table) if root else ()
        rows.append(CoverageRow(c.family, c.table, c.framework, tuple(c.versions), dtypes, c.read_by_sloplan,
                                getattr(c, "read_by", "")))
    return rows


def _coverage(system: str, root) -> list:
    """perfdb's coverage list; before perfdb/coverage.py existed, the same facts from the folder tree."""
    try:
        from sloplan.perfdb.coverage import coverage
    except ImportError:
        return _walk(root)
    return coverage(system)


def _walk(root) -> list:
    from sloplan.perfdb.versions import sort_versions

    read = {"gemm_perf.parquet", "context_attention_perf.parquet", "generation_attention_perf.parquet",
            "custom_allreduce_perf.parquet", "nccl_perf.parquet"}
    found: dict[tuple[str, str, str], list[str]] = {}
    for path in root.glob("*/*/*/*.parquet") if root else ():
        found.setdefault((path.parts[-4], path.name, path.parts[-3]), []).append(path.parts[-2])
    return [CoverageRow(fam, table, fw, tuple(sort_versions(v)), (), table in read, "")
            for (fam, table, fw), v in sorted(found.items())]


def _dtypes(path) -> tuple[str, ...]:
    """Distinct values of every `*_dtype` column of one table ("?" when the file cannot be read)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        cols = [c for c in pq.read_schema(path).names if c.endswith("_dtype")]
        table = pq.read_table(path, columns=cols)
    except Exception:  # a bad file is reported when a query reads it; here it is only listed
        return ("?",)
    seen: dict[str, None] = {}
    for col in cols:
        for value in pc.unique(table.column(col)).to_pylist():
            seen[str(value)] = None
    return tuple(seen)


def print_coverage(system: str, rows: list[CoverageRow]) -> None:
    from sloplan.perfdb import load_system

    console = Console(highlight=False, width=None if Console().is_terminal else 160)
    if not rows:
        donor = load_system(system).efficiency_donor
        console.print(f"{system}: no measured tables — roofline only"
                      + (f" (efficiencies from {donor})" if donor else ""))
        return
    for framework in sorted({r.framework for r in rows}, key=lambda f: (f not in BACKENDS, f)):
        t = Table(title=f"{system} · {framework}", title_justify="left")
        for col in ("family", "table", "versions", "dtypes (newest)", "read by sloplan"):
            t.add_column(col)
        for r in (r for r in rows if r.framework == framework):
            t.add_row(r.family, r.table.removesuffix(".parquet"), ", ".join(r.versions), ", ".join(r.dtypes),
                      (r.read_by or "yes") if r.read_by_sloplan else "no")
        console.print(t)
    unread = sorted({f"{r.family}/{r.table.removesuffix('.parquet')}" for r in rows if not r.read_by_sloplan})
    if unread:
        console.print(f"not read by sloplan yet ({len(unread)}): " + ", ".join(unread))
