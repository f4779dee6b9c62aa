"""How a framework starts one engine over several nodes: the `launch.multinode` block of
model/frameworks/<backend>.yaml, typed (read by model/framework.py, written out by generators/multinode.py).

An engine larger than one node of the hardware catalog runs as one process group per node; each
framework joins them its own way, and that way is data here, never code:

* `nodes`: flags every node's server adds (SGLang's --nnodes / --node-rank / --dist-init-addr, vLLM's
  --nnodes / --node-rank / --master-addr), those of the leader (node 0) only, and those of the others
  (vLLM: --headless).
* `data_parallel` (optional): used instead of `nodes` where the engine has attention-DP ranks that each
  fit one node: every node runs its share of the ranks (vLLM: --data-parallel-size-local,
  --data-parallel-start-rank, --data-parallel-address, --headless on the others; its docs' way for
  DP/EP deployments).
* `launcher` (optional): one process on the leader starts every rank of every node (TensorRT-LLM:
  `mpirun -H host:slots,... -np N trtllm-llmapi-launch trtllm-serve ...`); the other nodes start
  nothing themselves, they only need the files the command reads.

Every value is a string.Template over NODE_FIELDS, filled per node by generators/multinode.py.
"""
from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Names a multinode template may use: the engine's node count, this node's rank (0 = leader), the
# leader's address (a shell variable in the output) and rendezvous port, this node's attention-DP ranks
# and the first of them, every node's entry (launcher.host) joined, the engine's GPU count, GPUs per node.
NODE_FIELDS = ("nodes", "rank", "addr", "port", "dp_local", "dp_start", "hosts", "ranks", "gpus_per_node")


@dataclass(frozen=True)
class NodeFlags:
    """Flags an engine over several nodes adds to the server command (value "": a switch written alone):
    on every node, on the leader only, on every other node only."""

    every: Mapping[str, str]
    leader: Mapping[str, str]
    followers: Mapping[str, str]


@dataclass(frozen=True)
class NodeLauncher:
    """A command on the leader that starts the ranks of every node (before the server's own command);
    `host` is one node's entry in ${hosts}, the entries joined by `host_separator`."""

    command: tuple[str, ...]
    host: str
    host_separator: str


@dataclass(frozen=True)
class MultiNode:
    """One engine over several nodes in this framework (see the module docstring); `port` is the leader's
    rendezvous port (None: the launcher's own), `docs` where the framework documents the way."""

    port: int | None
    nodes: NodeFlags
    docs: str
    data_parallel: NodeFlags | None = None
    launcher: NodeLauncher | None = None

    def templates(self) -> Iterable[str]:
        for flags in (self.nodes, self.data_parallel):
            if flags is not None:
                for part in (flags.every, flags.leader, flags.followers):
                    yield from part.values()
        if self.launcher is not None:
            yield from (*self.launcher.command, self.launcher.host)


def unknown_fields(mn: MultiNode) -> list[tuple[str, list[str]]]:
    """(template, names it uses outside NODE_FIELDS — ${port} too where the data gives no port) for every
    template that has any."""
    known = set(NODE_FIELDS) - ({"port"} if mn.port is None else set())
    out = []
    for t in mn.templates():
        unknown = sorted(set(string.Template(t).get_identifiers()) - known)
        if unknown:
            out.append((t, unknown))
    return out
