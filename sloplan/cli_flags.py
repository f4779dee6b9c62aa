"""Flags as the commands read them: closed sets listed from their enums, defaults from the request schema,
comma lists checked, and the help texts several commands share."""
from __future__ import annotations

from enum import Enum
from typing import Optional

from sloplan.core.enums import Client

from .errors import InputError
from .request import Request


def enum_values(kind: type[Enum]) -> str:
    return ", ".join(m.value for m in kind)


def schema_default(field: str) -> str:
    """The request schema's default of a field, as a flag would spell it (the one source of defaults)."""
    value = Request.model_fields[field].default
    if isinstance(value, tuple):
        return ",".join(v.value for v in value)
    return value.value if isinstance(value, Enum) else str(value)


def csv_list(field: str, text: Optional[str], kind: type[Enum]) -> Optional[list[str]]:
    """A comma-list flag: absent → None (the file's value or the default); empty or with an empty item → an
    error naming the flag (silently ignoring `--modes ''` would plan what the user tried to exclude);
    repeated items → once each, in the user's order. The values themselves are the schema's to check."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        what = "item in the list" if any(items) else "list"
        raise InputError(field, f"empty {what} (got {text[:40]!r}); accepted: a comma list of "
                                f"{enum_values(kind)}")
    return list(dict.fromkeys(items))


def choice(field: str, value: Optional[str], kind: type[Enum]) -> None:
    if value is not None and value not in {m.value for m in kind}:
        raise InputError(field, f"accepted: {enum_values(kind)} (got {value[:40]!r})")


MODEL_HELP = ("HF id, catalog name (see `sloplan models`; other spellings resolve) or a local folder with "
              "config.json")
SYSTEM_HELP = "GPU system, e.g. h200_sxm (see `sloplan systems`)"
VERSION_HELP = "framework version of the perf data [default: the newest with data]"
CLIENT_HELP = (f"what drives the server: {enum_values(Client)}; serving = benchmark clients over an HTTP front "
               "(its fitted streaming limit applies), offline = a throughput run in the engine's process "
               "(trtllm-bench, vllm bench throughput: no such limit)")
MOE_HELP = ("MoE layers {what} ways, an integer ≥ 1; moe-tp × moe-ep = tp × dp (the other one is derived) "
            "[default: moe-tp = tp × dp, moe-ep = 1; dense models: 1]")

