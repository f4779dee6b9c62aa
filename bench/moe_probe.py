"""MoE op decomposition on the development split: TTFT/TPOT MAPE per system/backend on the agg rows of the
GQA MoE families (Qwen3-MoE, gpt-oss, MiniMax-M2, Mixtral), before solve/estimate accept them.

    SLOPLAN_CACHE_DIR=... .venv/bin/python bench/moe_probe.py [--by model] [--csv OUT]

Calls the estimator directly (model/aggregated.py with model/moe_ops.py), with each row's layout as the
row states it: tp_size, attention_dp_size (empty = 1; see attention_dp for vLLM), moe_tp_size, moe_ep_size,
batch_size as the closed-loop concurrency; the row's gemm_quant_mode where the GPU computes in it, else the
checkpoint's.
The running cap is the estimator's own: model/moe_memory.py's KV budget per GPU (model/memory.py memory_plan). Rows with
tp_size 64 / 72 are skipped (a data defect handled elsewhere). The peer's predictions
(../shared/data/peer-predictions-dev.csv) are scored on the rows both tools predicted ("both %"), ours
beside them on the same rows. Only dev rows are read (bench/_common.py
is_dev_row runs first, row by row); nothing here is fitted: the shipped calibration is used as the estimator
uses it for MoE models (the `moe:` block of model/catalog/calibration.yaml over the dense entries).
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, is_dev_row, render_table  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
import numpy as np  # noqa: E402

from sloplan.model.aggregated import aggregated  # noqa: E402
from sloplan.model.calibration import calibration  # noqa: E402
from sloplan.model.catalog import resolve_model  # noqa: E402
from sloplan.model.engine import Engine  # noqa: E402
from sloplan.model.framework import framework  # noqa: E402
from sloplan.model.memory import kv_tokens_per_request, memory_plan
from sloplan.model.moe_ops import moe_ops_estimate  # noqa: E402
from sloplan.model.ops import source_label  # noqa: E402
from sloplan.model.quant import GemmQuant, Quant  # noqa: E402
from sloplan.model.workload import Workload  # noqa: E402
from sloplan.perfdb import Tier, load_perfdb, nearest_version  # noqa: E402

# ../shared beside the repository (bench/accuracy.py's default), else beside a worktree's parent folder
PEER = next((p for p in (REPO_ROOT.parent / "shared" / "data" / "peer-predictions-dev.csv",
                         REPO_ROOT.parent.parent / "shared" / "data" / "peer-predictions-dev.csv") if p.exists()),
            REPO_ROOT.parent / "shared" / "data" / "peer-predictions-dev.csv")
FAMILIES = ("qwen3-30b-a3b", "qwen3-235b-a22b", "gpt-oss", "minimax", "mixtral")
SKIP_TP = {64, 72}


def sample_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("aiconfigurator_core")
    return Path(list(spec.submodule_search_locations)[0]) / "systems" / "silicon_sample.csv"


def dev_rows() -> list[dict]:
    with sample_path().open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if is_dev_row(r["id"])]
    return [r for r in rows if r["mode"] == "agg" and any(f in r["model_path"].lower() for f in FAMILIES)
            and int(r["tp_size"] or 1) not in SKIP_TP]


def _int(row: dict, col: str) -> int:
    return int(float(row[col])) if row[col] else 1


def attention_dp(r: dict) -> int:
    """The row's attention-DP size. A vLLM row that leaves it empty while its MoE layers span more GPUs than
    its TP (tp 1 with moe_tp 2) ran data parallel: vLLM's MoE layers form one TP (or, with
    --enable-expert-parallel, EP) group of TP x DP GPUs, so DP = moe_tp x moe_ep / tp."""
    tp, moe = _int(r, "tp_size"), _int(r, "moe_tp_size") * _int(r, "moe_ep_size")
    if not r["attention_dp_size"] and r["backend"] == "vllm" and moe > tp and moe % tp == 0:
        return moe // tp
    return _int(r, "attention_dp_size")


def config_key(r: dict) -> tuple:
    return (r["model_path"], r["system"], r["backend"], r["backend_version"], r["gemm_quant_mode"], r["isl"], r["osl"],
            _int(r, "tp_size"), _int(r, "pp_size"), attention_dp(r), _int(r, "moe_tp_size"),
            _int(r, "moe_ep_size"))


def predict(key: tuple, concurrency: list[int]):
    """(ttft_s, tpot_s, tier, source label) at each concurrency of one configuration."""
    model, system, backend, version, quant, isl, osl, tp, pp, dp, moe_tp, moe_ep = key
    arch = resolve_model(model, estimable=False)
    if not moe_ops_estimate(arch):
        raise ValueError(f"{arch.architecture} is not priced by model/moe_ops.py")
    db = load_perfdb(system, backend, nearest_version(system, backend, version) if version else None)
    gemm = GemmQuant(quant) if quant in {g.value for g in GemmQuant} else arch.checkpoint_quant
    if gemm.compute_dtype not in db.system.flops_per_s:
        gemm = arch.checkpoint_quant
    engine = Engine(tp, pp, Quant.default_for(gemm), dp=dp, moe_tp=moe_tp, moe_ep=moe_ep)
    fw, wl = framework(backend).profile, Workload(int(isl), int(osl))
    cap = memory_plan(arch, engine, db.system, fw).max_requests(
        kv_tokens_per_request(arch, wl.isl, wl.osl, fw.reserve_per_request_osl))
    if cap < dp:
        raise ValueError(f"{engine.label}: the KV budget holds no request per rank")
    cal = calibration(backend, system, moe=True, design=arch.attention.kind)  # as sloplan/context.py reads it
    m = aggregated(arch, engine, db, fw, wl, np.array(concurrency), cap, cal)
    return [(float(a), float(b), int(t), source_label(t, s))
            for a, b, t, s in zip(m.ttft_s, m.tpot_s, m.tier, m.source)]


def run(rows: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[config_key(r)].append(r)
    out = []
    for key, members in groups.items():
        try:
            preds = predict(key, [_int(r, "batch_size") for r in members])
        except Exception as exc:  # a probe: every failure is a row not predicted, reported by kind
            preds = [(math.nan, math.nan, -1, f"{type(exc).__name__}: {exc}"[:120])] * len(members)
        for r, (ttft, tpot, tier, source) in zip(members, preds):
            out.append({**r, "pred_ttft_ms": ttft * 1e3, "pred_tpot_ms": tpot * 1e3, "tier": tier, "source": source})
    return out


def _ape(pred: float, true: str) -> float:
    return abs(pred - float(true)) / float(true) * 100


def peer_predictions() -> dict[str, tuple[float, float]]:
    """The peer's (TTFT, TPOT) ms by row id, where it predicted the row (empty when the file is absent)."""
    if not PEER.exists():
        return {}
    with PEER.open(newline="") as fh:
        return {r["id"]: (float(r["pred_ttft_ms"]), float(r["pred_tpot_ms"])) for r in csv.DictReader(fh)
                if r["pred_ttft_ms"] and r["pred_tpot_ms"]}


