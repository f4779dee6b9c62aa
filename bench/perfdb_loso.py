"""Leave-one-system-out accuracy of the ROOFLINE fallback (a system or slice without data).

For each system with silicon data, hide its tables and predict its measured latencies from a *donor*
chosen by the catalog's rule (`fallback.pick_donor`: nearest HBM bandwidth and FLOP/byte balance among
the other systems with data for the backend) plus the target's own specs:
  median — SOL_target / the donor's median util of the same slice (perfdb before the per-shape fallback;
           the donor's family median where it lacks the slice);
  util   — SOL_target / the donor's util at the same shape: its own filled grid of the same slice,
           interpolated at the target cell's coordinates;
  shipped — the donor's latency at that shape moved by the roofline ratio, latency_d · (SOL_t/SOL_d)^a
           with a = min(1, util_d) (`fallback.transfer_latency`, what perfdb's ROOFLINE tier does now): a
           launch-bound shape (low util) keeps the donor's latency, a saturated one scales with the
           roofline — compute/bandwidth balance enters through SOL_t/SOL_d. Exponent rules measured
           (pooled median / p90 over cells the donor has): a = 1 (util) 9.8/46.3 %, a = 0 (latency)
           6.0/34.9 %, min(1, u/0.5) 6.6/28.7 %, min(1, u/0.25) 7.4/34.0 %, min(1, u) 5.5/27.7 % (shipped).
Absolute relative latency error, median / p90 (cells). Families: GEMM per dtype, context and generation
attention (bf16 KV, every head geometry and window slice).

Families: also MLA (kernel, module, BMM), NCCL, custom all-reduce and MoE all-to-all grids (per-shape
donor transfer now covers them). `--siblings`: a missing dtype slice on a GPU with data, predicted from a
sibling dtype slice of the same GPU at the same shape (fallback.DTYPE_SIBLINGS).

Run: .venv/bin/python bench/perfdb_loso.py [--backend trtllm] [--systems h100_sxm,h200_sxm] [--siblings]
"""
from __future__ import annotations

import argparse

import numpy as np

from sloplan.perfdb import PerfDB, data_versions, load_perfdb, load_system
from sloplan.perfdb.fallback import pick_donor, slice_sol_s, transfer_latency

SYSTEMS = ["h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300", "a100_sxm", "l40s",
           "rtx_pro_6000_server"]


FAMILIES = ("ctx", "gen", "mla_ctx", "mla_gen", "mla_ctx_module", "mla_gen_module", "mla_bmm", "nccl", "ar", "a2a")


def family_of(name: str) -> str | None:
    fam = name.split("/")[0]
    if fam == "gemm":
        return name
    return fam if fam in FAMILIES else None


def measured_cells(db, name: str):
    """(coords per axis, mean measured log-util) of one slice's measured cells."""
    sg = db._sparse[name]
    uniq, inv = np.unique(sg.flat, return_inverse=True)
    mean = np.bincount(inv.ravel(), weights=sg.lu) / np.bincount(inv.ravel())
    idx = np.unravel_index(uniq, tuple(len(a) for a in sg.axes))
    return [a[i] for a, i in zip(sg.axes, idx)], mean


def predict(target, donor, name: str, coords):
    """log-util predicted for the target's cells by each method (in the target's SOL)."""
    fam = name.split("/")[0]
    med = donor.eff.get(name, donor.eff.get(fam))
    lu_median = np.full(len(coords[0]), np.log(med))
    grid = donor.grid(name)
    if grid is None:
        return lu_median, lu_median, lu_median
    lu_d, _ = grid.query(list(coords))
    sol_t = slice_sol_s(target.system, name, coords)
    sol_d = slice_sol_s(donor.system, name, coords)
    return lu_median, lu_d, np.log(sol_t / transfer_latency(sol_t, sol_d, np.exp(lu_d)))


