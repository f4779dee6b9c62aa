"""Field types of the robustness and sizing fields of a request: a fraction ("15%" or 0.15) and a price
per GPU-hour (one number, or one per system).

A fraction is written either way because operators say "15% headroom" and scripts pass 0.15; the
schema stores the number. Percent text is the only text accepted (anything else is refused as the
other strict fields refuse it: one InputError naming the field).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Optional, Union

from pydantic import BeforeValidator, Field

MAX_FRACTION = 100.0  # 10,000%: beyond any sensible margin, refused rather than planned for
FRACTION_ACCEPTS = f"a fraction ≥ 0 such as 0.15, or a percentage such as '15%' (at most {MAX_FRACTION:g})"
PRICE_ACCEPTS = "a price per GPU-hour > 0, or a mapping of system name to price (e.g. {h200_sxm: 3.5})"


def parse_fraction(value: object) -> object:
    """'15%' -> 0.15; a number stays as it is; anything else is left for the schema to refuse."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                number = float(text[:-1])
            except ValueError:
                return value
            return number / 100.0 if math.isfinite(number) else value
        try:  # a CLI flag arrives as text: "0.15"
            return float(text)
        except ValueError:
            return value
    return value


Margin = Annotated[Optional[float], BeforeValidator(parse_fraction),
                     Field(ge=0, le=MAX_FRACTION, allow_inf_nan=False, description=FRACTION_ACCEPTS)]

_Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Price = Annotated[Optional[Union[_Price, dict[str, _Price]]], Field(description=PRICE_ACCEPTS)]


def price_map(price: float | Mapping[str, float] | None, systems: tuple[str, ...]) -> dict[str, float] | None:
    """The price of each system's GPU-hour: one number prices every system alike; a mapping must name
    each system the plan may use (the caller turns a missing one into an InputError)."""
    if price is None:
        return None
    if isinstance(price, Mapping):
        return {s: float(price[s]) for s in systems if s in price}
    return {s: float(price) for s in systems}
