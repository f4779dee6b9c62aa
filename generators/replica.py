"""The launch of one replica of a plan's engine: one command (generators/launch.py), or one per node for
an engine larger than a node of its system (generators/multinode.py)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sloplan.model.arch import ModelArch
from sloplan.model.engine import Engine
from sloplan.model.framework import Backend, Framework, FrameworkProfile, framework
from sloplan.model.memory import MemoryPlan
from sloplan.model.workload import Workload

from .launch import offline_quantization, server_command, settings
from .multinode import NodeLaunch, node_launch


@dataclass(frozen=True)
class ReplicaLaunch:
    """`text`: what to paste (for an engine over nodes: a comment and a command per node); `nodes`: the
    per-node commands (None on one node)."""

    text: str
    nodes: NodeLaunch | None = None


def replica_launch(backend: Backend, arch: ModelArch, engine: Engine, memory: MemoryPlan, fw: FrameworkProfile,
                   wl: Workload, max_seqs: int, spec: Framework | None = None,
                   gpus_per_node: int | None = None, env: Sequence[str] = ()) -> ReplicaLaunch:
    """What starts one replica of `engine` serving up to `max_seqs` requests at once, preceded by the
    checkpoint conversion the plan's quantization needs, if any (build_context has already refused
    formats the checkpoint cannot give). `spec`: the framework's data (default: the shipped file of
    `backend`); `gpus_per_node`: the system's node size (None: the engine is started on one node).

    It loads `arch.checkpoint` (the resolved Hugging Face id or local folder), never the user's
    spelling of the model: `qwen3-32b` resolves to an architecture, but only `Qwen/Qwen3-32B` downloads.
    `memory` is the plan's: the memory knob written is the framework profile's, which that plan assumed.
    `env`: environment assignments ("NAME=value") the priced kernels need (model/moe_ops.py kernel_env)."""
    spec, ckpt = spec or framework(backend), arch.checkpoint_quant
    prepare, served = offline_quantization(spec, arch.checkpoint, engine, ckpt)
    values = settings(spec, engine, fw, wl, max_seqs, ckpt, gpus_per_node)
    nodes = node_launch(spec.launch, engine, gpus_per_node, served, values, prepare.removesuffix(" && "), env) \
        if gpus_per_node else None
    if nodes is not None:
        return ReplicaLaunch(nodes.text(), nodes)
    return ReplicaLaunch(prepare + server_command(spec.launch, served, values, env))


def launch_command(backend: Backend, arch: ModelArch, engine: Engine, memory: MemoryPlan, fw: FrameworkProfile,
                   wl: Workload, max_seqs: int, spec: Framework | None = None, gpus_per_node: int | None = None) -> str:
    """replica_launch's text."""
    return replica_launch(backend, arch, engine, memory, fw, wl, max_seqs, spec, gpus_per_node).text
