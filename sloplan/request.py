"""Request: the one schema behind YAML files, CLI flags and the Python API (strict, frozen, validated once).

Strict means one meaning per value everywhere: numbers are numbers (a bool or a string never is), text is
text, lists are lists; every float is finite. Every refusal is one InputError, `field: what is wrong (got
…); accepted: …`, whether the request came from a file, flags, a dict or `Request(...)` itself.
"""
from __future__ import annotations

import numbers
import unicodedata
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import InputError, shown

MAX_MODEL_CHARS, MAX_PATH_PART_CHARS, MAX_NAME_CHARS = 1024, 255, 64
MAX_TOKENS, MAX_GPUS = 10_000_000, 1_000_000  # beyond any model's context / any cluster: refused, not overflowed
E = TypeVar("E", bound=Enum)


def members(enum: type[Enum]) -> str:
    return ", ".join(m.value for m in enum)


def int_range(minimum: int, maximum: int | None = None) -> str:
    """What an integer field accepts, as every message about one says it."""
    return f"an integer ≥ {minimum}" if maximum is None else f"an integer {minimum}..{maximum}"


POSITIVE_MS = "a finite number > 0 (milliseconds)"


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


def _text(max_chars: int):
    return Annotated[str, StringConstraints(min_length=1, max_length=max_chars), AfterValidator(_printable)]


def _unique(v: tuple) -> tuple:
    """`[agg, agg]` means agg once: repeated entries would double the work and the counts."""
    return tuple(dict.fromkeys(v))


def _int(default, minimum: int, maximum: int | None = None, extra: str = ""):
    return Field(default, ge=minimum, le=maximum, description=int_range(minimum, maximum) + extra)


def _member(enum: type[Enum]):
    """An enum field taking a member or its text value. Anything else is refused without pydantic's lax
    `Enum(value)`, which formats the value's full repr (seconds to forever for a deep or aliased list)."""
    def by_value(v):
        if isinstance(v, str):
            try:
                return enum(v)
            except ValueError:
                pass
        return v

    return Annotated[enum, BeforeValidator(by_value)]  # strict (the model is): a member, nothing else


def _list_of(enum: type[Enum]):
    return Annotated[tuple[_member(enum), ...], Field(min_length=1, strict=False), AfterValidator(_unique)]


Ms = Annotated[Optional[float], Field(gt=0, allow_inf_nan=False, description=POSITIVE_MS)]


class Request(BaseModel):
    """What to plan: a model on a GPU type with a framework, a workload, SLOs and a GPU budget."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: Annotated[_text(MAX_MODEL_CHARS), AfterValidator(_path_parts)] = Field(
        description=f"a catalog id (sloplan models) or a folder with config.json, at most {MAX_MODEL_CHARS} "
                    f"characters")
    system: _text(MAX_NAME_CHARS) = Field(description="a system name (sloplan systems)")
    backend: _member(Backend) = Field(Backend.TRTLLM, description=members(Backend))
    version: Optional[_text(MAX_NAME_CHARS)] = Field(None, description="text such as '1.3.0rc20' (quote it in YAML)")
    isl: int = _int(4000, 1, MAX_TOKENS)
    osl: int = _int(1000, 2, MAX_TOKENS)
    prefix: int = _int(0, 0, None, " below isl")
    ttft_ms: Ms = None
    tpot_ms: Ms = None
    request_latency_ms: Ms = None
    total_gpus: int = _int(..., 1, MAX_GPUS)
    modes: _list_of(ServingMode) = Field((ServingMode.AGG, ServingMode.STATIC),
                                         description=f"a non-empty list of {members(ServingMode)}")
    quantizations: Optional[_list_of(GemmQuant)] = Field(None, description=f"a non-empty list of {members(GemmQuant)}")
    max_batch_size: int = _int(512, 1, 4096)

    def __init__(self, **data):
        """`sloplan.Request(...)` refuses bad fields as the files and flags do: one InputError."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _input_error(exc) from None

    @field_validator("prefix")
    @classmethod
    def _prefix_below_isl(cls, v: int, info) -> int:
        isl = info.data.get("isl")
        if isl is not None and v >= isl:
            raise ValueError(f"must be smaller than isl ({isl})")
        return v


FIELDS = tuple(Request.model_fields)


def parse_request(data: object) -> Request:
    """Validate a mapping; any problem becomes one InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("request", f"expected a mapping of fields (got {shown(data)}); accepted: "
                                    f"{', '.join(FIELDS)}")
    for key in data:
        if not isinstance(key, str):
            raise InputError("request", f"field names must be text (got {shown(key)}); accepted: {', '.join(FIELDS)}")
    return Request(**data)


def load_request(path: str | Path) -> Request:
    """Read a YAML request file; unreadable, large, empty, binary, malformed, aliased, deep or repeated-key
    files are InputErrors (sloplan/safe_yaml.py)."""
    from .safe_yaml import load_yaml

    return parse_request(load_yaml(Path(path)))


_WRONG = {"int_type": "not an integer", "int_parsing": "not an integer", "int_from_float": "not an integer",
          "float_type": "not a number", "float_parsing": "not a number", "finite_number": "not a finite number",
          "string_type": "not text", "string_too_short": "empty", "too_short": "empty list",
          "tuple_type": "not a list", "enum": "unknown value", "is_instance_of": "unknown value",
          "string_unicode": "not valid Unicode text", "greater_than": "out of range",
          "greater_than_equal": "out of range", "less_than": "out of range", "less_than_equal": "out of range"}


def _input_error(exc: ValidationError) -> InputError:
    err = exc.errors()[0]
    loc = err["loc"]
    field = str(loc[0]) if loc else "request"
    kind = err["type"]
    if kind == "extra_forbidden":
        return InputError(field, f"unknown field; accepted: {', '.join(FIELDS)}")
    info = Request.model_fields.get(field)
    accepted = f"; accepted: {info.description}" if info is not None and info.description else ""
    if kind == "missing":
        return InputError(field, f"required field is missing{accepted}")
    if kind == "string_too_long":
        what = f"too long ({len(err['input'])} characters)"
    elif kind == "value_error":
        what = str(err["ctx"]["error"])
    else:
        what = _WRONG.get(kind) or err["msg"][:1].lower() + err["msg"][1:]
    where = f" at item {loc[1] + 1}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    return InputError(field, f"{what}{where} (got {shown(err.get('input'))}){accepted}")


# Validators for arguments that do not come through Request (sloplan.estimate's keywords), so they are
# refused in the same words.

def coerce_enum(field: str, value: object, enum: type[E]) -> E:
    """`value` as a member of `enum` (a member, or its text value), else InputError listing the members."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    raise InputError(field, f"unknown value (got {shown(value)}); accepted: {members(enum)}")


def bounded_int(field: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """`value` as an int within [minimum, maximum]; a bool, a float or a string is not an integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(field, f"not an integer (got {shown(value)}); accepted: {int_range(minimum, maximum)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise InputError(field, f"out of range (got {shown(value)}); accepted: {int_range(minimum, maximum)}")
    return int(value)


def positive_int(field: str, value: object) -> int:
    return bounded_int(field, value, 1)
