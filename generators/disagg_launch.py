"""Launch bundles for disaggregated plans: the prefill workers, the decode workers and the router that
joins them, with the count of each, in the plan's framework.

A worker is the aggregated server command (generators/launch.py: the same settings, flags and options
file) plus what the framework's `disaggregation:` data adds for its role (KV transfer, its mode, an
address). Every name comes from that data (model/frameworks/<backend>.yaml); this module only knows the
structure: which plan value goes where, and how ports are handed out.

Memory is written as the plan computed it. The memory knob is the inverse of model/memory.py's
definition applied to the worker's own MemoryPlan (so a plan computed at another fraction is served at
that fraction), and the bundle recomputes the plan at the written token budget and fraction on the
worker's system and refuses a worker whose server would get another KV budget — a prefill plan must be
computed with model.framework.prefill_profile, whose token budget the prefill command writes.

Ports are deterministic: workers take HTTP ports from the data's first port in order (prefill workers,
then decode workers), auxiliary ports (vLLM's NIXL side channel: one per DP rank; SGLang's bootstrap
port) likewise from their first, the router its own; all distinct, so workers sharing a node never
collide. Every worker gets GPUs of its own on a node of its system (the data's devices variable, packed
from GPU 0 in the same order: generators/disagg_nodes.py); a bundle on one node runs on one host as
written, one on several is written node by node, each worker listening on its node's address.
"""
from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from sloplan.core.enums import Role
from sloplan.model.arch import ModelArch
from sloplan.model.engine import Engine
from sloplan.model.framework import (Backend, Disaggregation, DisaggWorker, Framework, FrameworkProfile, KvFractionOf,
                                     Setting, framework, prefill_profile)
from sloplan.model.memory import GIB, MemoryPlan, memory_plan
from sloplan.model.workload import Workload

from .disagg_nodes import node_entries, node_text, place
from .launch import (node_address, offline_quantization, server_parts, settings, shell_join, write_file,
                     written_budget)
from .multinode import ADDR_VAR, node_commands, span

# A worker's ports, GPUs and address inside its command (characters the shell quoting keeps), filled per worker.
PORT, AUX, DEVICES, HOST = "@PORT@", "@AUX_PORT@", "@DEVICES@", "@HOST@"


@dataclass(frozen=True)
class WorkerSpec:
    """One pool of a disaggregated plan: `count` workers of `engine` on `system`, each admitting `max_seqs`
    requests (prefill: its batch of prompts; decode: its concurrency), with the plan's memory."""

    engine: Engine
    memory: MemoryPlan
    max_seqs: int
    count: int
    system: str


