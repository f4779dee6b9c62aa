"""The closed sets of sloplan, each defined once.

They used to live in the layer that first needed them (Backend in model/framework.py, Tier in perfdb,
SloKind in solver...), so a lower layer that needed one spelled it out again as strings. Here they sit
below every layer; the old modules re-export them, so `from sloplan.model.framework import Backend` and
`from sloplan.core import Backend` name the same class. Members are `str` (or `int`) enums so values read
from YAML, Parquet and the CLI compare and hash like the strings they replace.
"""
from __future__ import annotations

from enum import Enum, IntEnum

from .dtypes import BY_NAME


class Backend(str, Enum):
    """A serving framework."""

    TRTLLM = "trtllm"
    VLLM = "vllm"
    SGLANG = "sglang"


BACKEND_NAMES: tuple[str, ...] = tuple(b.value for b in Backend)  # in declaration order, for messages/choices


class KvFractionOf(str, Enum):
    """What the framework's KV-memory fraction is a fraction *of* (their semantics differ)."""

    FREE_AFTER_WEIGHTS = "free"  # TRT-LLM kv_cache_config.free_gpu_memory_fraction
    TOTAL = "total"  # vLLM --gpu-memory-utilization, SGLang --mem-fraction-static


class Parallelism(str, Enum):
    """A way a framework splits one model over GPUs (each a Setting of the launch command too)."""

    TP = "tp"
    PP = "pp"
    DP = "dp"  # attention data parallelism (MoE models)
    MOE_TP = "moe_tp"
    MOE_EP = "moe_ep"


class Setting(str, Enum):
    """What a launch command sets; each framework names the flag (or options-file key) for it."""

    TP = "tp"
    PP = "pp"
    MAX_SEQS = "max_seqs"
    TOKEN_BUDGET = "token_budget"
    MEMORY_FRACTION = "memory_fraction"
    KV_DTYPE = "kv_dtype"
    CONTEXT_LENGTH = "context_length"
    QUANTIZATION = "quantization"
    NO_PREFIX_CACHING = "no_prefix_caching"  # a switch, written without a value
    DP = "dp"  # attention data-parallel ranks (written when > 1)
    MOE_TP = "moe_tp"  # expert tensor parallelism (written when > 1 and the framework takes it)
    MOE_EP = "moe_ep"  # expert parallelism (written when > 1)
    ATTENTION_DP = "attention_dp"  # a switch: attention data parallelism on (dp > 1)
    EXPERT_PARALLEL = "expert_parallel"  # a switch: expert parallelism on (moe_ep > 1)
    MOE_A2A = "moe_a2a"  # the experts' all-to-all backend, where the framework's wide-EP rule applies
    MOE_BACKEND = "moe_backend"  # the experts' kernel backend, where the engine's is not the framework default


class GemmQuant(str, Enum):
    """Weight/activation format of the linear layers (names match the perf tables' dtypes)."""

    BF16 = "bf16"
    FP8 = "fp8"  # per-tensor scaled FP8
    FP8_BLOCK = "fp8_block"  # 128x128 block-scaled FP8 (DeepSeek / Qwen3-FP8 checkpoints)
    NVFP4 = "nvfp4"  # FP4 with one FP8 scale per 16 values

    @property
    def weight_bytes(self) -> float:
        """Bytes per weight element in memory, block scales included (core/dtypes.py `storage_bytes`)."""
        return BY_NAME[self.value].storage_bytes

    def derivable_from(self, checkpoint: GemmQuant) -> bool:
        """Whether weights in `checkpoint` format can be served in this one: a BF16 checkpoint can be
        quantized to any format (on load or offline); quantized weights are never de-quantized."""
        return self is checkpoint or checkpoint is GemmQuant.BF16

    @property
    def compute_dtype(self) -> str:
        """Key into SystemSpec.flops_per_s for this mode's tensor-core rate (core/dtypes.py `flops_key`)."""
        return BY_NAME[self.value].flops_key


class KvDtype(str, Enum):
    """Element type of the KV cache."""

    BF16 = "bf16"
    FP8 = "fp8"

    @property
    def bytes(self) -> float:
        """Bytes per cached element (core/dtypes.py)."""
        return BY_NAME[self.value].storage_bytes


class Phase(str, Enum):
    """The two phases of a request. perfdb's files and grid names use both spellings: the long one
    ("context_attention_perf.parquet", DSA/linear-attention calls) is the value, the short one ("ctx"
    grid keys, lane tables) is `short`; `parse` accepts either."""

    CONTEXT = "context"  # prefill: the prompt's tokens, in one pass
    GENERATION = "generation"  # decode: one new token per request per step

    @property
    def short(self) -> str:
        return "ctx" if self is Phase.CONTEXT else "gen"

    @classmethod
    def parse(cls, text: str) -> Phase:
        """The phase named by `text`, long or short spelling."""
        for phase in cls:
            if text in (phase.value, phase.short):
                return phase
        raise ValueError(f"unknown phase {text!r}; expected one of context, generation, ctx, gen")


