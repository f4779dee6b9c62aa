"""Engine: one replica's parallelism and quantization, and the rules that make it valid."""
from __future__ import annotations

from dataclasses import dataclass

from sloplan.perfdb.queries import MoeKernel
from .arch import ModelArch
from .quant import Quant

TP_SIZES = (1, 2, 4, 8, 16)
PP_SIZES = (1, 2, 4)


@dataclass(frozen=True)
class Engine:
    """Tensor x pipeline (x attention-data) parallel group running one copy of the model in one quantization.

    `dp` is attention data parallelism: dp copies of the attention layers, each with tp ranks, share one
    set of MoE layers split moe_tp x moe_ep ways (so moe_tp * moe_ep == tp * dp for a MoE model). A dense
    model keeps dp = moe_tp = moe_ep = 1, and its label is the dense one. `moe_kernel`: the MoE backend a
    TensorRT-LLM engine runs its experts on (its launch writes `moe_config.backend` where it is not
    TRT-LLM's own default, CUTLASS; the label names it then); other frameworks ignore it."""

    tp: int
    pp: int
    quant: Quant
    dp: int = 1
    moe_tp: int = 1
    moe_ep: int = 1
    moe_kernel: MoeKernel = MoeKernel.CUTLASS

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def label(self) -> str:
        extra = "".join(f"{name}{n}" for name, n in (("dp", self.dp), ("etp", self.moe_tp), ("ep", self.moe_ep))
                        if n > 1)
        kernel = "" if self.moe_kernel is MoeKernel.CUTLASS else f" moe:{self.moe_kernel.value}"
        return f"tp{self.tp}pp{self.pp}{extra} {self.quant.label}{kernel}"

    def kv_heads_per_gpu(self, arch: ModelArch) -> int:
        """KV heads each TP rank stores; heads are replicated when TP exceeds the KV-head count."""
        return max(1, -(-arch.num_kv_heads // self.tp))

    def layers_per_stage(self, arch: ModelArch) -> int:
        """Layers on the busiest pipeline stage (the one that sets the pace)."""
        return -(-arch.num_layers // self.pp)


def invalid_reason(engine: Engine, arch: ModelArch, gpus_per_node: int) -> str | None:
    """Why this engine cannot run this model on this node size, or None when it can (the tp x pp rules;
    a MoE engine's dp / moe_tp / moe_ep rules, per framework: model/parallel_rules.py engine_problem)."""
    if arch.num_heads % engine.tp:
        return f"{arch.num_heads} attention heads are not divisible by tp={engine.tp}"
    if engine.tp > gpus_per_node and not (engine.tp == 2 * gpus_per_node):
        return f"tp={engine.tp} spans more than two nodes of {gpus_per_node} GPUs"
    if engine.pp > arch.num_layers:
        return f"pp={engine.pp} exceeds {arch.num_layers} layers"
    if engine.tp > gpus_per_node and engine.pp > 1:
        return "tp across nodes is not combined with pp"
    return None


def candidate_engines(arch: ModelArch, quants: list[Quant], gpus_per_node: int, max_gpus: int) -> list[Engine]:
    """Every structurally valid tp x pp engine within the GPU budget (memory is checked by model.memory);
    the engines of a dense model. A MoE model's: model/parallel_rules.py engines_for."""
    out = []
    for q in quants:
        for tp in TP_SIZES:
            for pp in PP_SIZES:
                e = Engine(tp, pp, q)
                if e.gpus <= max_gpus and invalid_reason(e, arch, gpus_per_node) is None:
                    out.append(e)
    return out
