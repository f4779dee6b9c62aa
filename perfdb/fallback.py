"""Roofline fallback for a system or slice without data: borrow the donor's utilization at the same shape.

A GPU without silicon data (h100_pcie, a100_pcie, l4, mi300x, mi325x) names a catalog `efficiency_donor`
(the closest system with data: `pick_donor`'s rule, nearest HBM bandwidth and FLOP/byte balance). For a
query on such a system, the ROOFLINE tier now answers SOL_target(query) / util_donor(query), util_donor
being the donor's own filled grid of the same slice interpolated at the same coordinates (same op, same
shape), instead of SOL / the donor's median util of the whole family: util spans orders of magnitude
between launch-bound and saturated shapes, so one median mis-scales most of them
(`bench/perfdb_loso.py`: median error 30–100 % with the median, a few % with the shape, within a GPU
generation). The donor median remains the answer only where the donor has no such slice either.
"""
from __future__ import annotations

import math

import numpy as np

from sloplan.core.dtypes import DTYPES, own_rate_key
from sloplan.core.enums import Phase

from . import family as family_mod
from . import sol
from .lookup import Lookup
from .tier import Tier

# A system *with* data but without a dtype slice borrows a sibling dtype's slice at the same shape (first found).
DTYPE_SIBLINGS = {d.name: d.siblings for d in DTYPES if d.siblings}  # the dtype table's (core/dtypes.py)


def hardware_has(spec, dtype: str) -> bool:
    """False when the GPU has no tensor-core rate for `dtype` (nvfp4 on Hopper, fp8 on Ampere): then no
    sibling is borrowed and the answer stays SOL / family median (ROOFLINE), as before."""
    key = own_rate_key(dtype)  # None: bf16 math (bf16, weight-only formats, unknown names), every GPU has it
    return key is None or key in spec.flops_per_s


def sibling_names(name: str) -> list[tuple[str, str, str]]:
    """(sibling grid name, sibling dtype, own dtype) for a grid name whose family carries a compute dtype."""
    parts = name.split("/")
    if not family_mod.carries_dtype(parts[0]):  # gemm, mla_bmm, wideep_moe, wideep_mlp
        return []
    for i in range(1, len(parts)):
        if parts[i] in DTYPE_SIBLINGS:
            return [("/".join(parts[:i] + [sib] + parts[i + 1:]), sib, parts[i]) for sib in DTYPE_SIBLINGS[parts[i]]]
    return []


def balance(spec) -> float:
    """FLOP/byte balance: dense bf16 FLOP/s per byte/s of HBM bandwidth."""
    return spec.compute_flops_per_s("bf16") / spec.mem_bw_bytes_per_s


def donor_distance(a, b) -> float:
    """Octave-like distance used to pick a donor: |ln bw ratio| + |ln balance ratio|."""
    return abs(math.log(a.mem_bw_bytes_per_s / b.mem_bw_bytes_per_s)) + abs(math.log(balance(a) / balance(b)))


def pick_donor(spec, candidates) -> str | None:
    """The candidate system (SystemSpec or name) of the same GPU generation (SM major version) when there is
    one, nearest to `spec` in bandwidth and balance (the catalog's `efficiency_donor` rule); ties → name
    order. None when there is no candidate."""
    from .catalog import load_system

    specs = [load_system(c) if isinstance(c, str) else c for c in candidates]
    specs = [s for s in specs if s.name != spec.name]
    if not specs:
        return None

    def gen(s):
        return None if s.sm_version is None else s.sm_version // 10
    same = [s for s in specs if gen(spec) is not None and gen(s) == gen(spec)]
    return min(same or specs, key=lambda s: (donor_distance(spec, s), s.name)).name