def _mape(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f}" if values else "-"


def table(preds: list[dict], by: str) -> str:
    peer = peer_predictions()
    parts = defaultdict(list)
    for p in preds:
        label = p["model_path"].split("/")[-1] if by == "model" else f"{p['system']}/{p['backend']}"
        parts[label].append(p)
    parts["all"] = preds
    body = []
    for label, ps in sorted(parts.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        ok = [p for p in ps if math.isfinite(p["pred_ttft_ms"])]
        theirs = [(peer[p["id"]], p) for p in ok if p["id"] in peer]  # rows both predicted
        roof = sum(p["tier"] == Tier.ROOFLINE for p in ok)
        body.append([label, str(len(ps)), f"{100 * len(ok) / len(ps):.0f}",
                     _mape([_ape(p["pred_ttft_ms"], p["silicon_ttft_ms"]) for p in ok]),
                     _mape([_ape(p["pred_tpot_ms"], p["silicon_tpot_ms"]) for p in ok]),
                     f"{100 * roof / max(len(ok), 1):.0f}", f"{100 * len(theirs) / len(ps):.0f}",
                     _mape([_ape(p["pred_ttft_ms"], p["silicon_ttft_ms"]) for _, p in theirs]),
                     _mape([_ape(p["pred_tpot_ms"], p["silicon_tpot_ms"]) for _, p in theirs]),
                     _mape([_ape(t, p["silicon_ttft_ms"]) for (t, _), p in theirs]),
                     _mape([_ape(t, p["silicon_tpot_ms"]) for (_, t), p in theirs])])
    return render_table(["partition", "rows", "% pred", "TTFT MAPE", "TPOT MAPE", "% roofline", "both %",
                         "ours TTFT", "ours TPOT", "peer TTFT", "peer TPOT"], body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--by", choices=("system", "model"), default="system")
    ap.add_argument("--csv", type=Path, help="write every row's prediction here")
    args = ap.parse_args()
    preds = run(dev_rows())
    print(table(preds, args.by))
    failures = defaultdict(int)
    for p in preds:
        if not math.isfinite(p["pred_ttft_ms"]):
            failures[p["source"]] += 1
    for why, n in sorted(failures.items(), key=lambda kv: -kv[1]):
        print(f"not predicted ({n}): {why}")
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(preds[0]))
            w.writeheader()
            w.writerows(preds)


if __name__ == "__main__":
    main()
