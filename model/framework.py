"""Serving frameworks: what each can do, the defaults of theirs that change performance or memory, and
the flag names of their launch commands.

The facts live as data, one file per framework under model/frameworks/ (plus modelopt.yaml, the offline
quantizer), so adding a framework or following a renamed flag is an edit of data, not of code. This
module is their one reader: typed, strict (an unknown key or a wrong type is an error naming the file
and the key), each file read once, on first use. yaml is imported only then: `sloplan --help` reads none.
"""
from __future__ import annotations

import string
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from functools import cache
from pathlib import Path

from sloplan.core.enums import Backend, KvFractionOf, Parallelism, Setting  # homes in core, re-exported here

from .framework_disagg import DISAGG_FIELDS, DisaggRouter, DisaggWorker, Disaggregation, RouterFile  # noqa: F401
from .node_launch import NODE_FIELDS, MultiNode, unknown_fields
from .parallel_rules import ParallelRules
from .quant import GemmQuant, KvDtype
from .wide_ep import WideEp

GIB = 1024**3
_FOLDER = Path(__file__).parent / "frameworks"


class FrameworkDataError(ValueError):
    """A framework data file does not say what the schema expects (a bug in shipped data, or in an edit)."""


@dataclass(frozen=True)
class FrameworkProfile:
    """Per-framework scheduling and memory behaviour that the estimators rely on.

    token_budget: tokens one forward step may carry (max_num_tokens / max-num-batched-tokens /
    chunked-prefill-size); prefill is chunked to fit it. kv_fraction + kv_fraction_of: the memory
    knob as the framework defines it. reserve_per_request_osl: the share of the output length a
    running request holds in KV on average at admission time — TRT-LLM's default scheduler
    (GUARANTEED_NO_EVICT) reserves the whole sequence, vLLM and SGLang allocate pages as tokens
    are produced, so their running requests hold about half the output on average.
    """

    backend: Backend
    token_budget: int
    kv_fraction: float
    kv_fraction_of: KvFractionOf
    reserve_per_request_osl: float
    runtime_reserve_bytes: float  # CUDA context, graphs, allocator slack, sampler buffers
    # (table dtype, sibling dtype) for each GEMM table that times a host path the running version does not pay
    # (Capabilities.host_bound_gemms; model/moe_ops.py kernel_gemms); set per version by sloplan/context.py
    gemm_swaps: tuple[tuple[str, str], ...] = ()
    # MTP draft tokens per decode step the launch speculates with (model/speculative.py); 0 = none
    draft_tokens: int = 0
    # the token budget flag is the engine's, each attention-DP rank running its share (SGLang: chunked_prefill_size
    # // dp_size under --enable-dp-attention); False: each rank's own
    token_budget_split_over_dp: bool = False


@dataclass(frozen=True)
class HostBoundGemm:
    """A GEMM table collected on the framework's eager host path (flat in m): from `from_version` on, the
    serving step runs the kernel alone, so it is priced from the `priced_from` table; before, as measured."""

    priced_from: str
    from_version: str

    def paid_by(self, version: str | None) -> bool:
        """Whether `version` pays the host path. None (no version named: the newest data's) and a version
        that does not parse as a release (a nightly build, newer than every release) do not."""
        from sloplan.perfdb.versions import version_key

        if version is None or version_key(version)[0] == (-1,):
            return False
        return version_key(version) < version_key(self.from_version)


@dataclass(frozen=True)
class SharedExpertStream:
    """The MoE layer runs its shared expert on an auxiliary CUDA stream beside the routed path (router,
    dispatch, experts, combine) on steps of at most `max_tokens` tokens per rank (None: no limit), only in
    decode-only steps (replayed from CUDA graphs) where `decode_only`. Priced in model/ops.py OpGroup.priced."""

    max_tokens: int | None = None
    decode_only: bool = True


