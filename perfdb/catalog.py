"""Hardware catalog: perfdb/systems/*.yaml → SystemSpec. Data files, so adding a GPU needs no code."""
from __future__ import annotations

import functools
from pathlib import Path

from .errors import UnknownSystem
from .system_spec import SystemSpec
from .yaml_data import load_yaml

_DIR = Path(__file__).with_name("systems")
_FLOAT_FIELDS = ("mem_capacity_bytes", "mem_bw_bytes_per_s", "intra_node_bw_bytes_per_s",
                 "inter_node_bw_bytes_per_s", "p2p_latency_s")


def list_systems() -> list[str]:
    """Names of all systems in the catalog, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.yaml"))


@functools.lru_cache(maxsize=None)
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
        efficiency_donor=raw.get("efficiency_donor") or None,
        frameworks=tuple(str(f) for f in raw.get("frameworks") or ("trtllm", "vllm", "sglang")),
        **{f: float(raw[f]) for f in _FLOAT_FIELDS},
    )
