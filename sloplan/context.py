"""Context: a validated request resolved against the catalogs (model, system, data version, quantizations).

Every lookup failure here is the user's input, so it becomes an InputError naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from sloplan.core.enums import Client, Role
from sloplan.model.arch import ModelArch, UnsupportedModel
from sloplan.model.calibration import Calibration, calibration
from sloplan.model.catalog import UnknownModel, resolve_model
from sloplan.model.hf_config import InvalidModelConfig
from sloplan.model.framework import Backend, Framework, FrameworkProfile, framework
from sloplan.model.quant import GemmQuant, Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import PerfDB, SystemSpec, UnknownSystem, UnknownVersion, load_perfdb, load_system

from .errors import InputError


@dataclass(frozen=True)
class Context:
    arch: ModelArch
    system: SystemSpec
    db: PerfDB
    fw: FrameworkProfile
    workload: Workload
    quants: tuple[Quant, ...]
    calibration: Calibration  # the framework's constants on this system as the client sees them (see build_context)
    framework: Framework  # its capabilities, profile (= fw) and launch flags, as data

    def frontend_load(self, plan) -> float:
        """The busiest streaming replica's rate over its server's frontend limit (model/calibration.py), each
        group under its engine's constants; a prefill worker streams nothing (its decode workers do)."""
        return max((self.calibration.for_engine(g.slot.engine) if g.slot else self.calibration).frontend_load(
            g.tokens_per_s) for g in plan.groups if g.role is not Role.PREFILL)


def default_gemm_quants(arch: ModelArch, spec: Framework) -> list[GemmQuant]:
    """The formats a request that names none plans in: the framework's data says, per checkpoint format
    (default_quantizations; today the checkpoint's own, plus FP8 for a BF16 one, made on load by vLLM
    and SGLang, offline before TRT-LLM starts)."""
    if arch.served_as_shipped:
        return [arch.checkpoint_quant]
    return list(spec.default_gemm_quants(arch.checkpoint_quant))


def supported(gemm: GemmQuant, system: SystemSpec) -> bool:
    return gemm.compute_dtype in system.flops_per_s


def resolve_arch(model: str) -> ModelArch:
    """The model's validated architecture; every way a name or a config.json can be wrong is the
    user's input (field `model`), never an internal error."""
    try:
        return resolve_model(model)
    except (UnknownModel, UnsupportedModel, InvalidModelConfig) as exc:
        raise InputError("model", str(exc).removeprefix("model: ")) from None


def resolve_db(system: str, backend: Backend | None, version: str | None) -> PerfDB:
    """The perf tables for (system, backend, version); backend None = the first framework the system runs."""
    try:
        runs_on = load_system(system).frameworks
        backend = backend or Backend(runs_on[0])
        if backend.value not in runs_on:
            raise InputError("backend", f"{backend.value} does not run on {system}; accepted: {', '.join(runs_on)}")
        return load_perfdb(system, backend.value, version)
    except UnknownSystem as exc:
        raise InputError("system", f"unknown system '{system}'; accepted: {', '.join(exc.accepted)}") from None
    except UnknownVersion as exc:
        accepted = ", ".join(exc.accepted) or "none (no silicon data for this system and backend)"
        raise InputError("version", f"no {backend.value} data for version '{version}' on {system}; "
                                    f"accepted: {accepted}") from None


def check_drafts(arch, model: str, draft_tokens: int, field: str) -> None:
    """MTP drafts are drafted by the checkpoint's own MTP layers (model/speculative.py): refused, naming
    `field`, on a model that ships none."""
    if draft_tokens and not arch.mtp_layers:
        raise InputError(field, f"{model} ships no multi-token-prediction layers to draft with "
                                f"(got {draft_tokens}); accepted: 0")


def build_context(model: str, system: str, backend: Backend, version: str | None, isl: int, osl: int, prefix: int,
                  quantizations: tuple[GemmQuant, ...] | None, quant_field: str = "quantizations",
                  client: Client = Client.SERVING, runtime_version: str | None = None,
                  draft_tokens: int = 0) -> Context:
    """`quant_field` is what the caller's input calls the formats (a request: quantizations; one
    configuration: quant), so a refusal names the field the user typed. `client` picks what drives the
    engine: the calibration every estimator receives drops the HTTP front's streaming limit for an
    offline client (model/calibration.py, Calibration.for_client), so no estimator needs to know.
    `runtime_version`: the framework version served when it has no data of its own (a CSV row estimated on
    the nearest data version): what that version's step pays (Capabilities.gemm_swaps) follows it.
    `draft_tokens`: MTP drafts per decode step (model/speculative.py), from the checkpoint's own MTP layers."""
    arch = resolve_arch(model)
    db = resolve_db(system, backend, version)
    if isl + osl > arch.max_position_embeddings:
        raise InputError("isl", f"isl + osl = {isl + osl} exceeds the model's context of "
                                f"{arch.max_position_embeddings} tokens")
    spec = framework(backend)
    wanted = list(quantizations) if quantizations else default_gemm_quants(arch, spec)
    own = arch.checkpoint_quant
    for q in wanted:
        if q is not own and arch.served_as_shipped:
            raise InputError(quant_field, f"{model}'s {arch.checkpoint_format.value} weights are served as shipped "
                                          f"(sloplan does not re-quantize them); accepted: {own.value}")
        if not q.derivable_from(own):
            raise InputError(quant_field, f"{q.value} cannot be made from {model}'s {own.value} weights (quantized "
                                          f"weights are not de-quantized); accepted: {own.value}, or name a "
                                          f"{q.value} checkpoint as the model")
    ok = [q for q in wanted if supported(q, db.system)]
    if not ok:
        accepted = ", ".join(q.value for q in GemmQuant if supported(q, db.system))
        raise InputError(quant_field, f"{', '.join(q.value for q in wanted)} not supported on {system}; "
                                      f"accepted: {accepted}")
    check_drafts(arch, model, draft_tokens, "draft_tokens")
    fw = replace(spec.profile, gemm_swaps=spec.capabilities.gemm_swaps(runtime_version or version),
                 draft_tokens=draft_tokens)
    return Context(arch, db.system, db, fw, Workload(isl, osl, prefix),
                   tuple(Quant.default_for(q) for q in ok),
                   calibration(spec.backend, db.system.name, arch.mlp.moe is not None,
                               arch.attention.kind).for_client(client), spec)
