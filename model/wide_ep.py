"""When a framework runs its wide expert-parallel all-to-all (SGLang: `--moe-a2a-backend deepep`), as data.

SGLang's default MoE path gathers every attention-DP rank's tokens to every GPU and reduce-scatters the
outputs; with `--moe-a2a-backend deepep` it sends each token to the ranks of its top-k experts only
(DeepEP: low-latency kernels for decode batches, normal ones for prefill, `--deepep-mode auto`) and runs
the experts with DeepGEMM grouped kernels. DeepEP needs pure expert parallelism (the expert group is the
whole engine, moe_tp 1) and is what large attention-DP engines are launched with. The framework file
says whether and from which EP size sloplan plans (and launches) it (`capabilities.wide_ep`); the
pricing follows the launch (model/deepep_ops.py), so a plan's command and its estimate agree.

A leaf (imports nothing of the model but the engine): model/framework.py reads the rule from the data.
"""
from __future__ import annotations

from dataclasses import dataclass

from .engine import Engine


@dataclass(frozen=True)
class WideEp:
    """`a2a_backend`: the value of the framework's all-to-all flag (Setting.MOE_A2A); `min_ep`: the
    smallest expert-parallel degree it is launched with, on engines with attention DP and moe_tp 1."""

    a2a_backend: str
    min_ep: int

    def applies(self, engine: Engine) -> bool:
        return engine.dp > 1 and engine.moe_tp == 1 and engine.moe_ep >= self.min_ep