def slice_sol_s(spec, name: str, coords: list) -> np.ndarray | None:
    """SOL of a grid cell given the slice name and its grid coordinates (GEMM, context/generation
    attention, MLA, MLA BMM, NCCL, all-reduce, MoE all-to-all); None for other families. Used by the LOSO
    bench to compare systems at the same shape."""
    parts = name.split("/")
    if parts[0] == "gemm":
        return sol.gemm_sol_s(spec, coords[0], coords[1], coords[2], parts[1])
    if parts[0] in (Phase.CONTEXT.short, Phase.GENERATION.short):
        h, ratio, d, b, s = coords
        kvb = sol.KV_BYTES.get(parts[2], 2.0)
        if parts[0] == Phase.CONTEXT.short:
            return sol.context_attention_sol_s(spec, b, s, 0.0, h, h / ratio, d, int(parts[3]), kvb, parts[1])
        return sol.generation_attention_sol_s(spec, b, s, h, h / ratio, d, int(parts[3]), kvb)
    if parts[0] in ("mla_ctx", "mla_gen", "mla_ctx_module", "mla_gen_module"):
        h, b, s = coords
        kvb = sol.KV_BYTES.get(parts[1], 2.0)
        if parts[0].startswith("mla_ctx"):
            return sol.context_mla_sol_s(spec, b, s, h, kvb)
        return sol.generation_mla_sol_s(spec, b, s, h, kvb)
    if parts[0] == "mla_bmm":
        return sol.mla_bmm_sol_s(spec, coords[1], coords[0], parts[2])
    if parts[0] in ("nccl", "ar"):
        n, msg = coords
        bw = spec.intra_node_bw_bytes_per_s  # the frame the comm grids store util in
        if parts[0] == "ar":
            return sol.all_reduce_sol_s(msg, n, bw)
        return sol.nccl_sol_s(parts[1], msg, n, sol.NCCL_BYTES.get(parts[2], 2.0), bw)
    if parts[0] == "a2a":
        ep, h, k, _, t = coords
        bw = spec.intra_node_bw_bytes_per_s
        return sol.moe_a2a_sol_s(t, h, k, ep, sol.COMM_BYTES.get(parts[3], 2.0), bw)
    return None


def transfer_latency(sol_t, sol_d, util_d):
    """Donor latency at a shape moved to the target GPU: (SOL_d / util_d) · (SOL_t / SOL_d)^min(1, util_d)."""
    a = np.minimum(1.0, util_d)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sol_d > 0, sol_t / sol_d, 1.0)
    return sol_d / util_d * ratio ** a


