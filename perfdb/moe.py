"""MoE expert compute (`moe/<fw>/<v>/moe_perf.parquet`): curves over token count per collected shape.

The table is keyed [dtype][distribution][topk][experts][hidden][inter][moe_tp][moe_ep] → curve over
num_tokens (peer §1.3). A dense grid over all seven axes would have millions of mostly empty cells, so
each collected shape keeps its own token curve (log-util, interpolated in log2 tokens exactly like the
grids: MEASURED on a collected count, INTERPOLATED between, EXTRAPOLATED ≤ 2 octaves beyond, ROOFLINE
further). A shape that was not collected → a sibling dtype's curve of the same shape (fallback.py; not
where the GPU lacks the dtype), on a GPU without MoE data the donor's same query, else SOL (sol.moe_sol_s,
peer §2.5) / median util of the dtype slice; ROOFLINE. A missing distribution slice borrows power_law_1.2,
then balanced (EXTRAPOLATED).

Lane per dtype: the kernel_source with the most rows, excluding `*nongated*` (non-gated activations are
another op, not another kernel for the same op): TRT-LLM → moe_torch_flow_cutlass (deepgemm for
fp8_block on Blackwell), vLLM → flashinfer-cutlass for fp8/fp8_block, triton for bf16; SGLang → triton.
A kernel lane this backend's collection never timed in a dtype comes from another framework's table of the
same library kernel on the same GPU where the system's catalog says so (SystemSpec.kernel_donors: TRT-LLM's
block-FP8 trtllm-gen lane from SGLang's FlashInfer build on Blackwell), EXTRAPOLATED at best.
The table is read on the first MoE query (~0.3 s) and kept in a side file of the disk cache.
"""
from __future__ import annotations

import numpy as np

from . import family as family_mod
from . import sol
from .fallback import DTYPE_SIBLINGS, hardware_has, transfer_latency
from .family import Family, answers
from .families_common import canon_dtype, family_table
from .grid import Grid
from .lanes import pick_lane
from .lookup import Lookup, finish
from .queries import Moe, MoeKernel
from .source import read_columns
from .tier import Tier

MOE_KEYS = ["topk", "num_experts", "hidden_size", "inter_size", "moe_tp_size", "moe_ep_size"]
# Kernel lanes kept beside each dtype's default lane (kernel_source -> the label suffix a Moe query of that
# MoeKernel reads): the collector's trtllm-gen rows (aiconfigurator collector/trtllm/collect_moe.py:
# min_latency_mode sets moe_backend "trtllm", logged as moe_torch_flow_min_latency; nvfp4 on SM100 only,
# 1 to 16384 tokens like the default lane)
KERNEL_LANES = {"moe_torch_flow_min_latency": "trtllm_gen"}
LANE_OF_KERNEL = {MoeKernel.TRTLLM: "trtllm_gen"}
# MoeKernel.CUTEDSL: no table times it (the default lane's price, at least EXTRAPOLATED, as any kernel
# whose own rows miss the shape)
DIST_FALLBACK = ("power_law_1.2", "balanced")


def _canon(label: str) -> str:
    """canon_dtype of a table dtype, a kernel lane's ":kernel" suffix kept (KERNEL_LANES)."""
    raw, _, kernel = label.partition(":")
    return canon_dtype(raw) + (f":{kernel}" if kernel else "")


def _donated(spec, backend: str, root) -> list[tuple[object, str, str, str | None]]:
    """(table path, dtype, kernel lane, the donor's kernel_source) of the rows the catalog says another
    framework's MoE table on this GPU gives `backend`: the same library kernel this backend's collection did
    not time. SystemSpec.lane_donors fill the dtype's default lane (lane "", the donor's own default
    kernel_source: None); SystemSpec.kernel_donors a kernel lane of KERNEL_LANES from one kernel_source.
    None where the wheel ships no such table."""
    wanted = [(dt, "", None, d, v) for dt, d, v in spec.lane_donors_for(backend, "moe_perf.parquet")]
    wanted += [(dt, lane, src, d, v) for dt, lane, d, v, src in spec.kernel_donors_for(backend, "moe_perf.parquet")]
    out = []
    for dtype, lane, source, donor, version in wanted:
        path, _ = family_table(root, "moe", donor, "moe_perf.parquet", version)
        if path is not None:
            out.append((path, dtype, lane, source))
    return out


