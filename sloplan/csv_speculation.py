"""Speculative decoding a silicon_sample.csv row ran, from its own columns or its source note.

A `draft_tokens` column, where the file has one, says it for its row. Otherwise the data file
model/catalog/speculation.yaml names what no column records: benchmark configurations that ran MTP,
identified by the container image in the row's `silicon_data_source` (with the system, backend and
model they ran; for disaggregated rows, the benchmark database's configuration ids, one per speculative
method), and the MTP depth their launch script set with and without attention DP (a disaggregated row's
decode workers: `dp` is the decode attention DP). Anything else is taken as not speculating
(draft_tokens 0), as before.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import sloplan.model
from sloplan.perfdb.yaml_cache import load_yaml_file

_FILE = Path(sloplan.model.__file__).parent / "catalog" / "speculation.yaml"


@cache
def _rules() -> tuple[dict, ...]:
    return tuple((load_yaml_file(_FILE) or {}).get("rules") or ())


def _source_matches(rule: dict, note: str) -> bool:
    """The rule's image is the row's image (its tail: registries are written nvcr.io/ and nvcr.io#; a longer
    tag such as -amd64 is another image), measured on the rule's day where it names one (`measured_on`)
    and recorded under one of its benchmark-database configurations where it names them (`config_ids`);
    or, for a rule naming a source file instead, the note names it."""
    if "image" not in rule:
        return f"source_file={rule['source_file']}" in note
    parts = [part.strip() for part in note.split(";")]
    image, day = rule["image"], rule.get("measured_on")
    if day and not any(part.startswith(f"measured={day}") for part in parts):
        return False
    if "config_ids" in rule and not {f"config_id={i}" for i in rule["config_ids"]} & set(parts):
        return False
    images = [part.removeprefix("image=") for part in parts if "/" in part and ":" in part]  # as written
    return any(i.endswith(image) and i[:-len(image)][-1:] in ("", "/", "#") for i in images)


def _matches(rule: dict, row: dict) -> bool:
    """The rule's source, system, backend, model and (where it names them) recorded layout columns."""
    layout = rule.get("columns") or {}
    return (_source_matches(rule, row.get("silicon_data_source") or "")
            and all((row.get(c) or "").strip() == str(v) for c, v in layout.items())
            and (row.get("system") or "").strip() == rule["system"]
            and (row.get("backend") or "").strip() == rule["backend"]
            and rule["model_contains"] in (row.get("model_path") or ""))


def speculation(row: dict, dp: int, column: int | None) -> tuple[int, str]:
    """(draft tokens, layout note) of a row whose engine has `dp` attention-DP ranks; `column`: its
    `draft_tokens` column as read (None when the file has none or the cell is empty)."""
    if column is not None:
        return column, ""
    for rule in _rules():
        if _matches(rule, row):
            k = int(rule.get("draft_tokens_attention_dp", rule["draft_tokens"]) if dp > 1 else rule["draft_tokens"])
            what = rule.get("image") or rule["source_file"]
            return k, f"MTP with {k} draft tokens: the {what} runs (model/catalog/speculation.yaml)"
    return 0, ""