@dataclass(frozen=True)
class Capabilities:
    """quantize_on_load: checkpoint format → the formats the framework makes from it while loading →
    the value of its quantization flag. kv_dtypes: KV dtype → its spelling (None: not written).
    mxfp8_moe_activations: on a GPU with FP4 math, MXFP4 experts run with MXFP8 activations (the
    w4a8_mxfp4_mxfp8 kernels) when the environment variables given are set (empty: by default); None:
    weight-only (BF16 activations) everywhere (model/moe_ops.py expert_dtype). shared_expert_stream: the
    decode overlap of shared and routed experts (SharedExpertStream)."""

    parallelism: tuple[Parallelism, ...]
    memory_fraction_of: KvFractionOf
    quantize_on_load: Mapping[GemmQuant, Mapping[GemmQuant, str]]
    kv_dtypes: Mapping[KvDtype, str | None]
    host_bound_gemms: Mapping[str, HostBoundGemm] = field(default_factory=lambda: types.MappingProxyType({}))
    wide_ep: WideEp | None = None  # the wide-EP all-to-all it is launched with where that applies (model/wide_ep.py)
    mxfp8_moe_activations: Mapping[str, str] | None = None
    shared_expert_stream: SharedExpertStream | None = None  # None: shared expert and routed path in sequence

    def gemm_swaps(self, version: str | None) -> tuple[tuple[str, str], ...]:
        """(table, sibling) for each host-bound GEMM table that `version`'s serving step does not pay."""
        return tuple((dtype, h.priced_from) for dtype, h in self.host_bound_gemms.items() if not h.paid_by(version))

    def load_quantization(self, planned: GemmQuant, checkpoint: GemmQuant) -> str | None:
        """The quantization flag's value when `planned` is made from `checkpoint` on load, else None."""
        return self.quantize_on_load.get(checkpoint, {}).get(planned)

    def quantizes_on_load(self, planned: GemmQuant, checkpoint: GemmQuant) -> bool:
        return self.load_quantization(planned, checkpoint) is not None


@dataclass(frozen=True)
class OptionsFile:
    """Settings a framework's CLI has no flag for, written to a YAML file passed by one flag."""

    flag: str
    path: str
    keys: Mapping[Setting, str]  # setting → dotted key in the file
    written_with: Mapping[str, bool | int | float | str]  # written along whenever the file is


@dataclass(frozen=True)
class Launch:
    """How the server starts: `flags` is ordered, the order the command writes them in."""

    command: tuple[str, ...]
    model_flag: str | None  # None: the model is the first positional argument
    fixed: tuple[str, ...]
    flags: Mapping[Setting, str]
    options_file: OptionsFile | None = None
    multinode: MultiNode | None = None  # one engine over several nodes (model/node_launch.py)


@dataclass(frozen=True)
class _Profile:
    token_budget: int
    kv_fraction: float
    reserve_per_request_osl: float
    runtime_reserve_gib: float
    token_budget_split_over_dp: bool = False


@dataclass(frozen=True)
class _File:
    backend: Backend
    capabilities: Capabilities
    default_quantizations: Mapping[GemmQuant, tuple[GemmQuant, ...]]
    profile: _Profile
    launch: Launch
    parallel_rules: ParallelRules  # MoE engines (model/parallel_rules.py)
    disaggregation: Disaggregation | None = None  # prefill / decode workers and their router


@dataclass(frozen=True)
class Framework:
    """One framework's data file, typed. `profile` is the estimators' view of it."""

    backend: Backend
    capabilities: Capabilities
    default_quantizations: Mapping[GemmQuant, tuple[GemmQuant, ...]]
    profile: FrameworkProfile
    launch: Launch
    parallel_rules: ParallelRules
    disaggregation: Disaggregation | None = None

    def default_gemm_quants(self, checkpoint: GemmQuant) -> tuple[GemmQuant, ...]:
        """What a plan considers when the request names no format: listed per checkpoint, else its own."""
        return self.default_quantizations.get(checkpoint, (checkpoint,))


@dataclass(frozen=True)
class OfflineQuantizer:
    """A tool that writes a checkpoint in a format the framework cannot make on load (modelopt.yaml)."""

    command: str  # shell text, kept as written (it may expand variables)
    checkpoint_flag: str
    qformat_flag: str
    export_flag: str
    export_folder: str  # format string over {name} (the model's last path component) and {qformat}
    qformats: Mapping[GemmQuant, str]