@dataclass(frozen=True)
class LaunchStep:
    """`count` processes of one kind. `command` is one worker's, its ports written as PORT / AUX;
    `ports` / `aux_ports` hold each worker's, in order (the router: its own port, no aux)."""

    role: Role
    count: int
    command: str
    ports: tuple[int, ...]
    aux_ports: tuple[int, ...]
    note: str
    setup: str = ""  # writes the file the command reads (TRT-LLM's options / router file), once for all
    devices: tuple[int, ...] = ()  # each worker's first GPU on its node (empty: not placed)
    gpus: int = 0  # GPUs per worker
    nodes: tuple[tuple[int, ...], ...] = ()  # a bundle over nodes: each worker's nodes, its leader first
    node_templates: tuple[str, ...] = ()  # a worker over several nodes: each node's command ("" none)

    def _fill(self, template: str, i: int, j: int = 0) -> str:
        """Worker `i`'s ports, GPUs and node addresses in a command template (of its engine's node `j`:
        HOST is that node's own address, where its processes listen)."""
        cmd = template.replace(PORT, str(self.ports[i]))
        cmd = cmd.replace(AUX, str(self.aux_ports[i])) if self.aux_ports else cmd
        if self.devices:
            cmd = cmd.replace(DEVICES, ",".join(str(g) for g in range(self.devices[i], self.devices[i] + self.gpus)))
        if self.nodes:  # the worker's own node numbers for its engine's 0, 1, ...; its leader's address
            cmd = ADDR_VAR.sub(lambda m: f"$NODE{self.nodes[i][int(m.group(1))]}_ADDR", cmd)
            cmd = cmd.replace(HOST, f'"$NODE{self.nodes[i][j]}_ADDR"')
        return cmd

    def worker_command(self, i: int) -> str:
        """Worker `i`'s command with its own ports (and GPUs), after the setup it needs (a worker over
        several nodes: its leader's)."""
        cmd = self._fill(self.command, i)
        return f"{self.setup} && {cmd}" if self.setup else cmd

    def node_lines(self, i: int) -> list[tuple[int, str, bool]]:
        """(node, line, whether it starts a process) for each node of worker `i` (a bundle over nodes)."""
        if not self.node_templates:
            return [(self.nodes[i][0], self.worker_command(i), True)]
        out = []
        for j, template in enumerate(self.node_templates):
            cmd = self._fill(template, i, j) if template else ""
            out.append((self.nodes[i][j], " && ".join(p for p in (self.setup, cmd) if p), bool(cmd)))
        return out

    def line(self) -> str:
        """One shell line that writes the step's file, then starts all its workers in the background (a
        loop over i when there are several) or the router in the foreground."""
        if self.role is Role.ROUTER or self.count == 1:
            cmd = self.worker_command(0)
            return cmd if self.role is Role.ROUTER else f"{cmd} &"
        cmd = self.command.replace(PORT, _arith(self.ports))
        cmd = cmd.replace(AUX, _arith(self.aux_ports)) if self.aux_ports else cmd
        cmd = cmd.replace(DEVICES, self._shell_devices()) if self.devices else cmd
        loop = f"for i in $(seq 0 {self.count - 1}); do {cmd} & done"
        return f"{self.setup} && {loop}" if self.setup else loop


    def _shell_devices(self) -> str:
        """Worker i's GPU list in the shell: `$((a+i))`, or `$(seq -s, FIRST LAST)` for several."""
        if self.gpus == 1:
            return _arith(self.devices)
        return f"$(seq -s, {_arith(self.devices)} {_arith(tuple(g + self.gpus - 1 for g in self.devices))})"


def _arith(ports: tuple[int, ...]) -> str:
    """Worker i's port (or first GPU) as shell arithmetic; both are handed out evenly spaced."""
    step = ports[1] - ports[0]
    return f"$(({ports[0]}+{'' if step == 1 else f'{step}*'}i))"


@dataclass(frozen=True)
class LaunchBundle:
    """What starts a disaggregated plan: conversions to run first, then the steps (prefill workers,
    decode workers, the router last)."""

    backend: Backend
    transfer_backend: str
    host: str
    prepare: tuple[str, ...]
    steps: tuple[LaunchStep, ...]
    devices_env: str
    node_systems: tuple[str, ...] = ()  # a bundle over several nodes: each node's system (node k at k)

    def steps_of(self, role: Role) -> tuple[LaunchStep, ...]:
        return tuple(s for s in self.steps if s.role is role)

    def step(self, role: Role) -> LaunchStep:
        """The first (with one engine type per pool: the only) step of `role`."""
        return self.steps_of(role)[0]

    def text(self) -> str:
        """The bundle as shell lines to paste: a comment per step, one line per worker type (over several
        nodes: a block per node, generators/disagg_nodes.py)."""
        if len(self.node_systems) > 1:
            return node_text(self)
        p, d = (sum(s.count for s in self.steps_of(r)) for r in (Role.PREFILL, Role.DECODE))
        where = f"one node per system as written ({self.devices_env} gives each worker its GPUs)"
        head = [f"# {self.backend.value} disaggregated: {p} prefill + {d} decode workers, KV cache over "
                f"{self.transfer_backend}, router last",
                f"# {where}; on several nodes, replace {self.host} by each worker's address"]
        lines = [*head, *self.prepare]
        for s in self.steps:
            lines += [f"# {s.note}", s.line()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"backend": self.backend.value, "transfer_backend": self.transfer_backend, "prepare": list(self.prepare),
                "steps": [{"role": s.role.value, "count": s.count, "ports": list(s.ports),
                           "aux_ports": list(s.aux_ports), "commands": [s.worker_command(i) for i in range(s.count)]}
                          for s in self.steps],
                "nodes": node_entries(self) if len(self.node_systems) > 1 else None}