def _columns(path, donated: list[tuple[object, str, str, str | None]]) -> dict:
    """The table's MoE columns, with the donated rows of other tables (`_donated`) appended where the table
    itself has no row of that (dtype, lane, distribution, shape); `from_donor` marks them, `lane` names each
    row's kernel lane ("" for a default-lane candidate)."""
    numeric, text = MOE_KEYS + ["num_tokens", "latency"], ["kernel_source", "moe_dtype", "distribution"]
    cols = read_columns(path, numeric, text)
    cols["from_donor"] = np.zeros(len(cols["latency"]), dtype=bool)
    cols["lane"] = np.array([KERNEL_LANES.get(k, "") for k in cols["kernel_source"]], dtype=object)
    for donor_path, dtype, lane, source in donated:
        mine = np.array([canon_dtype(d) == dtype for d in cols["moe_dtype"]], dtype=bool) & (cols["lane"] == lane)
        own = set(_shapes(cols, mine))
        extra = read_columns(donor_path, numeric, text)
        sel = np.array([canon_dtype(d) == dtype for d in extra["moe_dtype"]], dtype=bool)
        if source is not None:
            sel &= extra["kernel_source"] == source
        idx = np.flatnonzero(sel)
        idx = idx[[sh not in own for sh in _shapes(extra, idx)]]
        extra["from_donor"] = np.ones(len(extra["latency"]), dtype=bool)
        extra["lane"] = np.full(len(extra["latency"]), lane, dtype=object)
        cols = {k: np.concatenate([v, extra[k][idx]]) for k, v in cols.items()}
    return cols


def _shapes(cols: dict, rows: np.ndarray) -> list[tuple]:
    """(distribution, *MOE_KEYS) of each of `rows`: what a donated row must not repeat."""
    keys = np.stack([cols[k][rows] for k in MOE_KEYS], 1).tolist()
    return [(str(d), *k) for d, k in zip(cols["distribution"][rows], keys)]


def read_moe(path, spec, donated: list[tuple[object, str, str, str | None]] = ()) -> dict:
    """Flat arrays of the chosen lanes: label index per row, labels, keys (N×6), tokens, log-util, lanes,
    and which rows came from another framework's table (`from_donor`, see `_donated`)."""
    cols = _columns(path, list(donated))
    ok = np.isfinite(cols["latency"]) & (cols["latency"] > 0)
    ok &= np.char.find(cols["kernel_source"].astype(str), "nongated") < 0
    gifted_lane = cols["from_donor"] & (cols["lane"] != "")
    keep, lanes = np.zeros_like(ok), []
    for raw in np.unique(cols["moe_dtype"][ok]):
        for gift in (False, True):  # a donated dtype's rows keep the donor's lane beside the table's own
            sel = ok & (cols["moe_dtype"] == raw) & (cols["from_donor"] == gift) & ~gifted_lane
            if not sel.any():
                continue
            lane = pick_lane(cols["kernel_source"][sel], [])
            keep |= sel & (cols["kernel_source"] == lane)
            lanes.append(f"{canon_dtype(raw)}={lane}")
    small = ok & (cols["lane"] != "")  # kernel lanes, kept beside the default lane under their own label
    lanes += sorted({f"{canon_dtype(d)}:{k}={src}" for d, k, src in
                     zip(cols["moe_dtype"][small], cols["lane"][small], cols["kernel_source"][small])})
    cols["moe_dtype"] = np.array([d + f":{k}" if s else d for d, k, s in
                                  zip(cols["moe_dtype"], cols["lane"], small)], dtype=object)
    keep |= small
    dtype = np.array([_canon(d) for d in cols["moe_dtype"][keep]])
    label_of_row = np.char.add(np.char.add(dtype, "/"), cols["distribution"][keep].astype(str))
    labels, code = np.unique(label_of_row, return_inverse=True)
    keys = np.stack([cols[k][keep] for k in MOE_KEYS], axis=1)
    t = cols["num_tokens"][keep]
    s = np.empty(len(t))
    for d in np.unique(dtype):
        m = dtype == d
        s[m] = sol.moe_sol_s(spec, t[m], keys[m, 2], keys[m, 3], keys[m, 0], keys[m, 1], keys[m, 4], keys[m, 5],
                             d.split(":")[0])
    lu = np.log(s / (cols["latency"][keep] * 1e-3))
    return {"code": code.astype(np.int32), "labels": labels, "keys": keys, "tokens": t, "lu": lu,
            "lanes": np.array(lanes), "from_donor": cols["from_donor"][keep]}


