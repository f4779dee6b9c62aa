"""Request: the one schema behind YAML files, CLI flags and the Python API (strict, frozen, validated once).

Its field types and error wording are sloplan/fields.py's (shared with estimate's arguments): every
refusal is one InputError, `field: what is wrong (got …); accepted: …`, whether the request came from a
file, flags, a dict or `Request(...)` itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sloplan.core.enums import Client
from sloplan.model.framework import Backend
from sloplan.model.option_table import ServingMode
from sloplan.model.quant import GemmQuant

from .errors import InputError, shown
from .robust_fields import Margin, Price
from .fields import (CLIENT_ACCEPTS, MAX_BATCH_SIZE, MAX_GPUS, MAX_NAME_CHARS, MAX_TOKENS, MODEL_ACCEPTS,
                     SYSTEM_ACCEPTS, VERSION_ACCEPTS, Int, ModelName, Ms, bounded, input_error, list_of, member,
                     members, prefix_below_isl, text)
from .solver_fields import SOLVER_ACCEPTS, Seconds, solver_installed


class Request(BaseModel):
    """What to plan: a model on a GPU type with a framework, a workload, SLOs and a GPU budget."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    model: ModelName = Field(description=MODEL_ACCEPTS)
    system: text(MAX_NAME_CHARS) = Field(description=SYSTEM_ACCEPTS)
    backend: member(Backend) = Field(Backend.TRTLLM, description=members(Backend))
    version: Optional[text(MAX_NAME_CHARS)] = Field(None, description=VERSION_ACCEPTS)
    isl: Int = bounded(4000, 1, MAX_TOKENS)
    osl: Int = bounded(1000, 2, MAX_TOKENS)
    prefix: Int = bounded(0, 0, None, " below isl")
    ttft_ms: Ms = None
    tpot_ms: Ms = None
    request_latency_ms: Ms = None
    total_gpus: Int = bounded(..., 1, MAX_GPUS)
    modes: list_of(ServingMode) = Field((ServingMode.AGG, ServingMode.STATIC),
                                        description=f"a non-empty list of {members(ServingMode)}")
    quantizations: Optional[list_of(GemmQuant)] = Field(None, description=f"a non-empty list of {members(GemmQuant)}")
    max_batch_size: Int = bounded(512, 1, MAX_BATCH_SIZE)
    client: member(Client) = Field(Client.SERVING, description=CLIENT_ACCEPTS)
    headroom: Margin = None  # plan for latencies (1+h) slower and, when sizing, load (1+h) higher
    min_slack: Margin = None  # keep only plans whose latencies may be that much underestimated
    gpu_price_per_hour: Price = None  # sizing: minimize cost per hour instead of GPUs
    solver: text(MAX_NAME_CHARS) = Field("highs", description=SOLVER_ACCEPTS)
    time_limit_s: Seconds = None

    def __init__(self, **data):
        """`sloplan.Request(...)` refuses bad fields as the files and flags do: one InputError."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise input_error(exc, Request) from None

    _prefix_below_isl = field_validator("prefix")(prefix_below_isl)
    _solver_installed = field_validator("solver")(solver_installed)

    @property
    def slo(self):
        """The SLOs in seconds as the solver takes them (a `sloplan.solver.Slo`; milliseconds exist only at
        this edge). The solver is imported here, not at the top, so `--help` does not load it."""
        from sloplan.solver import Slo

        def s(ms: float | None) -> float | None:
            return None if ms is None else ms / 1000.0

        return Slo(ttft_s=s(self.ttft_ms), tpot_s=s(self.tpot_ms), request_latency_s=s(self.request_latency_ms))

    @property
    def planning_slo(self):
        """The SLOs the solver plans against: the request's, tightened by `headroom` and `min_slack`
        (solver/slack.py explains why that keeps the front exact)."""
        from sloplan.solver.slack import robust_slo

        return robust_slo(self.slo, self.headroom, self.min_slack)


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
