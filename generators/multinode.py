"""One engine over several nodes: a command per node, node 0 the leader.

An engine larger than one node of the hardware catalog (gpus_per_node: 8 on H100/H200 nodes, 4 on a
GB200/GB300 compute tray — one host each, even inside an NVL72 NVLink domain) runs as one process
group per node. How the framework joins them is its data (model/frameworks/<backend>.yaml
`launch.multinode`, typed in model/node_launch.py); this module only lays the engine over the nodes
and fills the templates:

* attention-DP ranks that each fit one node, where the framework has a `data_parallel` way (vLLM):
  each node runs gpus_per_node / (tp·pp) of the ranks, the last node the rest;
* otherwise the engine's GPUs split evenly over ceil(gpus / gpus_per_node) nodes (`nodes` way);
* a `launcher` (TensorRT-LLM's mpirun) runs on the leader only and starts the ranks of every node.

Addresses are placeholders, the shell variables NODE0_ADDR, NODE1_ADDR, ... (node k of the engine — in
a disaggregated bundle, of the bundle), to be set on every node; the text says which it uses. Every
node runs the same conversion and writes the same options file as the single-node command, so the
weights and the memory knob are the plan's on each.
"""
from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sloplan.model.engine import Engine
from sloplan.model.framework import Launch, Setting
from sloplan.model.node_launch import MultiNode, NodeFlags

from .launch import Value, node_address, server_parts

ADDR_VAR = re.compile(r"\$NODE(\d+)_ADDR")


@dataclass(frozen=True)
class NodeRank:
    """One node of an engine: its rank in the engine (0 = leader), its node number (its address
    placeholder), the GPUs it uses, and its attention-DP ranks (how many, the first)."""

    rank: int
    node: int
    gpus: int
    dp_local: int
    dp_start: int


@dataclass(frozen=True)
class Span:
    """How one engine lies over nodes and which of the framework's ways starts it."""

    flags: NodeFlags
    ranks: tuple[NodeRank, ...]
    way: str  # what the text says: the framework data's name of the way