def _checked(data: dict) -> dict:
    """The side file's arrays, or KeyError / ValueError when they are not what `read_moe` writes (damage)."""
    need = ("labels", "version") + (("code", "keys", "tokens", "lu") if len(data["labels"]) else ())
    missing = [k for k in need if k not in data]
    if missing:
        raise KeyError(f"missing {', '.join(missing)}")
    if len(data["labels"]) and not (len(data["code"]) == len(data["keys"]) == len(data["tokens"]) == len(data["lu"])):
        raise ValueError("arrays of different lengths")
    return data


def moe_family(root, spec, backend: str, version: str) -> dict:
    """The MoE curve family's arrays (`read_moe`, plus the version read; no table → no labels)."""
    path, ver = family_table(root, "moe", backend, "moe_perf.parquet", version)
    if path is None:
        data = {"labels": np.array([], dtype=str)}
    else:
        data = read_moe(path, spec, _donated(spec, backend, root))
    data["version"] = np.array(ver or "")
    return data


family_mod.add(Family("moe", moe_family, ("moe",), default_eff={"moe": 0.1}, check=_checked))


def moe_table(store) -> dict:
    """The MoE arrays (the store's curve family "moe") and, once per db, their (label, shape) → rows index."""
    if "moe" not in store.derived:
        data = store.curves("moe")
        index = {}
        if len(data["labels"]):
            # rows grouped by (label, shape) with one stable lexicographic sort: np.unique(axis=0) sorts
            # the rows as opaque bytes and costs ~0.3 s a process on the 126 k-row TRT-LLM table
            keys = np.column_stack([data["code"], data["keys"]])
            order = np.lexsort(keys.T[::-1])
            ranked = keys[order]
            starts = np.flatnonzero(np.concatenate([[True], np.any(ranked[1:] != ranked[:-1], axis=1), [True]]))
            index = {tuple(ranked[a].tolist()): order[a:b] for a, b in zip(starts[:-1], starts[1:])}
        store.derived["moe"] = (index, {})  # (label, shape) → rows; → built curve
        store.lanes["moe"] = ";".join(data.get("lanes", [])) + f"@{data['version']}"
    return store.curves("moe")


def _full_key(data: dict, label: str, key: tuple) -> tuple | None:
    """The (label index, shape) key of the table's row index; None when `label` was not collected."""
    labels = list(data["labels"])
    return (float(labels.index(label)),) + tuple(float(k) for k in key) if label in labels else None


def moe_curve(store, label: str, key: tuple) -> Grid | None:
    """The token curve of one collected (dtype/distribution, shape), built once; None when not collected."""
    data = moe_table(store)
    full = _full_key(data, label, key)
    if full is None:
        return None
    index, curves = store.derived["moe"]
    if full not in curves:
        rows = index.get(full)
        curves[full] = None if rows is None else Grid.from_points([data["tokens"][rows]], data["lu"][rows])
    return curves[full]


def _from_donor(store, label: str, key: tuple) -> bool:
    """Whether the curve of (label, shape) is another framework's table's (SystemSpec.lane_donors)."""
    data = moe_table(store)
    full = _full_key(data, label, key)
    if "from_donor" not in data or full is None:
        return False
    rows = store.derived["moe"][0].get(full)
    return rows is not None and bool(np.asarray(data["from_donor"])[rows].any())