class ServingMode(str, Enum):
    """How a plan serves requests: each replica whole requests (static, agg), or a prefill pool and a
    decode pool handing the KV cache over (disagg: solver/problems/disagg.py, not an OptionTable mode)."""

    STATIC = "static"  # a batch arrives together, prefills together, decodes to the end
    AGG = "agg"  # continuous (in-flight) batching with chunked prefill, closed-loop concurrency
    DISAGG = "disagg"  # prefill and decode workers in separate pools, KV cache sent between them


class Client(str, Enum):
    """What drives the engine: an HTTP serving front that streams tokens to benchmark clients (the
    frontend's streaming limit applies), or an offline throughput run in the engine's own process
    (`trtllm-bench`, `vllm bench throughput`: no such front)."""

    SERVING = "serving"
    OFFLINE = "offline"


class Role(str, Enum):
    """What a replica group does in a plan. Today every replica serves whole requests in its mode;
    disaggregated serving adds prefill and decode pools as roles of their own."""

    AGG = "agg"
    STATIC = "static"
    PREFILL = "prefill"  # a disaggregated plan's prefill pool: prompts in, KV cache out
    DECODE = "decode"  # a disaggregated plan's decode pool: KV cache in, output tokens out
    ROUTER = "router"  # a disaggregated plan's router / proxy: joins the pools, serves no tokens itself


class Tier(IntEnum):
    """How an estimate was obtained. Larger values are less trusted, so `max` gives the weakest link."""

    MEASURED = 0  # an exact row of a silicon table
    INTERPOLATED = 1  # inside the convex hull of measured rows on every axis
    EXTRAPOLATED = 2  # outside the measured range on at least one axis (bounded, see perfdb/interp.py)
    ROOFLINE = 3  # speed-of-light / analytic, no measurement of this op

    @property
    def label(self) -> str:
        return self.name.lower()


class ConstraintGroup(str, Enum):
    """Named groups of constraint rows; the value is also the default name of the group's block.

    A group is the unit an explainer relaxes and a driver re-bounds ("lower the GPU budget", "drop the
    TTFT rows"). A new kind of row (a disaggregated pool's rate balance, a memory row) is a new member here.
    """

    GPU_BUDGET = "gpu_budget"  # sum of GPUs used <= N
    MIN_REPLICAS = "min_replicas"  # at least one replica
    SLO_TTFT = "slo_ttft"  # options breaking the TTFT limit are not used
    SLO_TPOT = "slo_tpot"
    SLO_REQUEST_LATENCY = "slo_request_latency"
    USER_SPEED_FLOOR = "user_speed_floor"  # the Pareto tracer's epsilon row per option
    THROUGHPUT_FLOOR = "throughput_floor"  # served tokens/s >= T (lexicographic tie-breaks)
    RATE_BALANCE = "rate_balance"  # disaggregated: served rate <= what each pool sustains
    MEMORY = "memory"  # disaggregated: a decode worker's KV memory holds its concurrency
    #                    (certificates: engines whose KV budget cannot hold one request)
    QUANTIZATION = "quantization"  # certificates: options in a format the request does not plan
    POOL_GPUS = "pool_gpus"  # disaggregated: per-pool (prefill / decode) and per-GPU-class limits
    ENGINE_CHOICE = "engine_choice"  # disaggregated: one engine type per pool (binary + big-M link)
    LOAD_TARGET = "load_target"  # sizing: served load (requests/s or concurrency) >= the target
    COST_BUDGET = "cost_budget"  # sizing: cost per hour <= C (lexicographic tie-breaks)
    PIECEWISE = "piecewise"  # compact: rows making tokens/s and latencies piecewise-linear in concurrency


class LoadKind(str, Enum):
    """What a sizing target counts: an open-loop request rate or a closed-loop number of users."""

    RATE = "rate"  # requests/s the deployment completes
    CONCURRENCY = "concurrency"  # requests in flight at once (benchmark clients that replace each finished one)


class PlanBasis(str, Enum):
    """Where a certificate's relaxation solved the plan it shows (solver/cert_union.py `usable_limit`)."""

    AT_CHANGE = "at_change"  # at the relaxed value itself
    HALF_PREFILL_LATENCY = "bound_plus_half_prefill_latency"  # a disaggregated TTFT / request-latency
    #   bound plus half its pair's prefill batch latency: at the bound itself the pair serves no load


class SloKind(str, Enum):
    """The three SLOs. `field` names both the `Slo` attribute and the OptionTable column (seconds)."""

    TTFT = "ttft"
    TPOT = "tpot"
    REQUEST_LATENCY = "request_latency"

    @property
    def field(self) -> str:
        return _SLO_FIELD[self]

    @property
    def group(self) -> ConstraintGroup:
        """The constraint group holding this SLO's rows in a formulation."""
        return _SLO_GROUP[self]


_SLO_FIELD = {SloKind.TTFT: "ttft_s", SloKind.TPOT: "tpot_s", SloKind.REQUEST_LATENCY: "request_latency_s"}
_SLO_GROUP = {SloKind.TTFT: ConstraintGroup.SLO_TTFT, SloKind.TPOT: ConstraintGroup.SLO_TPOT,
              SloKind.REQUEST_LATENCY: ConstraintGroup.SLO_REQUEST_LATENCY}
