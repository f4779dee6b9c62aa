"""Speculative decoding with the model's own multi-token-prediction (MTP) layers, as TRT-LLM and SGLang run it.

With `draft_tokens` k > 0 (TRT-LLM `speculative_config: {decoding_type: MTP, num_nextn_predict_layers: k}`;
SGLang `--speculative-algorithm EAGLE --speculative-num-steps k --speculative-eagle-topk 1` on the MTP layer)
every decode step of a request
* verifies k drafted tokens with the accepted one: the target model runs k + 1 tokens per request (its
  GEMMs, MoE and attention see (k + 1) times the decode tokens, and they take that share of the step's
  token budget: InferenceMAX's launch sets max_num_tokens = (k + 1) · max_batch_size + isl + 64);
* drafts the next k tokens with the checkpoint's MTP layer, run k times in sequence: priced as the peer
  does (peer-aiconfigurator.md §1.7), the step's layer count scaled by (L + k) / L;
* moves the request on by the tokens accepted, 1 + a + a² + ... + a^k on average when each draft is
  accepted with probability a given the one before it was (`accepted_tokens`). The rate is a property of
  the model and of the benchmark's text (InferenceMAX prompts random tokens through the chat template),
  which no public source states for the rows; `bench/calibrate.py --moe` fits it where rows speculate
  (Calibration.draft_accept_rate).

The client's TPOT is then the step time over the accepted tokens, and a request's output takes
(osl - 1) / accepted steps (model/aggregated.py closed_loop).
"""
from __future__ import annotations

MAX_DRAFT_TOKENS = 8  # beyond any MTP depth a framework ships (TRT-LLM's DeepSeek recipes use 1-3)


def accepted_tokens(draft_tokens: int, accept_rate: float) -> float:
    """Mean tokens a request advances per step: the verified token plus the accepted prefix of k drafts,
    each accepted with probability `accept_rate` once the one before it was (1 when k = 0)."""
    a = min(max(float(accept_rate), 0.0), 1.0)
    return float(sum(a ** i for i in range(int(draft_tokens) + 1)))


def draft_layer_scale(num_layers: int, draft_tokens: int) -> float:
    """A speculating step's kernels relative to the plain step's: k passes of one MTP layer beside the
    model's L layers, (L + k) / L (peer §1.7)."""
    return (num_layers + draft_tokens) / num_layers
