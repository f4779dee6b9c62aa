"""The field types of sloplan's input schemas (a request, estimate's arguments) and the one way a
validation error becomes an InputError.

Strict means one meaning per value everywhere: numbers are numbers (a bool or a string never is; numpy
integers are integers), text is text, lists are lists, every float is finite. Each field's `description`
is what it accepts, so every refusal reads `field: what is wrong (got …); accepted: …`, whichever schema
or caller (file, flags, dict, Python keywords, CSV column) it came from.
"""
from __future__ import annotations

import operator
import unicodedata
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Optional

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints, ValidationError

from .errors import InputError, shown

MAX_MODEL_CHARS, MAX_PATH_PART_CHARS, MAX_NAME_CHARS = 1024, 255, 64
MAX_TOKENS, MAX_GPUS = 10_000_000, 1_000_000  # beyond any model's context / any cluster: refused, not overflowed
MAX_BATCH_SIZE = 4096


def members(enum: type[Enum]) -> str:
    return ", ".join(m.value for m in enum)


def int_range(minimum: int, maximum: int | None = None) -> str:
    """What an integer field accepts, as every message about one says it."""
    return f"an integer ≥ {minimum}" if maximum is None else f"an integer {minimum}..{maximum}"


def _printable(v: str) -> str:
    """Names end up in paths, commands and one-line messages: no control characters or line breaks."""
    bad = next((c for c in v if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    return v


def _path_parts(v: str) -> str:
    if max(len(part) for part in v.split("/")) > MAX_PATH_PART_CHARS:
        raise ValueError(f"a '/'-separated part is longer than {MAX_PATH_PART_CHARS} characters")
    return v


def text(max_chars: int):
    return Annotated[str, StringConstraints(min_length=1, max_length=max_chars), AfterValidator(_printable)]


ModelName = Annotated[text(MAX_MODEL_CHARS), AfterValidator(_path_parts)]
MODEL_ACCEPTS = (f"a catalog id (sloplan models) or a folder with config.json, at most {MAX_MODEL_CHARS} "
                 "characters")
SYSTEM_ACCEPTS = "a system name (sloplan systems)"
VERSION_ACCEPTS = "text such as '1.3.0rc20' (quote it in YAML), or none for the newest with data"
CLIENT_ACCEPTS = ("serving (an HTTP serving front streams the tokens: its fitted streaming limit applies) or "
                  "offline (a throughput run in the engine's process, e.g. trtllm-bench: no such limit)")


def _integer(v: object) -> object:
    """numpy integers are integers (arrays and CSV readers hand them out); nothing else is converted."""
    return operator.index(v) if isinstance(v, np.integer) else v


Int = Annotated[int, BeforeValidator(_integer)]


def bounded(default, minimum: int, maximum: int | None = None, extra: str = ""):
    """A strict integer field in [minimum, maximum] that says so when refused."""
    return Field(default, ge=minimum, le=maximum, description=int_range(minimum, maximum) + extra)


def member(enum: type[Enum]):
    """An enum field taking a member or its text value. Anything else is refused without pydantic's lax
    `Enum(value)`, which formats the value's full repr (seconds to forever for a deep or aliased list)."""
    def by_value(v):
        if isinstance(v, str):
            try:
                return enum(v)
            except ValueError:
                pass
        return v

    return Annotated[enum, BeforeValidator(by_value)]  # strict (the schemas are): a member, nothing else


def _unique(v: tuple) -> tuple:
    """`[agg, agg]` means agg once: repeated entries would double the work and the counts."""
    return tuple(dict.fromkeys(v))


def list_of(enum: type[Enum]):
    return Annotated[tuple[member(enum), ...], Field(min_length=1, strict=False), AfterValidator(_unique)]


Ms = Annotated[Optional[float], Field(gt=0, allow_inf_nan=False, description="a finite number > 0 (milliseconds)")]
BytesPerS = Annotated[Optional[float], Field(gt=0, allow_inf_nan=False, description=(
    "a finite number > 0 (bytes/s per GPU of the KV hand-off link), or none for the hardware catalog's"))]


_WRONG = {"int_type": "not an integer", "int_parsing": "not an integer", "int_from_float": "not an integer",
          "float_type": "not a number", "float_parsing": "not a number", "finite_number": "not a finite number",
          "string_type": "not text", "string_too_short": "empty", "too_short": "empty list",
          "tuple_type": "not a list", "enum": "unknown value", "is_instance_of": "unknown value",
          "string_unicode": "not valid Unicode text", "greater_than": "out of range",
          "greater_than_equal": "out of range", "less_than": "out of range", "less_than_equal": "out of range"}


def accepted(schema: type[BaseModel], field: str) -> str:
    info = schema.model_fields.get(field)
    return info.description if info is not None and info.description else ""


def input_error(exc: ValidationError, schema: type[BaseModel], names: Mapping[str, str] | None = None) -> InputError:
    """The first problem of `exc` as one InputError naming the field (or, through `names`, what the
    caller's input calls it: a CSV column) with what it accepts."""
    err = exc.errors(include_url=False)[0]
    loc = err["loc"]
    field = str(loc[0]) if loc else "request"
    label = (names or {}).get(field, field)
    label = label if label.isidentifier() and len(label) <= 40 else shown(label, 40)  # an odd key, quoted
    kind = err["type"]
    if kind == "extra_forbidden":
        return InputError(label, f"unknown field; accepted: {', '.join(schema.model_fields)}")
    what = accepted(schema, field)
    tail = f"; accepted: {what}" if what else ""
    if kind == "missing":
        return InputError(label, f"required field is missing{tail}")
    if kind == "string_too_long":
        problem = f"too long ({len(err['input'])} characters)"
    elif kind == "value_error":
        problem = str(err["ctx"]["error"])
    else:
        problem = _WRONG.get(kind) or err["msg"][:1].lower() + err["msg"][1:]
    where = f" at item {loc[1] + 1}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    return InputError(label, f"{problem}{where} (got {shown(err.get('input'))}){tail}")


def prefix_below_isl(v: int, info) -> int:
    """The prefix is part of the prompt: a whole cached prompt leaves nothing to prefill."""
    isl = info.data.get("isl")
    if isl is not None and v >= isl:
        raise ValueError(f"must be smaller than isl ({isl})")
    return v
