"""Fit the framework constants of model/catalog/calibration.yaml on the development split only.

    .venv/bin/python bench/calibrate.py            # fit, print before/after, write the YAML
    .venv/bin/python bench/calibrate.py --dry-run  # fit and print, write nothing
    .venv/bin/python bench/calibrate.py --cv 5     # out-of-fold error inside the dev split
    .venv/bin/python bench/calibrate.py --split backend_version,model_path  # diagnostic, writes nothing
    .venv/bin/python bench/calibrate.py --moe      # the `moe:` block, on the MoE / MLA rows (also with --cv)

What is fitted (model/calibration.py): the ten constants of `Calibration`, per backend and per
(system, backend) with at least 20 rows. The loss is the mean absolute percentage error of TTFT
plus TPOT_WEIGHT times that of TPOT — the very figures bench/accuracy.py reports. Rows come from
silicon_sample.csv's dense aggregated rows whose id falls in the development split (design.md,
Contracts); held-out rows are dropped while reading, before any value of theirs is looked at.

`--split COLUMNS` fits finer groups, (system, backend) plus those silicon_sample.csv columns, e.g.
one set of constants per benchmark campaign. The estimator cannot use such keys; the in-sample error
they reach bounds what any choice of the ten constants can do with this model's structure.

`--moe` fits the same constants on the MoE / MLA aggregated rows of the development split instead, at
two more levels below (system, backend): the model's attention design, then the engine's GEMM format
within it (the expert kernels follow it), each where it has 20 rows, and writes them as calibration.yaml's
`moe:` block, which only models with expert layers read (model/calibration.py, Calibration.for_engine);
the dense entries are kept byte for byte, and a dense refit keeps the block. Attention-DP rows are solved
for one rank, as the estimator solves them.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares, minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import load_dev_agg, silicon_csv_path  # noqa: E402

from sloplan.model.aggregated import closed_loop, per_rank, replica_curves  # noqa: E402
from sloplan.model.calibration import _FILE, MOE_BLOCK, Calibration  # noqa: E402
from sloplan.estimation import configure, parse_row, row_config  # noqa: E402

MIN_ROWS_OWN_FIT = 20
TPOT_WEIGHT = 1.5  # the TPOT target (10 %) is tighter than the TTFT one (20 %)
PARAMS = ("kernel_scale", "step_overhead_s", "ttft_overhead_s", "queue_coef", "queue_exp", "tpot_mixed_weight",
          "prefill_scale", "request_overhead_s", "queue_load_exp", "frontend_s_per_token")
LOWER = np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0])
UPPER = np.array([2.0, 10e-3, 300e-3, 5.0, 1.5, 1.0, 3.0, 200e-6, 2.0, 300e-6])
# The MoE block's one more constant (model/calibration.py), fitted only where a partition has attention-DP
# rows: it moves nothing else. Bounded by 4x TRT-LLM's default timeout_iters.
MOE_PARAMS = (*PARAMS, "dp_wait_steps")
MOE_LOWER, MOE_UPPER = np.append(LOWER, 0.0), np.append(UPPER, 200.0)
# And one where a partition has rows that speculate (model/speculative.py): the MTP draft acceptance rate,
# a probability; it moves nothing on the other rows.
DRAFT_PARAM, DRAFT_LOWER, DRAFT_UPPER = "draft_accept_rate", 0.0, 1.0
DRAFT_START = 0.5  # where a partition's first fit of it starts (its parent has none)
MOE_BLOCK_PARAMS = (*MOE_PARAMS, DRAFT_PARAM)  # what the moe: block writes
NM_MAXITER = 3000  # the dense fit's Nelder-Mead budget
# The MoE fit's (`--moe`): its 2,000 rows cost 2.5x the dense ones per loss evaluation and its 5-fold CV
# must run on a shared 2-core machine, so one start (the parent level's constants), at most
# MOE_LS_STEPS least-squares steps and 100 Nelder-Mead iterations (in-sample 30.0 % / 18.6 % TTFT / TPOT
# MAPE with 200 iterations and unbounded least squares, 30.1 % / 18.8 % with this budget).
MOE_NM_MAXITER = 100
MOE_LS_STEPS = 6
START = Calibration(kernel_scale=1.0, step_overhead_s=0.5e-3, ttft_overhead_s=20e-3, queue_coef=0.5, queue_exp=0.5,
                    tpot_mixed_weight=0.8, prefill_scale=1.0, request_overhead_s=5e-6, queue_load_exp=0.5,
                    frontend_s_per_token=0.0)


def prepare(rows: list[dict], split: tuple[str, ...] = (), by_design: bool = False) -> list[dict]:
    """Price each configuration's step curves once (wide enough for all its rows' concurrencies); the fit
    then only re-solves the closed loop. Rows are grouped by (system, backend), plus the `split` columns
    when given. An attention-DP engine is solved for one rank, as the estimator does (model/aggregated.py
    per_rank): each row keeps its rank's concurrency and running cap, and its dp. `by_design` (the MoE
    fit): the model's attention design refines the group, as model/calibration.py reads it."""
    configs: dict[tuple, list[tuple[dict, float]]] = {}
    for row in rows:
        try:
            config = row_config(row)
            conc = float(parse_row(row).concurrency)  # the layout rules' concurrency (csv_layout.py)
        except (ValueError, KeyError, TypeError):
            continue
        configs.setdefault(tuple(sorted(config.items(), key=lambda kv: kv[0])), []).append((row, conc))
    out = []
    for config, members in configs.items():
        try:
            ctx, slot = configure(**dict(config))
        except (ValueError, KeyError, TypeError):
            continue
        engine, neutral = slot.engine, Calibration()
        conc_all, cap, _ = per_rank(engine, np.array([c for _, c in members]), slot.max_running, neutral)
        curves = replica_curves(ctx.arch, engine, ctx.db, ctx.fw, ctx.workload, conc_all, cap)
        for (row, _), rank_conc in zip(members, np.atleast_1d(conc_all)):
            design = [ctx.arch.attention.kind.value, engine.quant.gemm.value] if by_design else []
            part = "/".join([row["system"], row["backend"]] + design + [row[c] or "-" for c in split])
            out.append(dict(curves=curves, wl=ctx.workload, pp=engine.pp, conc=np.array([float(rank_conc)]), cap=cap,
                            dp=engine.dp, backend=row["backend"], part=part, id=row["id"],
                            draft=ctx.fw.draft_tokens,
                            moe=ctx.arch.mlp.moe is not None,
                            ttft=float(row["silicon_ttft_ms"]) / 1e3, tpot=float(row["silicon_tpot_ms"]) / 1e3))
    return out