@answers(Moe)
def moe(db, q: Moe) -> Lookup:
    """`num_tokens` = the tokens entering the layer (the whole attention-DP group's, peer §1.3), `inter` the
    full expert intermediate size (split by moe_tp). A missing distribution borrows power_law_1.2, then
    balanced (EXTRAPOLATED); an uncollected shape → `_borrow`, else SOL / the dtype's median (ROOFLINE)."""
    t = np.maximum(np.asarray(q.num_tokens, dtype=np.float64), 1.0)
    dt = canon_dtype(q.dtype)
    shape = (q.hidden, q.inter, q.topk, q.num_experts, q.moe_tp, q.moe_ep)
    sol_s = sol.moe_sol_s(db.system, t, *shape, dt)
    key = (q.topk, q.num_experts, q.hidden, q.inter, q.moe_tp, q.moe_ep)
    for dist, floor in [(q.distribution, Tier.MEASURED)] + [(d, Tier.EXTRAPOLATED) for d in DIST_FALLBACK]:
        curve = moe_curve(db.store, f"{dt}/{dist}", key)
        if curve is not None:
            lu, tier = curve.query([t])
            donated = _from_donor(db.store, f"{dt}/{dist}", key)
            return _kernel_lane(db, q, t, key, sol_s, finish(sol_s, lu, tier, max(floor, Tier.EXTRAPOLATED)
                                                             if donated else floor))
    lk = _borrow(db, t, dt, q.distribution, key, shape, sol_s)
    return lk if lk is not None else Lookup.of(sol_s / _efficiency(db, dt), Tier.ROOFLINE)


def _kernel_lane(db, q: Moe, t: np.ndarray, key: tuple, sol_s: np.ndarray, default: Lookup) -> Lookup:
    """The query priced from its `q.kernel` lane (LANE_OF_KERNEL) where that lane collected this (dtype,
    distribution, shape), at every token count. Elsewhere `default` (the table's default lane), as the peer
    falls back to the default lane on a shape miss: unchanged for CUTLASS and WIDEEP (CUTLASS kernels) and for
    DEEPGEMM where the default lane is DeepGEMM's, at least EXTRAPOLATED for a kernel whose own rows are
    missing (CUTEDSL everywhere, TRTLLM off its lane). A lane another framework's table gives
    (SystemSpec.kernel_donors) is at least EXTRAPOLATED too."""
    default_lanes = list(moe_table(db.store).get("lanes", ()))
    if q.kernel in (MoeKernel.CUTLASS, MoeKernel.WIDEEP) or (
            q.kernel is MoeKernel.DEEPGEMM and f"{canon_dtype(q.dtype)}=deepgemm" in default_lanes):
        return default
    lane = LANE_OF_KERNEL.get(q.kernel)
    label = f"{canon_dtype(q.dtype)}:{lane}/{q.distribution}"
    curve = None if lane is None else moe_curve(db.store, label, key)
    if curve is None:
        return Lookup.of(default.latency_s, np.maximum(default.tier, Tier.EXTRAPOLATED))
    lu, tier = curve.query([t])
    return finish(sol_s, lu, tier, Tier.EXTRAPOLATED if _from_donor(db.store, label, key) else Tier.MEASURED)


def _borrow(db, t, dt: str, distribution: str, key: tuple, shape: tuple, sol_s) -> Lookup | None:
    """Uncollected (dtype, shape) on a GPU with MoE data: a sibling dtype's curve of the same shape (the
    GPU has the dtype); a GPU without MoE data: the donor's answer to the same query; both moved by
    `fallback.transfer_latency`, ROOFLINE. None → the dtype median."""
    if len(moe_table(db.store)["labels"]):
        if not hardware_has(db.system, dt):
            return None
        for sib in DTYPE_SIBLINGS.get(dt, ()):
            for dist in (distribution,) + DIST_FALLBACK:
                curve = moe_curve(db.store, f"{sib}/{dist}", key)
                if curve is not None:
                    lu, _ = curve.query([t])
                    sol_sib = sol.moe_sol_s(db.system, t, *shape, sib)
                    return Lookup.of(transfer_latency(sol_s, sol_sib, np.exp(lu)), Tier.ROOFLINE)
        return None
    return db.fallback.donor_transfer(lambda d: d.latency(Moe(t, *shape, dt, distribution)), sol_s,
                                      lambda sp: sol.moe_sol_s(sp, t, *shape, dt))


def _efficiency(db, dtype: str) -> float:
    """Median util of this dtype's collected MoE rows (any shape), else of all MoE rows, else the default."""
    data = moe_table(db.store)
    if not len(data["labels"]):
        return db.fallback.efficiency("moe")
    rows = np.isin(data["code"], [i for i, lb in enumerate(data["labels"]) if lb.startswith(dtype + "/")])
    lu = data["lu"][rows] if rows.any() else data["lu"]
    return float(np.exp(np.median(lu)))