def disagg_launch(backend: Backend, arch: ModelArch, fw: FrameworkProfile, wl: Workload,
                  prefill: WorkerSpec | Sequence[WorkerSpec], decode: WorkerSpec | Sequence[WorkerSpec],
                  spec: Framework | None = None) -> LaunchBundle:
    """The bundle that starts the prefill and decode workers and their router: one step per WorkerSpec
    (a pool of several engine types — mixed pools — passes one WorkerSpec per type). `spec`: the
    framework's data (default: the shipped file of `backend`). Raises ValueError for a worker the plan
    cannot have meant (no workers, no requests, a memory plan its server would not get)."""
    spec = spec or framework(backend)
    d = spec.disaggregation
    if d is None:
        raise ValueError(f"{spec.backend.value}: its framework data has no disaggregation section")
    groups = [(Role.PREFILL, w) for w in _as_tuple(prefill)] + [(Role.DECODE, w) for w in _as_tuple(decode)]
    if {r for r, _ in groups} != {Role.PREFILL, Role.DECODE}:
        raise ValueError("a disaggregated plan needs prefill and decode workers")
    from sloplan.perfdb import load_system

    node_gpus = {w.system: load_system(w.system).gpus_per_node for _, w in groups}
    placements, node_systems = place([w for _, w in groups], node_gpus)
    across = len(node_systems) > 1
    prepared, steps = [], []
    for (role, w), (ports, aux), where in zip(groups, _ports(d, groups), placements):
        nth = sum(1 for s in steps if s.role is role)
        wide = w.engine.gpus > node_gpus[w.system]  # over whole nodes of its own: no GPU list
        prep, setup, cmd, per_node = _worker_command(spec, d, arch, fw, wl, role, w, nth, not wide,
                                                     node_gpus[w.system] if across else None)
        prepared += [prep] if prep else []
        gpus = f"{w.engine.gpus} GPU{'s' if w.engine.gpus > 1 else ''}"
        note = (f"{role.value} × {w.count} on {w.system}: {w.engine.label}, {gpus} each, "
                f"{w.max_seqs} {'prompts' if role is Role.PREFILL else 'requests'} at once")
        steps.append(LaunchStep(role, w.count, cmd, ports, aux, note, setup, () if wide else where.first_gpus,
                                w.engine.gpus, where.nodes if across else (), per_node))
    setup, cmd = _router_command(d, steps, wl)
    steps.append(LaunchStep(Role.ROUTER, 1, cmd, (d.router.port,), (), f"router on port {d.router.port}", setup))
    return LaunchBundle(spec.backend, d.transfer_backend, d.host, tuple(dict.fromkeys(prepared)), tuple(steps),
                        d.devices_env, tuple(node_systems) if across else ())


def _as_tuple(w: WorkerSpec | Sequence[WorkerSpec]) -> tuple[WorkerSpec, ...]:
    return (w,) if isinstance(w, WorkerSpec) else tuple(w)


# --------------------------------------------------------------------------- workers
def _kernel_env(spec: Framework, arch: ModelArch, w: WorkerSpec) -> tuple[str, ...]:
    """The switches the worker's priced expert kernels need (model/moe_ops.py kernel_env), as the
    aggregated launch writes them; none for a dense model."""
    if arch.mlp.moe is None:
        return ()
    from sloplan.model.moe_ops import kernel_env
    from sloplan.perfdb import load_system

    return kernel_env(arch, w.engine, load_system(w.system), spec.backend)


