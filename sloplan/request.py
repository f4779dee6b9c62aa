"""Request: the one schema behind YAML files, CLI flags and the Python API (strict, frozen, validated once)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import InputError

PositiveInt = Annotated[int, Field(gt=0)]
PositiveMs = Annotated[float, Field(gt=0, strict=False)]


class Request(BaseModel):
    """What to plan: a model on a GPU type with a framework, a workload, SLOs and a GPU budget."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: str = Field(min_length=1)
    system: str = Field(min_length=1)
    backend: Annotated[Backend, Field(strict=False)] = Backend.TRTLLM
    version: Optional[str] = None
    isl: PositiveInt = 4000
    osl: Annotated[int, Field(ge=2)] = 1000
    prefix: Annotated[int, Field(ge=0)] = 0
    ttft_ms: Optional[PositiveMs] = None
    tpot_ms: Optional[PositiveMs] = None
    request_latency_ms: Optional[PositiveMs] = None
    total_gpus: PositiveInt
    modes: Annotated[tuple[Annotated[ServingMode, Field(strict=False)], ...], Field(min_length=1, strict=False)] = (
        ServingMode.AGG, ServingMode.STATIC)
    quantizations: Optional[Annotated[tuple[Annotated[GemmQuant, Field(strict=False)], ...], Field(min_length=1, strict=False)]] = None
    max_batch_size: Annotated[int, Field(gt=0, le=4096)] = 512

    @field_validator("prefix")
    @classmethod
    def _prefix_below_isl(cls, v: int, info) -> int:
        isl = info.data.get("isl")
        if isl is not None and v >= isl:
            raise ValueError(f"must be smaller than isl ({isl})")
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v):
        return None if v is None else str(v)


FIELDS = tuple(Request.model_fields)


def parse_request(data: object) -> Request:
    """Validate a mapping; any problem becomes one InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError("request", "expected a mapping of fields (model, system, total_gpus, ...)")
    try:
        return Request(**{k: v for k, v in data.items()})
    except ValidationError as exc:
        raise _input_error(exc) from None
    except TypeError as exc:
        raise InputError("request", f"field names must be text: {exc}") from None


def load_request(path: str | Path) -> Request:
    """Read a YAML request file; unreadable, empty, binary or malformed files are InputErrors."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise InputError("request", f"file not found: {p}")
    if not p.is_file():
        raise InputError("request", f"not a file: {p}")
    raw = p.read_bytes()
    if not raw.strip():
        raise InputError("request", f"file is empty: {p}")
    try:
        text = raw.decode("utf-8")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise InputError("request", f"not a text YAML file: {p}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError("request", f"malformed YAML{where} in {p}") from None
    return parse_request(data)


def _input_error(exc: ValidationError) -> InputError:
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err["loc"]) or "request"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return InputError(field, f"unknown field; accepted: {', '.join(FIELDS)}")
    if kind == "missing":
        return InputError(field, "required field is missing")
    if kind == "enum":
        accepted = ", ".join(str(x).strip("'") for x in err["ctx"]["expected"].replace(" or ", ", ").split(", "))
        return InputError(field.split(".")[0], f"accepted: {accepted} (got {err.get('input')!r})")
    return InputError(field.split(".")[0], f"{msg[0].lower()}{msg[1:]} (got {err.get('input')!r})")
