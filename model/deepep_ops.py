"""SGLang's wide-EP MoE layer (`--moe-a2a-backend deepep`, model/wide_ep.py): DeepEP dispatch, the DeepGEMM
expert compute and DeepEP combine, priced from SGLang's own tables instead of the generic MoE table and
the all-gather / reduce-scatter of its default path.

* Experts: `DeepEpMoe` (perfdb/wideep.py): the wide-EP MoE tables (`moe/sglang/<v>/wideep_{context,
  generation}_moe_perf`), keyed by the EP group's tokens (the collector logs tokens per rank x EP), which
  time `run_moe_core` alone. At EP 32 with 128 decode tokens per rank they answer 197 us per layer where
  the generic table (flashinfer / triton lanes) answers 852 us for the same group tokens.
* Dispatch / combine: `DeepEpStep` (perfdb/deepep.py): the DeepEP tables (`comm/sglang/<v>/
  wideep_deepep_{ll,normal}_perf`), keyed by tokens per rank (one GPU's: the attention-TP ranks of a DP
  rank split its tokens), on ceil(ep / 8) of the tables' 8-GPU nodes (every shipped row is one node, so
  a larger EP is read at the boundary with the inter-node SOL, at least EXTRAPOLATED).
Decode steps (`decode` 1) use the low-latency kernels and the generation table, steps carrying prefill
tokens the normal kernels and the context table, elementwise over the step shapes of one call.
"""
from __future__ import annotations

import numpy as np

from sloplan.perfdb.queries import DeepEpMoe, DeepEpStep

from .arch import ModelArch
from .engine import Engine
from .ops import Op, Term

DEEPEP_NODE_GPUS = 8  # the DeepEP tables' node: node_num counts 8-GPU nodes


def deepep_terms(arch: ModelArch, engine: Engine, tokens: np.ndarray, group: np.ndarray, decode: np.ndarray,
                 expert_dtype: str, distribution: str, count: float) -> list[Term]:
    """Dispatch, experts and combine of `count` MoE layers: `tokens` per attention-DP rank, `group` over the
    EP group (the experts' tokens), `decode` 1 where the step is a decode-only batch."""
    moe, h = arch.mlp.moe, arch.hidden_size
    per_gpu = np.ceil(np.asarray(tokens, dtype=float) / engine.tp)
    nodes = max(1, -(-engine.moe_ep // DEEPEP_NODE_GPUS))
    comm = (h, moe.top_k, moe.num_experts)
    experts = DeepEpMoe(group, decode, h, moe.expert_intermediate, moe.top_k, moe.num_experts, engine.moe_ep,
                        expert_dtype, distribution)
    return [Term(DeepEpStep(per_gpu, decode, *comm, "dispatch", nodes), count, Op.MOE_DISPATCH),
            Term(experts, count, Op.MOE_EXPERTS),
            Term(DeepEpStep(per_gpu, decode, *comm, "combine", nodes), count, Op.MOE_COMBINE)]
