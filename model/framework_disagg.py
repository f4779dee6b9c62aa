"""The `disaggregation:` section of a framework file (model/frameworks/<backend>.yaml) as typed data:
what a prefill or decode worker adds to the aggregated command, and the router that joins the pools.
model/framework.py reads and checks it; generators/disagg_launch.py fills its templates."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Names a `disaggregation:` template may use (string.Template, `${name}`); generators/disagg_launch.py fills them.
DISAGG_FIELDS = ("transfer_backend", "host", "port", "aux_port", "isl", "token_budget")


@dataclass(frozen=True)
class DisaggWorker:
    """What a prefill or a decode worker adds to the aggregated command: flags (value "": a switch),
    environment variables, and keys of the framework's options file (dotted, YAML scalars once filled)
    written to `options_path`. Every value is a template over DISAGG_FIELDS."""

    flags: Mapping[str, str]
    env: Mapping[str, str]
    options: Mapping[str, str | bool | int | float]
    options_path: str | None = None


@dataclass(frozen=True)
class RouterFile:
    """A router that reads its workers from a YAML file (TRT-LLM: `trtllm-serve disaggregated -c FILE`):
    its own host and port, then per role the worker count and the worker addresses (`url`, a template)."""

    flag: str
    path: str
    host_key: str
    port_key: str
    prefill_key: str
    decode_key: str
    count_key: str
    urls_key: str
    url: str
    written_with: Mapping[str, str | bool | int | float]


@dataclass(frozen=True)
class DisaggRouter:
    """What joins the pools: `prefill` / `decode` are the arguments written once per worker of that role
    (templates over DISAGG_FIELDS, filled with the worker's address), unless a `file` lists them."""

    command: tuple[str, ...]
    fixed: tuple[str, ...]
    host: str
    port: int
    host_flag: str | None
    port_flag: str | None
    prefill: tuple[str, ...]
    decode: tuple[str, ...]
    file: RouterFile | None = None


@dataclass(frozen=True)
class Disaggregation:
    """Disaggregated serving in this framework: the KV transfer backend (default, and those it accepts),
    where workers listen (one HTTP port each from `first_port`; an auxiliary port each from
    `first_aux_port` — vLLM's NIXL side channel, SGLang's bootstrap port — one per attention-DP rank
    where `aux_port_per_dp_rank`), the variable that gives a worker its GPUs, what each role adds, and
    the router."""

    transfer_backend: str
    transfer_backends: tuple[str, ...]
    host: str
    host_flag: str
    port_flag: str
    first_port: int
    first_aux_port: int | None
    aux_port_per_dp_rank: bool
    devices_env: str
    prefill: DisaggWorker
    decode: DisaggWorker
    router: DisaggRouter
    # environment every worker adds where the bundle spans nodes (vLLM: the NIXL side channel's host)
    across_nodes_env: Mapping[str, str] = field(default_factory=dict)
