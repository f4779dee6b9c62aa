"""Leave-one-out accuracy of perfdb's interpolation on the dense silicon tables.

For each table (GEMM per dtype, context attention, generation attention, custom all-reduce) on
h100_sxm / h200_sxm / b200_sxm with TRT-LLM and vLLM, sample measured cells (fixed seed), remove each one
and re-estimate it the way the grid fill would (perfdb.grid.leave_one_out). Prints the median and p90
absolute relative latency error, split into interior (bracketed by measured neighbours on an axis) and
frontier (held from the nearest measured neighbour).

Run: .venv/bin/python bench/perfdb_loo.py [--samples 300]
"""
from __future__ import annotations

import argparse

import numpy as np

from sloplan.perfdb import load_perfdb
from sloplan.perfdb.fill import leave_one_out
from sloplan.perfdb.tables import fill_scheme, node_log_sol

SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm"]
BACKENDS = ["trtllm", "vllm"]


def table_groups(db) -> dict[str, list[str]]:
    """Grid names grouped per reported table: gemm/<dtype>, ctx (all slices), gen, ar/custom."""
    groups: dict[str, list[str]] = {}
    for name in db.grid_names():
        fam = name.split("/")[0]
        key = name if fam == "gemm" or name == "ar/custom" else fam
        if name != "ar/nccl":
            groups.setdefault(key, []).append(name)
    return groups


def loo_errors(db, names: list[str], samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Relative errors and interior flags for `samples` cells drawn across the grids in `names`."""
    sizes = np.array([len(np.unique(db._sparse[n].flat)) for n in names], dtype=float)
    picks = rng.choice(len(names), size=samples, p=sizes / sizes.sum())
    errs, inner = [], []
    for gi, name in enumerate(names):
        count = int((picks == gi).sum())
        if not count:
            continue
        sg = db._sparse[name]
        uniq = np.unique(sg.flat)
        cells = rng.choice(uniq, size=min(count, len(uniq)), replace=False)
        log_sol = node_log_sol(db.system, name, sg.axes)  # attention: batch / seq filled in latency space
        est, bracketed = leave_one_out(sg.axes, sg.flat, sg.lu, sg.fill_order, cells, log_sol=log_sol,
                                       scheme=fill_scheme(name, sg.axes))
        truth = np.array([sg.lu[sg.flat == c].mean() for c in cells])
        ok = ~np.isnan(est)
        errs.append(np.abs(np.exp(truth[ok] - est[ok]) - 1.0))
        inner.append(bracketed[ok])
    return np.concatenate(errs), np.concatenate(inner)


def fmt(e: np.ndarray) -> str:
    if not len(e):
        return "      –        "
    return f"{100 * np.median(e):5.1f}% {100 * np.percentile(e, 90):6.1f}% ({len(e):3d})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{'system':9} {'backend':7} {'table':15} {'interior med p90 (n)':24} {'frontier med p90 (n)':24}")
    pooled: dict[str, list] = {}
    for system in SYSTEMS:
        for backend in BACKENDS:
            db = load_perfdb(system, backend)
            db.store.ensure("mla")  # read on first use; this benchmark scores its grids too
            for table, names in sorted(table_groups(db).items()):
                rng = np.random.default_rng(args.seed)
                err, inner = loo_errors(db, names, args.samples, rng)
                print(f"{system:9} {backend:7} {table:15} {fmt(err[inner]):24} {fmt(err[~inner]):24}")
                fam = table.split("/")[0] if table.startswith("gemm") else table
                pooled.setdefault(fam, []).append((err, inner))
    print("\npooled over systems/backends (interior | frontier):")
    for fam, parts in pooled.items():
        err = np.concatenate([p[0] for p in parts])
        inner = np.concatenate([p[1] for p in parts])
        print(f"  {fam:10} interior {fmt(err[inner])}   frontier {fmt(err[~inner])}")


if __name__ == "__main__":
    main()
