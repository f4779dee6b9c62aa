"""When a framework runs its wide expert-parallel all-to-all (SGLang: `--moe-a2a-backend deepep`), as data.

SGLang's default MoE path gathers every attention-DP rank's tokens to every GPU and reduce-scatters the
outputs; with `--moe-a2a-backend deepep` it sends each token to the ranks of its top-k experts only
(DeepEP: low-latency kernels for decode batches, normal ones for prefill, `--deepep-mode auto`) and runs
the experts with DeepGEMM grouped kernels. DeepEP needs pure expert parallelism (the expert group is the
whole engine, moe_tp 1) and is what large attention-DP engines are launched with. The framework file
says whether and from how many nodes sloplan plans (and launches) it (`capabilities.wide_ep`); the
pricing follows the launch (model/deepep_ops.py), so a plan's command and its estimate agree.

A leaf (imports nothing of the model but the engine): model/framework.py reads the rule from the data.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .engine import Engine


@dataclass(frozen=True)
class DeepEpBuffers:
    """What the framework's DeepEP buffer is sized from (model/deepep_memory.py turns it into bytes per
    GPU): the bytes per hidden value of the normal-mode hint (`hidden_bytes_per_value`), the SMs of the
    normal kernels (`num_sms`: num_sms / 2 channels), DeepEP's NVLink peers per node (`nvl_peers`), the
    low-latency buffer's tokens per rank (`ll_max_dispatch_tokens_per_rank`), DeepEP's own workspace
    (`workspace_bytes`), and per EP group size the normal kernels' receive chunks
    (`chunked_recv_tokens`: [NVLink tokens, RDMA tokens aligned to the send chunk], the larger of the
    dispatch and the combine config). A group size DeepEP has no config for cannot be launched."""

    hidden_bytes_per_value: int
    num_sms: int
    nvl_peers: int
    ll_max_dispatch_tokens_per_rank: int
    workspace_bytes: int
    chunked_recv_tokens: Mapping[int, tuple[int, ...]]


@dataclass(frozen=True)
class WideEp:
    """`a2a_backend`: the value of the framework's all-to-all flag (Setting.MOE_A2A); `min_nodes`: the
    fewest nodes of the system the expert group spans when it is launched with it, on engines with
    attention DP and moe_tp 1. Within one node (NVLink among all the group's GPUs) the default gather
    path is kept, as the peer keeps intra-node EP on it; across nodes (an 8-GPU HGX node, a 4-GPU
    GB200 / GB300 tray) DeepEP is what wide-EP deployments launch. `buffers`: the communication buffer
    it allocates per GPU (charged in the memory plan, model/moe_memory.py)."""

    a2a_backend: str
    min_nodes: int
    buffers: DeepEpBuffers | None = None

    def applies(self, engine: Engine, gpus_per_node: int | None) -> bool:
        """Whether `engine` runs it on a system of `gpus_per_node` GPUs per node (None: one node)."""
        nodes = -(-engine.moe_ep // gpus_per_node) if gpus_per_node else 1
        return engine.dp > 1 and engine.moe_tp == 1 and engine.moe_ep > 1 and nodes >= self.min_nodes


def a2a_backend(rule: WideEp | None, engine: Engine, gpus_per_node: int | None) -> str | None:
    """The all-to-all flag value `engine` is launched (and priced) with under the framework's `rule`
    (capabilities.wide_ep; None: the framework has none), else None: the one decision both the launch
    (generators/launch.py) and the pricing (model/moe_ops.py) read."""
    return rule.a2a_backend if rule is not None and rule.applies(engine, gpus_per_node) else None