def span(engine: Engine, gpus_per_node: int, mn: MultiNode, nodes: Sequence[int] | None = None) -> Span | None:
    """The engine over nodes `nodes` (default 0, 1, ...), or None when it fits one node. ValueError for
    an engine whose GPUs do not split evenly over its nodes (no framework starts one)."""
    if engine.gpus <= gpus_per_node:
        return None
    rank_gpus = engine.tp * engine.pp
    if mn.data_parallel is not None and engine.dp > 1 and gpus_per_node % rank_gpus == 0:
        per = gpus_per_node // rank_gpus
        count = -(-engine.dp // per)
        nodes = tuple(nodes) if nodes is not None else tuple(range(count))
        ranks = tuple(NodeRank(r, nodes[r], min(per, engine.dp - r * per) * rank_gpus, min(per, engine.dp - r * per),
                               r * per) for r in range(count))
        return Span(mn.data_parallel, ranks, "attention-DP ranks over the nodes")
    count = -(-engine.gpus // gpus_per_node)
    if engine.gpus % count:
        raise ValueError(f"{engine.label}: {engine.gpus} GPUs do not split evenly over {count} nodes of "
                         f"{gpus_per_node}")
    nodes = tuple(nodes) if nodes is not None else tuple(range(count))
    per, dp_local = engine.gpus // count, max(1, engine.dp // count)  # DP ranks per node: where they split evenly
    ranks = tuple(NodeRank(r, nodes[r], per, dp_local, r * dp_local) for r in range(count))
    return Span(mn.nodes, ranks, "one engine over the nodes" if mn.launcher is None else "MPI ranks over the nodes")


def _fill(template: str, names: Mapping[str, object]) -> str:
    return string.Template(template).substitute(names)


def _flags(flags: Mapping[str, str], names: Mapping[str, object]) -> list[str]:
    return [a for flag, v in flags.items() for a in ([flag] if v == "" else [flag, _fill(v, names)])]


def node_argv(mn: MultiNode, s: Span, r: NodeRank, total_gpus: int) -> tuple[list[str], list[str]]:
    """(arguments before the server's command — the launcher's, on the leader —, flags after it) of one node."""
    leader = s.ranks[0]
    names = {"nodes": len(s.ranks), "rank": r.rank, "addr": node_address(leader.node), "port": mn.port,
             "dp_local": r.dp_local, "dp_start": r.dp_start, "ranks": total_gpus, "gpus_per_node": r.gpus}
    if mn.launcher is not None:
        host = mn.launcher.host
        names["hosts"] = mn.launcher.host_separator.join(
            _fill(host, {**names, "addr": node_address(n.node), "gpus_per_node": n.gpus}) for n in s.ranks)
    known = {k: v for k, v in names.items() if v is not None}
    flags = s.flags
    tail = _flags(flags.every, known) + _flags(flags.leader if r.rank == 0 else flags.followers, known)
    prefix = [_fill(t, known) for t in mn.launcher.command] if mn.launcher is not None and r.rank == 0 else []
    return prefix, tail


@dataclass(frozen=True)
class NodeCommand:
    """What node `node` runs: `command` ("" when the leader's launcher starts its ranks; `setup` then
    writes the files they read), after `setup`."""

    node: int
    rank: int
    setup: str
    command: str

    @property
    def line(self) -> str:
        return " && ".join(p for p in (self.setup, self.command) if p)


def node_commands(launch: Launch, engine: Engine, s: Span, model: str, values: dict[Setting, Value],
                  env: Sequence[str] = (), tail: Sequence[str] = (), options: Mapping[str, object] | None = None,
                  prepare: str = "") -> tuple[NodeCommand, ...]:
    """Each node's server command (the single-node command plus the node's flags), node 0 first; a
    launcher's followers get their setup only. `prepare`: a conversion every node runs first."""
    mn = launch.multinode
    out = []
    for r in s.ranks:
        prefix, flags = node_argv(mn, s, r, engine.gpus)
        setup, cmd = server_parts(launch, model, values, env=[*env, *prefix], tail=[*tail, *flags], options=options)
        started = mn.launcher is not None and r.rank > 0
        out.append(NodeCommand(r.node, r.rank, " && ".join(p for p in (prepare, setup) if p), "" if started else cmd))
    return tuple(out)


def used_addresses(text: str) -> list[str]:
    """The NODE<k>_ADDR variables a text uses, in node order."""
    return [f"NODE{k}_ADDR" for k in sorted({int(k) for k in ADDR_VAR.findall(text)})]


def set_addresses(text: str) -> str:
    """What the operator sets before pasting `text`: the address variables it uses."""
    used = used_addresses(text)
    if len(used) == 1:
        return f"set {used[0]} to node {used[0][4:-5]}'s address on every node"
    return f"set {', '.join(used)} to each node's address on every node"


@dataclass(frozen=True)
class NodeLaunch:
    """One replica of an engine over several nodes: each node's command, node 0 (the leader) first."""

    label: str
    way: str
    gpus_per_node: int
    nodes: tuple[NodeCommand, ...]
    docs: str

    def text(self) -> str:
        body = [f"# node {n.rank}{' (leader)' if n.rank == 0 else ''}:" + (
            "" if n.command else " its ranks are started by node 0's launcher; it only writes the files they read")
            for n in self.nodes]
        lines = []
        for head, n in zip(body, self.nodes):
            lines += [head, *([n.line] if n.line else [])]
        return "\n".join([f"# {self.label} over {len(self.nodes)} nodes of {self.gpus_per_node} GPUs ({self.way}): "
                          f"run node k's lines on node k; {set_addresses(chr(10).join(lines))}",
                          f"# how: {self.docs}", *lines])

    def to_list(self) -> list[dict]:
        """One entry per node for --json, node 0 first (the shape of a disaggregated bundle's: a list of
        commands per node, here its one line)."""
        return [{"node": n.rank, "address": f"$NODE{n.node}_ADDR", "commands": [n.line]} for n in self.nodes]


def node_launch(launch: Launch, engine: Engine, gpus_per_node: int, model: str, values: dict[Setting, Value],
                prepare: str = "", env: Sequence[str] = ()) -> NodeLaunch | None:
    """The commands of one replica of `engine` over nodes of `gpus_per_node` GPUs, or None when it fits
    one node or the framework's data has no multinode way (then it keeps the single-node command)."""
    mn = launch.multinode
    s = span(engine, gpus_per_node, mn) if mn is not None else None
    if s is None:
        return None
    return NodeLaunch(engine.label, s.way, gpus_per_node,
                      node_commands(launch, engine, s, model, values, env=env, prepare=prepare), mn.docs)