def _worker_command(spec: Framework, d: Disaggregation, arch: ModelArch, fw: FrameworkProfile, wl: Workload,
                    role: Role, w: WorkerSpec, nth: int, placed: bool,
                    across: int | None) -> tuple[str, str, str, tuple[str, ...]]:
    """(conversion to run first, the options file's writing — each "" when none —, one worker's command
    with its ports as PORT / AUX, its GPUs as DEVICES where `placed`, and, for a worker larger than a
    node, each of its nodes' commands). `nth`: the group's place among its role's (its own options
    file); `across`: the node size where the bundle spans nodes (workers then listen on HOST, their
    node's address), else None."""
    if w.count < 1 or w.max_seqs < 1:
        raise ValueError(f"{role.value} workers: count {w.count} and max_seqs {w.max_seqs} must be ≥ 1")
    ckpt = arch.checkpoint_quant
    prepare, served = offline_quantization(spec, arch.checkpoint, w.engine, ckpt)
    budget = prefill_profile(fw, w.max_seqs, wl.isl).token_budget if role is Role.PREFILL else fw.token_budget
    fraction = _fraction_text(memory_fraction(w.memory, fw.kv_fraction_of))
    _check_memory(arch, w, replace(fw, token_budget=budget), float(fraction), role)
    from sloplan.perfdb import load_system

    values = {**settings(spec, w.engine, fw, wl, w.max_seqs, ckpt, load_system(w.system).gpus_per_node),
              Setting.TOKEN_BUDGET: str(written_budget(fw, w.engine, budget)),
              Setting.MEMORY_FRACTION: fraction}
    data = _role(d, role)
    host = d.host if across is None else HOST
    fill = _filler(d, wl, host, PORT, AUX, budget)
    tail = [a for flag, v in data.flags.items() for a in ([flag] if v == "" else [flag, fill(v)])]
    options = {k: _yaml_scalar(fill(v)) if isinstance(v, str) else v for k, v in data.options.items()}
    launch = spec.launch
    if data.options_path and launch.options_file:
        path = PurePosixPath(data.options_path)
        path = path.with_stem(f"{path.stem}{nth + 1}") if nth else path  # prefill.yaml, prefill2.yaml, ...
        launch = replace(launch, options_file=replace(launch.options_file, path=str(path)))
    env_vars = {**data.env, **(d.across_nodes_env if across is not None else {})}
    env = [*([f"{d.devices_env}={DEVICES}"] if placed else []), *(f"{k}={fill(v)}" for k, v in env_vars.items()),
           *_kernel_env(spec, arch, w)]
    tail = [*tail, d.host_flag, host, d.port_flag, PORT]
    wide = span(w.engine, across, launch.multinode) if across is not None and launch.multinode else None
    if wide is not None:
        nodes = node_commands(launch, w.engine, wide, served, values, env=env, tail=tail, options=options)
        return prepare.removesuffix(" && "), nodes[0].setup, nodes[0].command, tuple(n.command for n in nodes)
    setup, cmd = server_parts(launch, served, values, env=env, tail=tail, options=options)
    return prepare.removesuffix(" && "), setup, cmd, ()


def memory_fraction(mem: MemoryPlan, of: KvFractionOf) -> float:
    """The framework's memory knob that gives `mem`'s KV budget: model/memory.py's definition inverted
    (of total memory: budget = f·capacity − used; of memory free after weights: budget = f·(capacity − used))."""
    used = mem.weights_bytes + mem.activations_bytes + mem.runtime_bytes
    if mem.kv_budget_bytes <= 0 or used >= mem.capacity_bytes:
        raise ValueError(f"a memory plan with no KV budget ({mem.kv_budget_bytes / GIB:.2f} GiB) starts no worker")
    if of is KvFractionOf.FREE_AFTER_WEIGHTS:
        return mem.kv_budget_bytes / (mem.capacity_bytes - used)
    return (mem.kv_budget_bytes + used) / mem.capacity_bytes


def _fraction_text(f: float) -> str:
    """Two decimals, as the aggregated commands write it, when that is the plan's value; else four."""
    if not 0 < f <= 1:
        raise ValueError(f"memory fraction {f:.4f} is outside (0, 1]: the plan does not fit its GPU")
    two = f"{f:.2f}"
    return two if math.isclose(float(two), f, abs_tol=1e-9) else f"{f:.4f}"


def _check_memory(arch: ModelArch, w: WorkerSpec, fw: FrameworkProfile, fraction: float, role: Role) -> None:
    """The worker's server, at the written token budget and fraction on its system, gets the plan's KV budget."""
    from sloplan.perfdb import load_system

    served = memory_plan(arch, w.engine, load_system(w.system), fw, kv_fraction=fraction)
    if abs(served.kv_budget_bytes - w.memory.kv_budget_bytes) > 1e-4 * w.memory.capacity_bytes:
        hint = ("plan prefill memory with model.framework.prefill_profile" if role is Role.PREFILL else
                f"is it the plan of {w.engine.label} on {w.system}?")
        raise ValueError(f"{role.value} workers: the plan holds {w.memory.kv_budget_bytes / GIB:.2f} GiB of KV per GPU "
                         f"but the server gets {served.kv_budget_bytes / GIB:.2f} GiB at token budget "
                         f"{fw.token_budget} on {w.system}; {hint}")