# --------------------------------------------------------------------------- reading
def load_framework(path: Path) -> Framework:
    """One framework file, validated; its name must be its backend's (`vllm.yaml` says `backend: vllm`)."""
    f = _build(_File, _read(path), f"{path}:")
    if f.backend.value != path.stem:
        raise FrameworkDataError(f"{path}: backend: {f.backend.value} in a file named {path.name}")
    _check_launch(f, str(path))
    if f.disaggregation:
        _check_disaggregation(f.disaggregation, f.launch, str(path))
    p = f.profile
    prof = FrameworkProfile(f.backend, p.token_budget, p.kv_fraction, f.capabilities.memory_fraction_of,
                            p.reserve_per_request_osl, p.runtime_reserve_gib * GIB, f.capabilities.gemm_swaps(None),
                            token_budget_split_over_dp=p.token_budget_split_over_dp)
    return Framework(f.backend, f.capabilities, f.default_quantizations, prof, f.launch, f.parallel_rules,
                     f.disaggregation)


def load_quantizer(path: Path) -> OfflineQuantizer:
    return _build(OfflineQuantizer, _read(path), f"{path}:")


@cache
def framework(backend: Backend | str) -> Framework:
    """The shipped data of `backend` (read once)."""
    return load_framework(_FOLDER / f"{Backend(backend).value}.yaml")


@cache
def offline_quantizer() -> OfflineQuantizer:
    return load_quantizer(_FOLDER / "modelopt.yaml")


def profile(backend: Backend | str) -> FrameworkProfile:
    return framework(backend).profile


def prefill_profile(fw: FrameworkProfile, batch: int, isl: int) -> FrameworkProfile:
    """A disaggregated prefill worker's profile: its token budget takes a whole batch of prompts in one
    step (batch x isl, never below the framework's default), so a worker's memory plan is computed with
    the activations its server will really reserve (generators/disagg_launch.py checks it)."""
    return replace(fw, token_budget=max(fw.token_budget, batch * isl))


def _read(path: Path) -> object:
    import yaml

    from sloplan.perfdb.yaml_cache import load_yaml_file

    try:
        return load_yaml_file(path)
    except yaml.YAMLError as exc:
        raise FrameworkDataError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None


_ALWAYS = {Setting.MAX_SEQS, Setting.TOKEN_BUDGET, Setting.MEMORY_FRACTION, Setting.CONTEXT_LENGTH}


def _check_launch(f: _File, where: str) -> None:
    """Every setting the plan relies on has somewhere to go (the batch, token budget, memory fraction and
    context the capacity figures assumed, the parallelism, a KV dtype and a format made on load), every
    KV dtype has a spelling, and no setting has two places."""
    launch = f.launch
    unspelt = sorted(k.value for k in set(KvDtype) - set(f.capabilities.kv_dtypes))
    if unspelt:
        raise FrameworkDataError(f"{where}: capabilities.kv_dtypes: no entry for {', '.join(unspelt)}")
    extra = launch.options_file.keys if launch.options_file else {}
    twice = set(launch.flags) & set(extra)
    if twice:
        raise FrameworkDataError(f"{where}: launch: {', '.join(sorted(s.value for s in twice))} both a flag "
                                 "and a file key")
    written = set(launch.flags) | set(extra)
    needs = _ALWAYS | {Setting(p.value) for p in f.capabilities.parallelism if p not in f.parallel_rules.implied}
    needs |= {Setting.QUANTIZATION} if any(f.capabilities.quantize_on_load.values()) else set()
    needs |= {Setting.KV_DTYPE} if any(v is not None for v in f.capabilities.kv_dtypes.values()) else set()
    needs |= {Setting.MOE_A2A} if f.capabilities.wide_ep else set()
    missing = needs - written
    if missing:
        raise FrameworkDataError(f"{where}: launch.flags: no flag for {', '.join(sorted(s.value for s in missing))}")
    for template, names in unknown_fields(launch.multinode) if launch.multinode else ():
        raise FrameworkDataError(f"{where}: launch.multinode: {template!r} names {', '.join(names)}; accepted: "
                                 f"{', '.join(sorted(NODE_FIELDS))}")