class Fallback:
    """The ROOFLINE tier of one PerfDB: donor's util at the same shape, a sibling dtype's, else the median.

    It owns nothing: it is given this db's `FamilyStore`, the `donor` source (called on the first query that
    borrows, for the catalog donor's PerfDB or None; loader.py memoizes it, so this module never imports
    the loader), and the donor's medians for a roofline-only system (`fallback_eff`). The sibling rule is
    `sibling_names` above (which families carry a dtype: their `Family.sibling_prefixes`)."""

    def __init__(self, system, store, donor=None, fallback_eff: dict | None = None):
        self.system, self.store, self._source = system, store, donor
        self.fallback_eff = fallback_eff or {}

    def donor(self):
        """The catalog donor's PerfDB, or None without one."""
        return self._source() if self._source is not None else None

    def efficiency(self, family: str, name: str | None = None) -> float:
        """Median measured util for a slice, else its family here, else the donor's, else the family's default.
        A lazily read family is read first (here, and on the donor whose medians this db falls back to), so
        its medians are the same whether or not a grid query read it before."""
        lazy = family_mod.lazy_family(family)
        if lazy is not None:
            self.store.ensure(lazy)
            donor = self.donor() if self.fallback_eff else None
            if donor is not None:
                donor.store.ensure(lazy)
        for source in (self.store.eff, self.fallback_eff):
            if name in source:
                return source[name]
            if family in source:
                return source[family]
        return family_mod.default_eff(family)

    def borrowed_grid(self, name: str):
        """The donor's filled grid of slice `name` (its lazily read family loaded on demand), or None."""
        donor = self.donor()
        if donor is None or name in self.store.sparse:
            return None
        family = family_mod.lazy_family(name.split("/")[0])
        if family is not None:
            donor.store.ensure(family)
        return donor.grid(name)

    def sibling_lookup(self, name: str, coords: list, sol_t, dtype_sol) -> Lookup | None:
        """This system's slice of a sibling dtype at the same shape (same GPU, other precision): the
        sibling's latency moved by the roofline ratio, latency_s · (SOL_t / SOL_s)^min(1, util_s)
        (`transfer_latency`, as across GPUs); ROOFLINE. None when the GPU lacks the dtype or no sibling
        slice exists. `dtype_sol(dtype)` = the query's SOL on this GPU in another dtype."""
        sibs = sibling_names(name)
        if not sibs or not self.store.sparse or not hardware_has(self.system, sibs[0][2]):
            return None
        family = family_mod.lazy_family(name.split("/")[0])
        if family is not None:
            self.store.ensure(family)
        present = [(n, d) for n, d, _ in sibs if n in self.store.sparse]
        if not present:
            return None
        # the most densely collected sibling (a sparse one holds its util far outside its few shapes)
        sib_name, sib = max(present, key=lambda nd: np.unique(self.store.sparse[nd[0]].flat).size)
        lu, tier = self.store.grid(sib_name).query(coords)
        sol_t = np.asarray(sol_t, dtype=np.float64)
        util = np.exp(lu)
        lat = (sol_t / util if dtype_sol is None
               else transfer_latency(sol_t, np.asarray(dtype_sol(sib), dtype=np.float64), util))
        # beyond the sibling's measured range (ROOFLINE there) → the family median, as before
        lat = np.where(tier < Tier.ROOFLINE, lat, sol_t / self.efficiency(name.split("/")[0], name))
        return Lookup.of(lat, Tier.ROOFLINE)

    def donor_transfer(self, call, sol_t, sol_fn) -> Lookup | None:
        """The donor's answer to the same query (`call(donor) -> Lookup`) moved to this GPU by
        `transfer_latency`, ROOFLINE; for families whose tables are not plain grids (MoE token curves,
        all-to-all lanes). None without a donor."""
        donor = self.donor()
        if donor is None:
            return None
        lat_d = call(donor).latency_s
        sol_d = np.asarray(sol_fn(donor.system), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            util_d = np.where(lat_d > 0, sol_d / lat_d, 1.0)
        return Lookup.of(transfer_latency(np.asarray(sol_t, dtype=np.float64), sol_d, util_d), Tier.ROOFLINE)

    def per_shape(self, sol_s, names: list[str], coords: list, sol_fn, dtype_sol=None) -> Lookup | None:
        """The first of `names` the donor holds, else a sibling dtype on this GPU (names[0]), at the same shape;
        None when neither exists (the caller then falls back its own way)."""
        for name in names:
            grid = self.borrowed_grid(name)
            if grid is not None:
                lu, _ = grid.query(coords)
                sol_d = np.asarray(sol_fn(self.donor().system), dtype=np.float64)
                return Lookup.of(transfer_latency(np.asarray(sol_s, dtype=np.float64), sol_d, np.exp(lu)),
                                 Tier.ROOFLINE)
        return self.sibling_lookup(names[0], coords, sol_s, dtype_sol) if names else None

    def roofline(self, sol_s, family: str, name: str | None = None, coords: list | None = None,
                  sol_fn=None, dtype_sol=None) -> Lookup:
        """ROOFLINE answer. With `name` and `coords` (the query's grid coordinates) and a donor holding that
        slice: the donor's latency at the same shape, latency_d = SOL_d / util_d, moved to this GPU by
        latency_d · (SOL_t / SOL_d)^a with a = min(1, util_d) (`sol_fn(spec)` gives the query's SOL on a
        spec; without it a = 1, i.e. SOL_t / util_d). A launch-bound shape (low util) keeps the donor's
        latency, a saturated one scales with the roofline: LOSO median 5.5 % vs 9.8 % for plain util
        transfer and 68 % for the median (bench/perfdb_loso.py). Else SOL / median util (`efficiency`).
        Without a donor slice (a GPU with data that lacks only this dtype slice): a sibling dtype's slice at
        the same shape (`_sibling_lookup`, with `dtype_sol`), unless the GPU lacks the dtype."""
        if name is not None and coords is not None:
            grid = self.borrowed_grid(name)
            if grid is not None:
                lu, _ = grid.query(coords)
                util_d = np.exp(lu)
                sol_t = np.asarray(sol_s, dtype=np.float64)
                if sol_fn is None:
                    return Lookup.of(sol_t / util_d, Tier.ROOFLINE)
                sol_d = np.asarray(sol_fn(self.donor().system), dtype=np.float64)
                return Lookup.of(transfer_latency(sol_t, sol_d, util_d), Tier.ROOFLINE)
            sib = self.sibling_lookup(name, coords, sol_s, dtype_sol)
            if sib is not None:
                return sib
        return Lookup.of(sol_s / self.efficiency(family, name), Tier.ROOFLINE)