def _role(d: Disaggregation, role: Role) -> DisaggWorker:
    return d.prefill if role is Role.PREFILL else d.decode


def _uses_aux(d: Disaggregation, role: Role) -> bool:
    w = _role(d, role)
    texts = [*w.flags.values(), *w.env.values(), *(v for v in w.options.values() if isinstance(v, str))]
    return any("aux_port" in string.Template(t).get_identifiers() for t in texts)


def _ports(d: Disaggregation, groups: list[tuple[Role, WorkerSpec]]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Each group's HTTP ports and auxiliary ports (a block of one per DP rank where the data says so),
    handed out in order, one per worker; every port of the bundle distinct (ValueError otherwise)."""
    out, taken = [], [d.router.port]
    nxt, nxt_aux = d.first_port, d.first_aux_port
    for role, w in groups:
        ports, aux = tuple(range(nxt, nxt + w.count)), ()
        nxt += w.count
        taken += ports
        if nxt_aux is not None and _uses_aux(d, role):
            block = w.engine.dp if d.aux_port_per_dp_rank else 1
            aux = tuple(range(nxt_aux, nxt_aux + block * w.count, block))
            taken += range(nxt_aux, nxt_aux + block * w.count)
            nxt_aux += block * w.count
        out.append((ports, aux))
    if len(set(taken)) != len(taken):
        raise ValueError(f"{d.first_port}+ and {d.first_aux_port}+ ports overlap for {sum(w.count for _, w in groups)} "
                         "workers; move the framework data's first ports apart")
    return out


def _filler(d: Disaggregation, wl: Workload, host: str, port: object, aux_port: object, token_budget: object = None):
    """A template filler over the data's names (model.framework.DISAGG_FIELDS); a name this worker has no
    value for (an auxiliary port it was not given) is an error, never the text "None"."""
    names = {"transfer_backend": d.transfer_backend, "host": host, "port": port, "aux_port": aux_port, "isl": wl.isl,
             "token_budget": token_budget}
    known = {k: v for k, v in names.items() if v is not None}

    def fill(template: str) -> str:
        try:
            return string.Template(template).substitute(known)
        except KeyError as missing:
            raise ValueError(f"framework data template {template!r}: no {missing} for this worker") from None
    return fill


def _yaml_scalar(text: str) -> object:
    """A filled options value as YAML reads it ("4000" → 4000, "NIXL" → "NIXL")."""
    import yaml

    return yaml.safe_load(text)


# --------------------------------------------------------------------------- router
def _router_command(d: Disaggregation, workers: list[LaunchStep], wl: Workload) -> tuple[str, str]:
    """(its file's writing or "", the router) with every worker's address: as arguments once per
    worker, or in its YAML file."""
    r = d.router
    per_worker = {Role.PREFILL: r.prefill, Role.DECODE: r.decode}
    argv = [*r.command, *r.fixed]
    for s in workers:
        for i in range(s.count):
            fill = _filler(d, wl, _address(d, s, i), s.ports[i], s.aux_ports[i] if s.aux_ports else None)
            argv += [fill(t) for t in per_worker[s.role]]
    argv += [a for flag, v in ((r.host_flag, r.host), (r.port_flag, str(r.port))) if flag for a in (flag, v)]
    if r.file is None:
        return "", shell_join(argv)
    f = r.file
    doc: dict = {f.host_key: r.host, f.port_key: r.port, **f.written_with}
    for role, key in ((Role.PREFILL, f.prefill_key), (Role.DECODE, f.decode_key)):
        urls = [_filler(d, wl, _address(d, s, i), s.ports[i], None)(f.url) for s in workers if s.role is role
                for i in range(s.count)]
        doc[key] = {f.count_key: len(urls), f.urls_key: urls}
    import yaml

    return write_file(f.path, yaml.safe_dump(doc, sort_keys=False)), shell_join([*argv, f.flag, f.path])


def _address(d: Disaggregation, s: LaunchStep, i: int) -> str:
    """Where the router reaches worker `i` of step `s`: its leader node's address in a bundle over nodes."""
    return node_address(s.nodes[i][0]) if s.nodes else d.host
