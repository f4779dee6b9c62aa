"""Where a disaggregated bundle's workers run, and the bundle as per-node text when it spans nodes.

Placement packs workers in the bundle's order (prefill groups, then decode groups) onto nodes of their
system (gpus_per_node from the hardware catalog): a worker that fits one node goes on the current node
of its system when its GPUs are still free there, else on a new node, from GPU 0 in order; a worker
larger than a node takes whole nodes of its own (its node commands: generators/multinode.py). Nodes are
numbered over the bundle in the order they are opened, node 0 first (it also runs the router).

A bundle on one node keeps the single-host text (localhost, a loop per worker type). One on several
nodes names each node by a shell variable, NODE<k>_ADDR: every worker listens on its node's address, the
router is given those addresses, and the text is one block per node, to be run there.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sloplan.core.enums import Role

from .multinode import set_addresses

if TYPE_CHECKING:
    from .disagg_launch import LaunchBundle, WorkerSpec


@dataclass(frozen=True)
class Placement:
    """One worker group's place: each worker's nodes (bundle-wide numbers, its leader first) and its
    first GPU on its node (0 for a worker over whole nodes)."""

    nodes: tuple[tuple[int, ...], ...]
    first_gpus: tuple[int, ...]


def place(workers: Sequence[WorkerSpec], gpus_per_node: dict[str, int]) -> tuple[list[Placement], list[str]]:
    """Each group's placement, and each node's system (its index is the node's number)."""
    systems: list[str] = []
    current: dict[str, tuple[int, int]] = {}  # system -> (its open node, GPUs used there)
    out = []
    for w in workers:
        g, need = gpus_per_node[w.system], w.engine.gpus
        nodes, firsts = [], []
        for _ in range(w.count):
            if need > g:
                own = -(-need // g)
                nodes.append(tuple(range(len(systems), len(systems) + own)))
                systems += [w.system] * own
                firsts.append(0)
                continue
            node, used = current.get(w.system, (-1, g))
            if used + need > g:
                node, used = len(systems), 0
                systems.append(w.system)
            nodes.append((node,))
            firsts.append(used)
            current[w.system] = (node, used + need)
        out.append(Placement(tuple(nodes), tuple(firsts)))
    return out, systems


def node_text(b: LaunchBundle) -> str:
    """A bundle over several nodes as shell lines: per node, a comment and its workers' lines (in the
    background), the router last on node 0."""
    blocks: dict[int, list[str]] = {k: [] for k in range(len(b.node_systems))}
    for s in b.steps:
        if s.role is Role.ROUTER:
            continue
        written: set[int] = set()  # nodes where this step's options file is written (once, in the foreground)
        what = s.note.split(": ", 1)[-1]
        for i in range(s.count):
            for j, (node, line, serves) in enumerate(s.node_lines(i)):
                part = "" if len(s.nodes[i]) == 1 else f", its node {j} of {len(s.nodes[i])}"
                blocks[node].append(f"# {s.role.value} {i + 1}/{s.count}{part}: {what}")
                if s.setup and node not in written:
                    blocks[node].append(s.setup)
                written.add(node)
                if serves:
                    blocks[node].append(f"{line.removeprefix(f'{s.setup} && ') if s.setup else line} &")
    router = b.steps_of(Role.ROUTER)[0]
    lines = []
    for k, body in blocks.items():
        lines += [f"# ---- node {k} ({b.node_systems[k]})", *body]
    lines += [f"# ---- node 0: {router.note}", router.worker_command(0)]
    p, d = (sum(s.count for s in b.steps_of(r)) for r in (Role.PREFILL, Role.DECODE))
    head = [f"# {b.backend.value} disaggregated: {p} prefill + {d} decode workers, KV cache over "
            f"{b.transfer_backend}, router last",
            f"# {len(b.node_systems)} nodes: run node k's lines on node k; {set_addresses(chr(10).join(lines))}"]
    return "\n".join([*head, *b.prepare, *lines])


def node_entries(b: LaunchBundle) -> list[dict]:
    """A bundle over several nodes as --json lists it: per node its system and the commands it runs."""
    out = [{"node": k, "address": f"$NODE{k}_ADDR", "system": system, "commands": []}
           for k, system in enumerate(b.node_systems)]
    for s in b.steps:
        if s.role is Role.ROUTER:
            out[0]["commands"].append(s.worker_command(0))
            continue
        for i in range(s.count):
            for node, line, _ in s.node_lines(i):
                out[node]["commands"].append(line)
    return out
