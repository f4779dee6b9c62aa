"""Framework overheads the kernel tables cannot see, fitted on the development split only.

The tables time kernels; a served step also pays the scheduler, sampling, detokenization and
launch gaps. `step_overhead_s` is added to every forward step and `kernel_scale` multiplies kernel
time (it absorbs, e.g., CUDA-graph vs eager differences). The numbers live in
model/catalog/calibration.yaml and are produced by `bench/calibrate.py`, which reads only
development-split rows of silicon_sample.csv (design.md, Contracts). Models with expert layers read the
file's `moe:` block on top (`bench/calibrate.py --moe`, fitted on the MoE rows alone), so the dense
constants never move with the MoE ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache, cache
from pathlib import Path

from sloplan.core.enums import Client

from .attention import AttentionKind
from .framework import Backend

_FILE = Path(__file__).parent / "catalog" / "calibration.yaml"


@dataclass(frozen=True)
class Calibration:
    """Per-framework constants (optionally per system) for what the kernel tables do not time.

    step_overhead_s: scheduler/sampling/launch time added to every forward step.
    kernel_scale: multiplies kernel time (CUDA graphs vs eager, kernel choices the tables lack).
    ttft_overhead_s: tokenization, HTTP and first scheduling before a request's prefill starts.
    queue_coef, queue_exp: prefill contention. Clients of a closed-loop benchmark start together and
    stay partly synchronized, so a new request often finds others' prompts ahead of it: it waits
    queue_coef * (running - 1) ** queue_exp * load ** queue_load_exp prompts' prefill, each priced at
    the packed (full-step) rate. `load` is the share of step time spent on prompts: with long outputs
    prompts arrive rarely and seldom meet one another, however many clients there are (one exponent
    more; 5-fold cross-validated TTFT MAPE 22.1 % → 21.6 %).
    tpot_mixed_weight: how much of the prefill-carrying (mixed) steps the *reported* TPOT contains —
    1 for a per-request mean over all its steps, towards 0 for harnesses whose figure behaves like
    a median inter-token latency (mostly decode-only steps). Throughput always uses the true mean.
    request_overhead_s: CPU time per request in a step (scheduling, sampling, detokenization), which
    makes large batches CPU-bound whatever the GPU count.
    prefill_scale: prefill service time relative to the kernel tables (prefix-cache hits in a
    harness make it < 1; slower prefill kernels than the tables' make it > 1).
    frontend_s_per_token: CPU time the serving process's frontend (HTTP streaming, detokenization)
    spends per output token, beside the GPU rather than in series with it: one server streams at
    most 1/frontend_s_per_token tokens/s, and clients beyond that wait for their first token (the
    h100 TRT-LLM rows plateau near 9 k tokens/s at TP2 and TP8 alike). 0 means no such limit.
    dp_wait_steps: decode steps a new request waits before its prefill on an attention-DP engine (dp > 1):
    TRT-LLM's attention-DP balancing holds a context request until every rank has one or timeout_iters
    iterations have passed (AttentionDpConfig: 50 by default), and vLLM's DP ranks admit new prompts in
    step with the DP group. The dev rows show it: TRT-LLM attention-DP TTFTs exceed the prefill by 30-180
    measured TPOTs at any concurrency (1-12 s), vLLM's by 5-10. Fitted only on partitions with attention-DP
    rows (bench/calibrate.py --moe); 0 elsewhere, and dp = 1 engines never pay it.
    prefill_in_steps: prefill_scale also scales the prompt work of the mixed and full steps the TPOT
    averages over, not only the TTFT's prefill: a prompt that takes prefill_scale times the tables' time
    in its own TTFT takes it in the decode steps it shares too (B300 SGLang DeepSeek-V3 at 8k/1k: TPOT
    grows by about 1.3 ms per client, the measured TTFT's prefill of ~1.4 s spread over the other clients'
    1,023 steps, where the unscaled steps gave 0.3 ms; 0.6 ms with it). True for the MoE block (model/aggregated.py);
    the dense constants were fitted with it off and keep it off until they are refit with it.
    draft_accept_rate: the probability that an MTP draft token is accepted once the one before it was
    (model/speculative.py); read only by engines that speculate (FrameworkProfile.draft_tokens > 0) and
    fitted only on partitions with such rows (bench/calibrate.py --moe). 0 elsewhere: a speculating
    engine without a fitted rate pays the drafts and gains nothing.
    """

    step_overhead_s: float = 0.0
    kernel_scale: float = 1.0
    ttft_overhead_s: float = 0.0
    queue_coef: float = 0.0
    queue_exp: float = 0.5
    tpot_mixed_weight: float = 1.0
    prefill_scale: float = 1.0
    request_overhead_s: float = 0.0
    queue_load_exp: float = 0.0
    frontend_s_per_token: float = 0.0
    dp_wait_steps: float = 0.0
    draft_accept_rate: float = 0.0
    prefill_in_steps: bool = False
    by_gemm: tuple[tuple[str, "Calibration"], ...] = ()  # refined constants per engine GEMM format (`for_engine`)

    def frontend_load(self, tokens_per_s: float) -> float:
        """A server's output tokens/s as a share of its frontend limit (0 when there is none)."""
        return tokens_per_s * self.frontend_s_per_token

    def dp_wait_s(self, step_s, dp: int):
        """The attention-DP admission wait (dp_wait_steps) in seconds for an engine of `dp` ranks whose steps
        take `step_s` (a float or an array): 0 at dp 1. One definition for every mode that admits a request
        to an attention-DP engine: the aggregated closed loop (model/aggregated.py) before its prefill, a
        disaggregated decode worker (model/disagg_workers.py) before its first step."""
        return self.dp_wait_steps * step_s if dp > 1 else 0.0 * step_s

    def for_client(self, client: Client) -> "Calibration":
        """The constants as seen by `client`. The frontend streaming limit belongs to an HTTP serving
        front (one process streaming every request's tokens), not to the engine: an offline throughput
        run (trtllm-bench, vllm bench throughput) has no such front, so it is dropped; everything else,
        fitted on the engine, stays. The dense calibration rows were measured through serving fronts."""
        if Client(client) is Client.SERVING:
            return self
        return replace(self, frontend_s_per_token=0.0,
                       by_gemm=tuple((g, c.for_client(client)) for g, c in self.by_gemm))

    def for_engine(self, engine) -> "Calibration":
        """The constants of an engine of this context: the entry fitted on the rows of its GEMM format
        (`by_gemm`, the moe: block's `system/backend/design/gemm` entries) where there is one, else these.
        An MoE model's expert kernels follow its GEMM format (block-FP8 DeepGEMM / trtllm-gen, NVFP4
        CUTLASS / trtllm-gen), whose tables miss different costs. Idempotent: a refined entry has none."""
        return next((c for g, c in self.by_gemm if g == engine.quant.gemm.value), self)


@lru_cache(maxsize=1)
def _table() -> dict:
    if not _FILE.exists():
        return {}
    from sloplan.perfdb.yaml_cache import load_yaml_file

    return load_yaml_file(_FILE) or {}


MOE_BLOCK = "moe"  # calibration.yaml's block of constants fitted on the MoE / MLA rows


@cache
def calibration(backend: Backend | str, system: str | None = None, moe: bool = False,
                design: AttentionKind | None = None) -> Calibration:
    """The backend's constants, with the (system, backend) entry's fields on top when there is one.

    `moe`: a model with expert layers (MoE, MLA, hybrid MoE) takes the `moe:` block's entries on top of
    those, the same two levels fitted on the MoE rows alone (bench/calibrate.py --moe), so refitting
    either never moves the other; where the block has no entry the dense constants stand. `design`: the
    model's attention design; the block's `system/backend/design` entry (fitted on that design's rows of
    the pair where they are enough) goes on top, and each `system/backend/design/gemm` entry on top of
    that is the constants of the engines of that GEMM format (Calibration.for_engine). MLA and GQA MoE
    models on one (system, backend) differ in what the kernel tables miss: TRT-LLM DeepSeek TTFTs at 1k
    tokens sit 130-370 ms above the prefill where gpt-oss's on the same GPUs and framework are met within
    a few ms."""
    name = Backend(backend).value
    blocks = [_table()] + ([_table().get(MOE_BLOCK) or {}] if moe else [])
    fields: dict = {}
    moe_fit = False  # whether any constant came from the moe: block (fitted with prefill_in_steps)
    for i, block in enumerate(blocks):
        entries = [block.get(name) or {}]
        if system:
            entries.append(block.get(f"{system}/{name}") or {})
            if i and design is not None:
                entries.append(block.get(f"{system}/{name}/{AttentionKind(design).value}") or {})
        for entry in entries:
            fields.update(entry)
            moe_fit = moe_fit or bool(i and entry)
    prefix = f"{system}/{name}/{AttentionKind(design).value}/" if moe and system and design is not None else None
    by_gemm = tuple((key[len(prefix):], Calibration(**{**fields, **entry}, prefill_in_steps=True))
                    for key, entry in sorted(blocks[-1].items()) if prefix and key.startswith(prefix))
    return Calibration(**fields, prefill_in_steps=moe_fit, by_gemm=by_gemm)
