"""Parallel rules: which (tp, pp, dp, moe_tp, moe_ep) engines a framework runs for a MoE model.

Two kinds of rule. Structural ones hold for every framework (peer §1.3, §5.1): the MoE layers span the
attention GPUs (moe_tp x moe_ep == tp x dp), experts spread evenly over EP (num_experts divisible by
moe_ep), each expert's width cuts evenly over moe_tp (and into whole 128-wide blocks for a block-scaled
FP8 engine: one scale per 128 x 128 block, what vLLM and TRT-LLM check at load), attention heads over tp,
and an engine spans at most `max_nodes` nodes. Framework ones are data, the `parallel_rules` block of
model/frameworks/<backend>.yaml: the degrees it enumerates, pairs of degrees it never runs both above
1 (TRT-LLM: attention DP runs each rank with TP 1; vLLM: experts are either TP- or EP-split), how far an
engine may span nodes. Dense models keep exactly model/engine.py's engines and rules.

Engines that span nodes: a node is `gpus_per_node` GPUs of the hardware catalog, except on a system
whose inter-node links are as fast as its intra-node ones (GB200/GB300 NVL72: NVLink across the rack),
where the rack is one NVLink domain and only the framework's largest size bounds the engine. The
communication across nodes is priced by perfdb with the catalog's inter-node bandwidth.

Pipeline parallelism for MoE engines: off by default (sizes.pp is [1]), as the peer does
(`should_enable_pp=False`); an explicit pp > 1 is still valid when the layers allow it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import gcd
from typing import TYPE_CHECKING

from sloplan.core.enums import GemmQuant, Parallelism

from .arch import ModelArch
from .engine import Engine, candidate_engines, invalid_reason
from .quant import Quant

if TYPE_CHECKING:  # annotations only: the CLI reads framework data without loading perfdb (numpy)
    from sloplan.perfdb import SystemSpec

FP8_BLOCK = 128  # block-scaled FP8: one scale per 128 x 128 weights


@dataclass(frozen=True)
class Exclusive:
    """Two degrees a framework never runs both above 1, and why (its own words for the message)."""

    degrees: tuple[Parallelism, ...]
    reason: str


@dataclass(frozen=True)
class ParallelRules:
    """A framework's MoE engine rules (model/frameworks/<backend>.yaml `parallel_rules`).

    sizes: the values each degree takes in enumeration (tp, pp, dp, moe_tp, moe_ep); an engine asked for
    explicitly may use others. world_tp: the framework's TP flag counts every attention GPU (tp x dp:
    TRT-LLM's tp_size, SGLang's --tp-size with --enable-dp-attention), not the TP of one attention rank
    (vLLM). implied: degrees the framework derives from the others and takes no flag for."""

    sizes: Mapping[Parallelism, tuple[int, ...]]
    exclusive: tuple[Exclusive, ...] = ()
    max_nodes: int = 2
    world_tp: bool = False
    implied: tuple[Parallelism, ...] = ()
    max_seqs_per_rank: bool = False

    def size_list(self, degree: Parallelism) -> tuple[int, ...]:
        return self.sizes.get(degree, (1,))


@dataclass(frozen=True)
class EngineProblem:
    """Why an engine asked for explicitly cannot run: the argument to name and the one-line reason with
    what is accepted (for `estimate --tp/--pp/--dp/--moe-tp/--moe-ep`, exit 2)."""

    field: str  # tp | pp | dp | moe_tp | moe_ep
    message: str


def is_moe(arch: ModelArch) -> bool:
    return arch.mlp.moe is not None


def domain_gpus(system: SystemSpec) -> int | None:
    """GPUs of one fast-fabric node; None on an NVLink rack (SystemSpec.nvlink_rack)."""
    if system.nvlink_rack:
        return None
    return system.gpus_per_node


def _structural(engine: Engine, arch: ModelArch, system: SystemSpec, max_nodes: int) -> tuple[str, str] | None:
    """(field, reason) of the first structural rule the MoE engine breaks, or None."""
    moe, width = arch.mlp.moe, engine.tp * engine.dp
    if arch.num_heads % engine.tp:
        return "tp", f"{arch.num_heads} attention heads are not divisible by tp={engine.tp}"
    if engine.moe_tp * engine.moe_ep != width:
        return "moe_tp", (f"moe_tp x moe_ep = {engine.moe_tp} x {engine.moe_ep} must equal tp x dp = "
                          f"{engine.tp} x {engine.dp} (the MoE layers span the attention GPUs)")
    if moe.num_experts % engine.moe_ep:
        return "moe_ep", f"{moe.num_experts} experts do not spread evenly over moe_ep={engine.moe_ep}"
    if moe.expert_intermediate % engine.moe_tp:
        return "moe_tp", f"expert width {moe.expert_intermediate} is not divisible by moe_tp={engine.moe_tp}"
    if engine.quant.gemm is GemmQuant.FP8_BLOCK and (moe.expert_intermediate // engine.moe_tp) % FP8_BLOCK:
        return "moe_tp", (f"expert width {moe.expert_intermediate} / moe_tp={engine.moe_tp} is not a whole number "
                          f"of {FP8_BLOCK}-wide FP8 blocks")
    if engine.pp > arch.num_layers:
        return "pp", f"pp={engine.pp} exceeds {arch.num_layers} layers"
    node = domain_gpus(system)
    if node is not None and engine.gpus > max_nodes * node:
        return "dp" if engine.dp > 1 else "tp", (f"{engine.gpus} GPUs span more than {max_nodes} nodes of "
                                                 f"{node} GPUs")
    if node is not None and engine.tp > node and engine.tp != 2 * node:
        return "tp", f"tp={engine.tp} spans more than two nodes of {node} GPUs"
    return None


def _framework(engine: Engine, rules: ParallelRules) -> tuple[str, str] | None:
    for ex in rules.exclusive:
        if all(getattr(engine, d.value) > 1 for d in ex.degrees):
            names = " and ".join(f"{d.value}={getattr(engine, d.value)}" for d in ex.degrees)
            return ex.degrees[-1].value, f"{names} together: {ex.reason}"
    return None


def moe_problem(engine: Engine, arch: ModelArch, system: SystemSpec, rules: ParallelRules) -> tuple[str, str] | None:
    """(field, reason) of the first rule a MoE engine breaks (structural first, then the framework's)."""
    return _structural(engine, arch, system, rules.max_nodes) or _framework(engine, rules)


def _with(engine: Engine, field: str, value: int) -> Engine | None:
    """`engine` with one degree changed; tp/dp/moe_ep changes re-derive moe_tp to keep the MoE span (and
    narrow moe_ep to what divides a new width), a moe_tp change re-derives moe_ep."""
    d = {"tp": engine.tp, "pp": engine.pp, "dp": engine.dp, "moe_tp": engine.moe_tp, "moe_ep": engine.moe_ep}
    d[field] = value
    width = d["tp"] * d["dp"]
    if field == "moe_tp":
        d["moe_ep"] = max(1, width // value)
    elif field == "moe_ep":
        d["moe_tp"] = width // value if width % value == 0 else 0
    else:  # keep as much expert parallelism as the new width allows
        d["moe_ep"] = gcd(width, d["moe_ep"])
        d["moe_tp"] = width // d["moe_ep"]
    if d["moe_tp"] == 0:
        return None
    return Engine(d["tp"], d["pp"], engine.quant, d["dp"], d["moe_tp"], d["moe_ep"], engine.moe_kernel)


def _spans(values: list[int]) -> str:
    return ", ".join(map(str, values)) if values else "none"


def engine_problem(engine: Engine, arch: ModelArch, system: SystemSpec, rules: ParallelRules | None) -> \
        EngineProblem | None:
    """The validity function for an engine asked for explicitly (estimate --tp/--pp/--dp/--moe-tp/--moe-ep):
    None when it runs; else the argument to name and one line with the values of it that are accepted
    with the others as given. Dense models: engine.py's rules (tp/pp), their dp/moe_tp/moe_ep must be 1.
    `rules`: the framework's (framework(backend).parallel_rules); None checks the structural rules only."""
    if not is_moe(arch):
        for name in ("dp", "moe_tp", "moe_ep"):
            if getattr(engine, name) != 1:
                return EngineProblem(name, f"{arch.name} is a dense model (no expert layers, no attention data "
                                           f"parallelism): {name}={getattr(engine, name)}; accepted: 1")
        why = invalid_reason(engine, arch, system.gpus_per_node)
        return EngineProblem("tp", why) if why else None
    rules = rules or ParallelRules(sizes={})
    found = moe_problem(engine, arch, system, rules)
    if found is None:
        return None
    field, why = found
    top = max([64, *(max(v) for v in rules.sizes.values())])
    ok = [v for v in range(1, top + 1)
          if (other := _with(engine, field, v)) is not None and moe_problem(other, arch, system, rules) is None]
    return EngineProblem(field, f"{why}; accepted {field} with the others as given: {_spans(ok)}")


def moe_engines(arch: ModelArch, quants: list[Quant], system: SystemSpec, rules: ParallelRules,
                max_gpus: int) -> list[Engine]:
    """Every MoE engine the framework's rules allow within the GPU budget (memory is checked later)."""
    out = []
    for q in quants:
        for pp in rules.size_list(Parallelism.PP):
            for tp in rules.size_list(Parallelism.TP):
                for dp in rules.size_list(Parallelism.DP):
                    if tp * pp * dp > max_gpus:
                        continue
                    for ep in rules.size_list(Parallelism.MOE_EP):
                        if (tp * dp) % ep or (tp * dp) // ep not in rules.size_list(Parallelism.MOE_TP):
                            continue
                        e = Engine(tp, pp, q, dp, (tp * dp) // ep, ep)
                        if moe_problem(e, arch, system, rules) is None:
                            out.append(e)
    return out


def engines_for(arch: ModelArch, quants: list[Quant], system: SystemSpec, rules: ParallelRules | None,
                max_gpus: int) -> list[Engine]:
    """The engines a plan considers: a dense model's tp x pp ones (model/engine.py, unchanged), a MoE
    model's under its framework's rules (all structural rules alone when `rules` is None)."""
    if not is_moe(arch):
        return candidate_engines(arch, quants, system.gpus_per_node, max_gpus)
    return moe_engines(arch, quants, system, rules or ParallelRules(sizes={}), max_gpus)
