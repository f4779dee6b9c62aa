"""Reading the shipped YAML data files (systems, lane pins, model catalog, calibration) with libyaml.

PyYAML's pure-Python parser takes ~5 ms for a few-kB file, libyaml's well under 1 ms; both build the same
values (the C loader keeps the Python SafeConstructor and resolver, only the scanner and parser are C).
One definition, so every data read on the solve path takes the fast one. Request files are read by
sloplan/safe_yaml.py, which adds its own checks on the same C base.
"""
from __future__ import annotations

from typing import IO, Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML built without libyaml: the Python one


def load_yaml(source: str | bytes | IO) -> Any:
    """`yaml.safe_load`, through libyaml where PyYAML has it."""
    return yaml.load(source, Loader=SAFE_LOADER)