def stats(err: np.ndarray) -> str:
    if not len(err):
        return f"{'–':>24}"
    return f"{100 * np.median(err):6.1f}% {100 * np.percentile(err, 90):7.1f}% ({len(err):6d})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="trtllm")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--siblings", action="store_true",
                    help="instead: hide one dtype slice on a GPU with data, predict it from a sibling dtype")
    args = ap.parse_args()
    if args.siblings:
        return siblings(args)
    systems = [s for s in args.systems.split(",") if data_versions(s, args.backend)]
    dbs = {s: load_perfdb(s, args.backend) for s in systems}
    for db in dbs.values():
        db.store.ensure("mla")  # read on first use; this benchmark scores its grids too
    print(f"backend {args.backend}; error of SOL_target / util borrowed from the donor (median p90 (cells))")
    print(f"{'family':15} {'system':19} {'donor':19} {'median util (before)':>26} {'same-shape util':>26}"
          f" {'shipped (lat·SOL ratio^u)':>26}")
    pooled: dict[str, list] = {}
    rows = []
    for target in systems:
        donor_name = pick_donor(load_system(target), [s for s in systems if s != target])
        tdb, ddb = dbs[target], dbs[donor_name]
        per_fam: dict[str, list] = {}
        for name in tdb.grid_names():
            fam = family_of(name)
            if fam is None:
                continue
            coords, lu_t = measured_cells(tdb, name)
            preds = predict(tdb, ddb, name, coords)
            per_fam.setdefault(fam, []).append([np.abs(np.exp(lu_t - p) - 1.0) for p in preds])
        for fam in sorted(per_fam):
            errs = [np.concatenate([e[i] for e in per_fam[fam]]) for i in range(3)]
            rows.append((fam, target, donor_name, errs))
            for i, key in enumerate(("median", "util", "shipped")):
                pooled.setdefault(key, []).append(errs[i])
    for fam, target, donor_name, errs in sorted(rows):
        print(f"{fam:15} {target:19} {donor_name:19} " + " ".join(f"{stats(e):>26}" for e in errs))
    print("pooled: " + "   ".join(f"{k} {stats(np.concatenate(v))}" for k, v in pooled.items()))


def siblings(args) -> None:
    """Missing dtype slice on a GPU *with* data (fallback.DTYPE_SIBLINGS): predict each measured cell of a
    GEMM / MLA BMM dtype slice from the first sibling dtype slice this GPU has, at the same shape.
    median = SOL / median util of the family's other slices (perfdb before); util = SOL_t / util_sibling;
    shipped = `_sibling_lookup` itself: the most densely collected sibling, latency_sibling · (SOL_t /
    SOL_sibling)^min(1, util_sibling) where the sibling grid is not ROOFLINE, else the family median."""
    from sloplan.perfdb.fallback import hardware_has, sibling_names

    print(f"backend {args.backend}; missing dtype slice predicted from a sibling dtype (median p90 (cells))")
    print(f"{'slice':24} {'system':19} {'sibling':14} {'family median':>26} {'sibling util':>26} {'shipped':>26}")
    pooled: dict[str, list] = {}
    for target in [s for s in args.systems.split(",") if data_versions(s, args.backend)]:
        db = load_perfdb(target, args.backend)
        db.store.ensure("mla")
        for name in db.grid_names():
            sibs = [(n, d, own) for n, d, own in sibling_names(name) if n in db._sparse]
            if not sibs or not hardware_has(db.system, sibs[0][2]):
                continue
            sib_name = max(sibs, key=lambda t: np.unique(db._sparse[t[0]].flat).size)[0]
            coords, lu_t = measured_cells(db, name)
            fam = name.split("/")[0]
            others = [db._sparse[n].lu for n in db.grid_names() if n.split("/")[0] == fam and n != name]
            p_med = np.full(len(lu_t), np.median(np.concatenate(others)))
            lu_s, _ = db.grid(sib_name).query(list(coords))
            sol_t = slice_sol_s(db.system, name, coords)
            hidden = PerfDB(db.system, db.backend, db.version, {n: g for n, g in db._sparse.items() if n != name},
                            dict(db.lanes), {n: e for n, e in db.eff.items() if n != name and n != fam})
            hidden.eff[fam] = float(np.exp(p_med[0]))
            lk = hidden.fallback.sibling_lookup(name, list(coords), sol_t, lambda d, db=db, name=name, sibs=sibs,
                                        coords=coords: slice_sol_s(
                db.system, name.replace(f"/{sibs[0][2]}", f"/{d}"), coords))
            p_ship = np.log(sol_t / lk.latency_s)
            errs = [np.abs(np.exp(lu_t - p) - 1.0) for p in (p_med, lu_s, p_ship)]
            print(f"{name:24} {target:19} {sib_name.split('/')[-1]:14} " + " ".join(f"{stats(e):>26}" for e in errs))
            for key, e in zip(("median", "util", "shipped"), errs):
                pooled.setdefault(key, []).append(e)
    print("pooled: " + "   ".join(f"{k} {stats(np.concatenate(v))}" for k, v in pooled.items()))


if __name__ == "__main__":
    main()
