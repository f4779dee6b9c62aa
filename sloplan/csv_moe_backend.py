"""The MoE backend (TensorRT-LLM `moe_config.backend`) a silicon_sample.csv row's launch set, from its source note.

No column records it; model/catalog/moe_backend.yaml names, per benchmark campaign (container image, day,
systems, model, recorded columns), what its launch script or recipe wrote for each role: an aggregated row's
engine, or a disaggregated row's prefill and decode workers, by the role's attention DP and, for the older
aggregated script, the benchmark's client count. A row no rule matches runs TensorRT-LLM's default, CUTLASS.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import sloplan.model
from sloplan.perfdb.queries import MoeKernel
from sloplan.perfdb.yaml_cache import load_yaml_file

from .csv_decode_caps import recipe_moe_backend
from .csv_speculation import _source_matches

_FILE = Path(sloplan.model.__file__).parent / "catalog" / "moe_backend.yaml"
ROLES = ("agg", "prefill", "decode")


@cache
def _rules() -> tuple[dict, ...]:
    return tuple((load_yaml_file(_FILE) or {}).get("rules") or ())


def campaign_matches(rule: dict, row: dict) -> bool:
    """The rule's source (image, day), systems, backend, model and recorded columns."""
    return (_source_matches(rule, row.get("silicon_data_source") or "")
            and all((row.get(c) or "").strip() == str(v) for c, v in (rule.get("columns") or {}).items())
            and (row.get("system") or "").strip() in rule["systems"]
            and (row.get("backend") or "").strip() == rule["backend"]
            and rule["model_contains"] in (row.get("model_path") or ""))


def _chosen(spec, dp: int, shape: str, clients: int | None) -> MoeKernel:
    """A role's backend from its rule entry: one name, or {default, attention_dp, attention_dp_from: {N: name}
    (from N attention-DP ranks on), from_concurrency: {name: {ISLxOSL: C}} (that backend at C clients and above)}."""
    if isinstance(spec, str):
        return MoeKernel(spec)
    if dp > 1 and "attention_dp" in spec:
        wide = [kernel for ranks, kernel in sorted((spec.get("attention_dp_from") or {}).items()) if dp >= ranks]
        return MoeKernel(wide[-1] if wide else spec["attention_dp"])
    for kernel, thresholds in (spec.get("from_concurrency") or {}).items():
        threshold = thresholds.get(shape)
        if threshold is not None and clients is not None and clients >= threshold:
            return MoeKernel(kernel)
    return MoeKernel(spec["default"])


def moe_backend(row: dict, role: str, dp: int, clients: int | None) -> tuple[MoeKernel, str]:
    """(MoE backend, note) of one role ("agg", "prefill", "decode") of a row whose role has `dp` attention-DP
    ranks and whose benchmark ran `clients` clients (None: not recorded). A disaggregated role's launch
    recipe, where it sets one (sloplan/csv_decode_caps.py), before the campaign rules."""
    assert role in ROLES, role
    found, config = recipe_moe_backend(row, role) if role != "agg" else (None, "")
    if found is not None:
        return _noted(MoeKernel(found), f"config_id {config}'s launch recipe (model/catalog/decode_caps.yaml)")
    shape = f"{(row.get('isl') or '').strip()}x{(row.get('osl') or '').strip()}"
    for rule in _rules():
        if role in rule and campaign_matches(rule, row):
            return _noted(_chosen(rule[role], dp, shape, clients),
                          f"the {rule['image']} launches (model/catalog/moe_backend.yaml)")
    return MoeKernel.CUTLASS, ""


def _noted(kernel: MoeKernel, source: str) -> tuple[MoeKernel, str]:
    """(kernel, the layout note saying where it comes from); no note for CUTLASS, TensorRT-LLM's default."""
    return kernel, "" if kernel is MoeKernel.CUTLASS else f"MoE backend {kernel.value}: {source}"
