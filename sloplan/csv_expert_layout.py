"""The layout a silicon_sample.csv row's launch ran where its columns record placeholders (csv_layout.py rule 8).

Some benchmark campaigns wrote placeholder layout columns (tp 1, attention DP = the worker's GPUs,
moe_ep_size 1) for engines their launch scripts ran otherwise; model/catalog/expert_layout.yaml names each
such campaign (container image, systems, model, recorded columns or config_ids) and the roles it covers,
with the launch scripts that show it. A matching role with attention DP and no recorded expert parallelism
is read as moe_tp 1, moe_ep = tp x dp, or, for a rule with `layout: tensor_parallel`, as tp = tp x dp with
tensor-parallel experts and no attention DP (`Layout.clients_per` keeps the recorded ranks, which the
per-rank batch columns count); anything else is taken as recorded.
"""
from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path

import sloplan.model
from sloplan.perfdb.yaml_cache import load_yaml_file

from .csv_layout import Layout
from .csv_moe_backend import campaign_matches

_FILE = Path(sloplan.model.__file__).parent / "catalog" / "expert_layout.yaml"


class LaunchLayout(str, Enum):
    """How a rule's roles ran (a rule's `layout`; expert parallel where it names none)."""

    EXPERT_PARALLEL = "expert_parallel"
    TENSOR_PARALLEL = "tensor_parallel"


@cache
def _rules() -> tuple[dict, ...]:
    """The catalog's rules, each `layout` read as a LaunchLayout (ValueError on another name)."""
    rules = (load_yaml_file(_FILE) or {}).get("rules") or ()
    return tuple({**r, "layout": LaunchLayout(r.get("layout", LaunchLayout.EXPERT_PARALLEL))} for r in rules)


def expert_layout(row: dict, role: str, layout: Layout) -> Layout:
    """`layout` of one disaggregated role ("prefill", "decode") as its campaign's launches ran it (module
    docstring), noted; unchanged where no rule covers the row and role."""
    if layout.dp <= 1 or (layout.moe_ep or 1) != 1:
        return layout
    rule = next((r for r in _rules() if role in r["roles"] and campaign_matches(r, row)), None)
    if rule is None:
        return layout
    width = layout.tp * layout.dp
    if rule["layout"] is LaunchLayout.TENSOR_PARALLEL:
        note = (f"{role}: tensor parallel over its {width} GPUs, attention and experts, as the {rule['image']} "
                f"launches ran it (attention DP {layout.dp} recorded; model/catalog/expert_layout.yaml)")
        return layout.remapped(note, tp=width, dp=1, moe_tp=width, moe_ep=1)
    note = (f"{role}: expert parallel over its {width} GPUs, as the {rule['image']} launches ran it "
            "(moe_ep_size 1 recorded; model/catalog/expert_layout.yaml)")
    return layout.remapped(note, moe_tp=1, moe_ep=width)