def _solve(r: dict, c: Calibration, conc: np.ndarray | None = None):
    """The closed loop of one prepared row (or, with `conc`, of its configuration at those concurrencies)
    under constants `c`: one attention-DP rank's, as the estimator solves it."""
    if r["dp"] > 1:
        c = replace(c, frontend_s_per_token=c.frontend_s_per_token * r["dp"])
    return closed_loop(r["curves"], r["wl"], r["pp"], r["conc"] if conc is None else conc, r["cap"], c, r["dp"])


def predictions(prepped: list[dict], cals: dict[str, Calibration]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted TTFT and TPOT (s) of every row, one closed-loop solve per configuration and partition (the
    solve is vectorized over concurrency; a configuration's rows share their step curves)."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(prepped):
        groups.setdefault((id(r["curves"]), r["part"]), []).append(i)
    ttft, tpot = np.empty(len(prepped)), np.empty(len(prepped))
    for (_, part), idx in groups.items():
        m = _solve(prepped[idx[0]], cals[part], np.array([prepped[i]["conc"][0] for i in idx]))
        ttft[idx], tpot[idx] = m.ttft_s, m.tpot_s
    return ttft, tpot


def errors(prepped: list[dict], cals: dict[str, Calibration]) -> tuple[np.ndarray, np.ndarray]:
    """Absolute relative TTFT and TPOT errors of every row under the given per-partition constants."""
    ttft, tpot = predictions(prepped, cals)
    return (np.abs(ttft / np.array([r["ttft"] for r in prepped]) - 1),
            np.abs(tpot / np.array([r["tpot"] for r in prepped]) - 1))


def fit(prepped: list[dict], start: Calibration, maxiter: int = NM_MAXITER) -> Calibration:
    """The better of two local fits, one from `start` and one from the neutral START: Nelder-Mead
    in ten dimensions stops in local minima, and which start wins differs by partition."""
    starts = (start, START) if maxiter >= NM_MAXITER else (start,)  # the MoE fit: the parent's only
    fits = [fit_from(prepped, cap_start(prepped, s), maxiter) for s in dict.fromkeys(starts)]
    return min(fits, key=lambda c: loss_of(prepped, c))


def cap_start(prepped: list[dict], start: Calibration) -> Calibration:
    """`start` with the frontend cap that fits best on a coarse scan, the others kept: the loss is
    flat in the cap until it binds, so a local fit from a non-binding cap never finds one."""
    caps = [0.0, *(1 / np.geomspace(4e3, 4e4, 11))]
    return min((replace(start, frontend_s_per_token=float(v)) for v in caps), key=lambda c: loss_of(prepped, c))


def loss_of(prepped: list[dict], c: Calibration) -> float:
    """TTFT MAPE + TPOT_WEIGHT * TPOT MAPE: the reported figures."""
    et, ep = errors(prepped, {r["part"]: c for r in prepped})
    return float(et.mean() + TPOT_WEIGHT * ep.mean())


def fit_from(prepped: list[dict], start: Calibration, maxiter: int = NM_MAXITER) -> Calibration:
    """Robust least squares on log(pred/measured) (smooth, finds the basin), then Nelder-Mead on
    loss_of; parameters stay within sane bounds."""
    names, lower, upper = (MOE_PARAMS, MOE_LOWER, MOE_UPPER) if any(r["dp"] > 1 for r in prepped) else \
        (PARAMS, LOWER, UPPER)
    if any(r.get("draft") for r in prepped):
        names, lower, upper = (*names, DRAFT_PARAM), np.append(lower, DRAFT_LOWER), np.append(upper, DRAFT_UPPER)

    def cal_of(x: np.ndarray) -> Calibration:
        return replace(start, **dict(zip(names, map(float, np.clip(x, lower, upper)))))

    measured_ttft, measured_tpot = np.array([r["ttft"] for r in prepped]), np.array([r["tpot"] for r in prepped])

    def log_residuals(x: np.ndarray) -> np.ndarray:
        ttft, tpot = predictions(prepped, {r["part"]: cal_of(x) for r in prepped})
        return np.concatenate([np.log(ttft / measured_ttft), TPOT_WEIGHT * np.log(tpot / measured_tpot)])

    def loss(x: np.ndarray) -> float:
        return loss_of(prepped, cal_of(x))

    x0 = np.clip([getattr(start, k) or DRAFT_START if k == DRAFT_PARAM else getattr(start, k) for k in names],
                 lower + 1e-9, upper - 1e-9)
    steps = MOE_LS_STEPS if maxiter < NM_MAXITER else None  # the MoE fit's budget (see MOE_NM_MAXITER)
    x0 = least_squares(log_residuals, x0, bounds=(lower, upper), loss="soft_l1", f_scale=0.3, max_nfev=steps).x
    res = minimize(loss, x0, method="Nelder-Mead", options=dict(maxiter=maxiter, xatol=1e-6, fatol=1e-6))
    return cal_of(res.x)


def to_yaml(fitted: dict[str, Calibration], indent: str = "", names: tuple[str, ...] = PARAMS) -> str:
    """One entry per backend (the fallback for systems without their own) and per system/backend."""
    lines = []
    for key, c in sorted(fitted.items()):
        lines.append(f"{indent}{key}:")
        lines += [f"{indent}  {k}: {getattr(c, k):.6g}" for k in names]
    return "\n".join(lines) + "\n"


HEADER = ("# Fitted by bench/calibrate.py on the development split of silicon_sample.csv (dense, agg).\n"
          "# Do not edit by hand: rerun the script.\n")
MOE_HEADER = (f"# {MOE_BLOCK}: fitted by bench/calibrate.py --moe on the development split's MoE / MLA agg rows only;\n"
              "# read for models with expert layers, on top of the dense entries above (model/calibration.py).\n"
              f"{MOE_BLOCK}:\n")


def _split_file(text: str) -> tuple[str, str]:
    """(dense part, moe block) of calibration.yaml's text, each as written."""
    at = text.find(MOE_HEADER.splitlines()[0])
    return (text, "") if at < 0 else (text[:at], text[at:])


def new_file(fitted: dict[str, Calibration], moe: bool) -> str:
    """calibration.yaml with one part refit and the other kept as it is, byte for byte."""
    dense, moe_block = _split_file(_FILE.read_text() if _FILE.exists() else "")
    if moe:
        return dense + MOE_HEADER + to_yaml(fitted, indent="  ", names=MOE_BLOCK_PARAMS)
    return HEADER + to_yaml(fitted) + moe_block


def report(name: str, rows: list[dict], before: dict, after: dict) -> None:
    b, a = errors(rows, before), errors(rows, after)
    print(f"{name:18s} n={len(rows):4d}  TTFT MAPE {b[0].mean():6.1%} -> {a[0].mean():6.1%}   "
          f"TPOT MAPE {b[1].mean():6.1%} -> {a[1].mean():6.1%}")


def fit_all(prepped: list[dict], verbose: bool, maxiter: int = NM_MAXITER) -> dict[str, Calibration]:
    """Constants per backend, then per (system, backend), then per finer group (`--split`), each
    level where a group has enough rows and starting from its parent's constants; the independent
    fits of one level run in parallel processes."""
    fitted: dict[str, Calibration] = {}
    for level in range(max(len(_keys(r)) for r in prepped)):
        groups: dict[str, list[dict]] = {}
        for r in prepped:
            keys = _keys(r)
            if level < len(keys):
                groups.setdefault(keys[level], []).append(r)
        groups = {k: rs for k, rs in sorted(groups.items()) if level == 0 or len(rs) >= MIN_ROWS_OWN_FIT}
        starts = [_parent(fitted, rs[0], level) if level else start_for(rs) for rs in groups.values()]
        fitted |= dict(zip(groups, _pmap(fit, list(groups.values()), starts, [maxiter] * len(groups))))
        for k, rs in groups.items() if verbose else ():
            parent = {r["part"]: _parent(fitted, r, level) if level else Calibration() for r in rs}
            report("  " * level + k, rs, parent, {r["part"]: fitted[k] for r in rs})
    return fitted


def _parent(fitted: dict[str, Calibration], r: dict, level: int) -> Calibration:
    """The most specific constants fitted above `level` for row `r` (a group too small for its own fit
    reads its parent's, as model/calibration.py does)."""
    return next(fitted[k] for k in reversed(_keys(r)[:level]) if k in fitted)


def start_for(rows: list[dict]) -> Calibration:
    """The first level's start: START, composed as model/calibration.py composes these rows' constants
    (the MoE block's prefill_in_steps)."""
    return replace(START, prefill_in_steps=any(r["moe"] for r in rows))


def _keys(r: dict) -> list[str]:
    """A row's group at each level, most general first: backend, system/backend, then each finer group
    (the MoE fit: the attention design, then the engine's GEMM format within it)."""
    parts = r["part"].split("/")
    return [r["backend"]] + ["/".join(parts[:n]) for n in range(2, len(parts) + 1)]


def constants_for(fitted: dict[str, Calibration], prepped: list[dict]) -> dict[str, Calibration]:
    """Each row's most specific fitted constants, keyed by its group (what `errors` takes)."""
    return {r["part"]: next(fitted[k] for k in reversed(_keys(r)) if k in fitted) for r in prepped}


def _pmap(fn, *args) -> list:
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(fn, *args))


def cross_validate(prepped: list[dict], folds: int, maxiter: int = NM_MAXITER) -> None:
    """K-fold inside the development split: fit on K-1 folds, score the unseen fold, pool the errors.
    This estimates how the fitted constants do on rows they were not fitted on."""
    fold_of = {r["id"]: int(hashlib.sha256(("cv" + r["id"]).encode()).hexdigest()[:8], 16) % folds for r in prepped}
    et, ep = [], []
    for k in range(folds):
        train = [r for r in prepped if fold_of[r["id"]] != k]
        test = [r for r in prepped if fold_of[r["id"]] == k]
        fitted = fit_all(train, verbose=False, maxiter=maxiter)
        t, p = errors(test, constants_for(fitted, test))
        et.append(t)
        ep.append(p)
        print(f"fold {k}: n={len(test)}  TTFT MAPE {t.mean():.1%}  TPOT MAPE {p.mean():.1%}")
    et, ep = np.concatenate(et), np.concatenate(ep)
    print(f"{folds}-fold cross-validated on the dev split: n={len(et)}  TTFT MAPE {et.mean():.1%}  "
          f"TPOT MAPE {ep.mean():.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold cross-validation only; writes nothing")
    ap.add_argument("--split", default="", metavar="COLUMNS",
                    help="comma-separated silicon_sample.csv columns that refine the groups; writes nothing")
    ap.add_argument("--moe", action="store_true",
                    help="fit the `moe:` block on the MoE / MLA agg rows instead (the dense entries stay as they are)")
    args = ap.parse_args(argv)
    _, dense_rows, moe_rows = load_dev_agg(silicon_csv_path())
    prepped = prepare(moe_rows if args.moe else dense_rows, tuple(c for c in args.split.split(",") if c), args.moe)
    if args.cv:
        cross_validate(prepped, args.cv, MOE_NM_MAXITER if args.moe else NM_MAXITER)
        return 0
    fitted = fit_all(prepped, verbose=True, maxiter=MOE_NM_MAXITER if args.moe else NM_MAXITER)
    et, ep = errors(prepped, constants_for(fitted, prepped))
    print(f"all: n={len(et)}  TTFT MAPE {et.mean():.1%}  TPOT MAPE {ep.mean():.1%}")
    if args.split:
        return 0
    text = new_file(fitted, args.moe)
    print(text)
    if not args.dry_run:
        _FILE.write_text(text)
        print(f"wrote {_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