def _check_disaggregation(d: Disaggregation, launch: Launch, where: str) -> None:
    """The default transfer backend is one it accepts; templates name only DISAGG_FIELDS (${aux_port}
    only where workers get one); options-file keys only where the framework has an options file."""
    where = f"{where}: disaggregation"
    if d.transfer_backend not in d.transfer_backends:
        raise FrameworkDataError(f"{where}.transfer_backend: {d.transfer_backend!r} is not one of "
                                 f"{', '.join(d.transfer_backends)}")
    known = set(DISAGG_FIELDS) - ({"aux_port"} if d.first_aux_port is None else set())
    router = [*d.router.prefill, *d.router.decode, *([d.router.file.url] if d.router.file else [])]
    _check_templates(router, known - {"token_budget"}, f"{where}.router")  # a worker's address, not its budget
    templates: list[str] = []
    for role in ("prefill", "decode"):
        w = getattr(d, role)
        if w.options and not launch.options_file:
            raise FrameworkDataError(f"{where}.{role}.options: launch has no options_file to write them to")
        templates += [*w.flags.values(), *w.env.values(), *(v for v in w.options.values() if isinstance(v, str))]
    _check_templates([*templates, *d.across_nodes_env.values()], known, where)


def _check_templates(templates: list[str], known: set[str], where: str) -> None:
    for t in templates:
        unknown = set(string.Template(t).get_identifiers()) - known
        if unknown:
            raise FrameworkDataError(f"{where}: {t!r} names {', '.join(sorted(unknown))}; accepted: "
                                     f"{', '.join(sorted(known))}")


# --------------------------------------------------------------------------- a strict, typed builder
def _build(tp: object, value: object, where: str) -> object:
    """`value` (plain YAML data) as type `tp`: dataclasses by field, enums by value, tuples, mappings,
    optionals and scalars (bool is not a number here); anything else is an error at `where`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_dataclass(tp):
        return _build_dataclass(tp, value, where)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            return _build(kinds[0], value, where)
        if type(value) in kinds or (float in kinds and type(value) is int):
            return value
        raise FrameworkDataError(f"{where}: expected {' or '.join(k.__name__ for k in kinds)}, got {_kind(value)}")
    if origin is tuple:
        _expect(isinstance(value, list), "a list", value, where)
        return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        _expect(isinstance(value, dict), "a mapping", value, where)
        return types.MappingProxyType({_build(args[0], k, _at(where, k)): _build(args[1], v, _at(where, k))
                                       for k, v in value.items()})
    if isinstance(tp, type) and issubclass(tp, Enum):
        accepted = [m.value for m in tp]
        if value not in accepted:
            raise FrameworkDataError(f"{where}: {value!r} is not one of {', '.join(accepted)}")
        return tp(value)
    return _scalar(tp, value, where)


def _build_dataclass(tp: type, value: object, where: str) -> object:
    _expect(isinstance(value, dict), "a mapping", value, where)
    hints, names = typing.get_type_hints(tp), [f.name for f in fields(tp)]
    for key in value:
        if key not in names:
            raise FrameworkDataError(f"{_at(where, key)}: unknown key; accepted: {', '.join(names)}")
    for f in fields(tp):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in value:
            raise FrameworkDataError(f"{_at(where, f.name)}: missing")
    return tp(**{k: _build(hints[k], v, _at(where, k)) for k, v in value.items()})


def _at(where: str, key: object) -> str:
    """`file: a.b` + key: the file's top-level keys after a colon, nested ones after a dot."""
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _scalar(tp: object, value: object, where: str) -> object:
    ok = {bool: type(value) is bool, int: type(value) is int, float: type(value) in (int, float),
          str: type(value) is str}
    if tp not in ok:
        raise TypeError(f"no reader for {tp}")
    _expect(ok[tp], tp.__name__, value, where)
    return float(value) if tp is float else value


def _expect(ok: bool, what: str, value: object, where: str) -> None:
    if not ok:
        raise FrameworkDataError(f"{where}: expected {what}, got {_kind(value)}")


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"
