"""Family: what a Hugging Face architecture class is made of, from model/catalog/architectures.yaml.

A data file, so recognising another class of a known design (a new `...ForCausalLM` name for MLA + MoE)
needs no code; a design sloplan does not parse at all is not listed, and is refused as unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .attention import AttentionKind
from .mlp import MlpKind

_FILE = Path(__file__).parent / "catalog" / "architectures.yaml"


@dataclass(frozen=True)
class Family:
    architecture: str
    attention: AttentionKind
    mlp: MlpKind
    estimated: bool = False  # the estimators price this design today
    label: str = ""
    sinks: bool = False
    expert_bias: bool = False


@lru_cache(maxsize=1)
def families() -> dict[str, Family]:
    from sloplan.perfdb.yaml_cache import load_yaml_file

    raw = load_yaml_file(_FILE)
    return {name: Family(name, AttentionKind(v["attention"]), MlpKind(v["mlp"]), bool(v.get("estimated", False)),
                         v.get("label", name), bool(v.get("sinks", False)), bool(v.get("expert_bias", False)))
            for name, v in raw.items()}


def estimated_architectures() -> tuple[str, ...]:
    return tuple(n for n, f in families().items() if f.estimated)
