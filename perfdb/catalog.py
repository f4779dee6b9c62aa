"""Hardware catalog: perfdb/systems/*.yaml → SystemSpec. Data files, so adding a GPU needs no code.

Also the one reader of the shipped YAML data files (`load_yaml`: these systems, the wheel's lane pins, the
model catalog, calibration): libyaml's CSafeLoader where PyYAML has it. The pure-Python parser takes
~5 ms for a few-kB file, libyaml well under 1; both build the same values (the C loader keeps the Python
SafeConstructor and resolver, only scanner and parser are C). Request files are read by
sloplan/safe_yaml.py, which adds its own checks on the same C base.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import IO, Any

import yaml

from sloplan.core.enums import BACKEND_NAMES

from .errors import UnknownSystem
from .system_spec import SystemSpec

_DIR = Path(__file__).with_name("systems")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML built without libyaml: the Python one
_FLOAT_FIELDS = ("mem_capacity_bytes", "mem_bw_bytes_per_s", "intra_node_bw_bytes_per_s",
                 "inter_node_bw_bytes_per_s", "p2p_latency_s")
_KERNEL_DONOR_KEYS = ("backend", "table", "dtype", "kernel", "donor_backend", "donor_version", "donor_kernel")


def load_yaml(source: str | bytes | IO) -> Any:
    """`yaml.safe_load`, through libyaml where PyYAML has it."""
    return yaml.load(source, Loader=_SAFE_LOADER)


def list_systems() -> list[str]:
    """Names of all systems in the catalog, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.yaml"))


@functools.cache
def load_system(name: str) -> SystemSpec:
    """Read one catalog entry. YAML may spell floats as `2e+12` (a string to YAML 1.1), so cast explicitly."""
    path = _DIR / f"{name}.yaml"
    if not isinstance(name, str) or not path.is_file():
        raise UnknownSystem(name, list_systems())
    raw = load_yaml(path.read_text())
    return SystemSpec(
        name=raw["name"],
        gpu_name=str(raw["gpu_name"]),
        flops_per_s={str(k): float(v) for k, v in raw["flops_per_s"].items()},
        gpus_per_node=int(raw["gpus_per_node"]),
        silicon_dir=raw.get("silicon_dir") or None,
        sm_version=int(raw["sm_version"]) if raw.get("sm_version") is not None else None,
        nvlink_domain_gpus=int(raw["nvlink_domain_gpus"]) if raw.get("nvlink_domain_gpus") else None,
        efficiency_donor=raw.get("efficiency_donor") or None,
        frameworks=tuple(str(f) for f in raw.get("frameworks") or BACKEND_NAMES),
        table_donors=tuple((str(d["backend"]), str(d["table"]), str(d["donor"]))
                           for d in raw.get("table_donors") or ()),
        lane_donors=tuple((str(d["backend"]), str(d["table"]), str(d["dtype"]), str(d["donor_backend"]),
                           str(d["donor_version"]))
                          for d in raw.get("lane_donors") or ()),
        kernel_donors=tuple(tuple(str(d[k]) for k in _KERNEL_DONOR_KEYS) for d in raw.get("kernel_donors") or ()),
        **{f: float(raw[f]) for f in _FLOAT_FIELDS},
    )
