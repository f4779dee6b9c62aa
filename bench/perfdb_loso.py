"""Leave-one-system-out accuracy of the roofline + learned-efficiency fallback.

For each op family (GEMM per dtype, context attention, generation attention) and each system with
silicon data, predict that system's measured latencies from the *other* systems only, plus its own specs:
latency = SOL_target(shape) / util, where util comes from the other systems in two ways:
  family  — the median util of the family over the other systems (what perfdb does for a GPU or a
            slice without data: SOL / median efficiency, tier ROOFLINE);
  shape   — the median over the other systems of the util measured at the same shape (same grid slice
            and coordinates), falling back to `family` where no other system has that shape.
Prints the median / p90 absolute relative latency error per family and system.

Run: .venv/bin/python bench/perfdb_loso.py [--backend trtllm]
"""
from __future__ import annotations

import argparse

import numpy as np

from sloplan.perfdb import data_versions, load_perfdb

SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300"]


def family_of(name: str) -> str | None:
    """Reported family of a grid name: gemm/<dtype>, ctx, gen (others are not part of this bench)."""
    fam = name.split("/")[0]
    if fam == "gemm":
        return name
    return fam if fam in ("ctx", "gen") else None


def cells(db) -> dict[str, dict[tuple, float]]:
    """Per family: (slice name, coordinates) → mean measured log-util (util in this system's own SOL)."""
    out: dict[str, dict[tuple, float]] = {}
    for name in db.grid_names():
        fam = family_of(name)
        if fam is None:
            continue
        sg = db._sparse[name]
        uniq, inv = np.unique(sg.flat, return_inverse=True)
        mean = np.bincount(inv.ravel(), weights=sg.lu) / np.bincount(inv.ravel())
        idx = np.unravel_index(uniq, tuple(len(a) for a in sg.axes))
        coords = np.stack([a[i] for a, i in zip(sg.axes, idx)], axis=1)
        table = out.setdefault(fam, {})
        for c, v in zip(map(tuple, coords.tolist()), mean.tolist()):
            table[(name,) + c] = v
    return out


def stats(err: np.ndarray) -> str:
    if not len(err):
        return f"{'–':>24}"
    return f"{100 * np.median(err):6.1f}% {100 * np.percentile(err, 90):7.1f}% ({len(err):6d})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="trtllm")
    args = ap.parse_args()
    data = {s: cells(load_perfdb(s, args.backend)) for s in SYSTEMS if data_versions(s, args.backend)}
    print(f"backend {args.backend}; error of SOL_target / util_from_other_systems (median p90 (cells))")
    print(f"{'family':15} {'system':9} {'family-median util':>26} {'same-shape util':>26}")
    families = sorted({f for d in data.values() for f in d})
    for fam in families:
        for target, tables in data.items():
            truth = tables.get(fam)
            others = [d[fam] for s, d in data.items() if s != target and fam in d]
            if not truth or not others:
                continue
            fam_lu = float(np.median([np.median(list(o.values())) for o in others]))
            keys = list(truth)
            t = np.array([truth[k] for k in keys])
            shape_lu = np.array([np.median([o[k] for o in others if k in o]) if any(k in o for o in others)
                                 else fam_lu for k in keys])
            e_fam = np.abs(np.exp(t - fam_lu) - 1.0)
            e_shape = np.abs(np.exp(t - shape_lu) - 1.0)
            print(f"{fam:15} {target:9} {stats(e_fam):>26} {stats(e_shape):>26}")


if __name__ == "__main__":
    main()
