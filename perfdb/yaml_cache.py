"""Shipped YAML files parsed once per content: the parsed value kept as JSON in the cache folder.

Why: the model catalog (model/catalog/models.yaml, 26 KB of flow-style HF configs) costs ~20 ms to parse
through libyaml and PyYAML's constructor on every process start, the largest single step of a warm
quick-start solve after the imports; `json.loads` of the same value takes well under 1 ms. This is a
parse cache, not a result cache: the key is the file's bytes (sha1) with the PyYAML version, so an edited
file is parsed again, and the value is exactly what `load_yaml` returns (a value JSON would not give back
equal — non-string keys, dates, NaN — is never cached and is parsed every time).

Disposable like every cache file (perfdb/cache.py): written atomically, a file that does not decode is
parsed again and rewritten, an unwritable folder only costs the parse.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from . import cache
from .catalog import load_yaml


def load_yaml_file(path: Path) -> Any:
    """`load_yaml` of the file at `path`, from the parse cache when its bytes were parsed before."""
    data = Path(path).read_bytes()
    digest = hashlib.sha1(data + yaml.__version__.encode()).hexdigest()[:16]
    cached = cache.cache_dir() / "yaml" / f"{Path(path).stem}-{digest}.json"
    try:
        return json.loads(cached.read_bytes())
    except (OSError, ValueError):  # absent, or not JSON (damaged: rewritten below)
        pass
    value = load_yaml(data)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return value
    if json.loads(text) == value:
        cache.atomic_write(cached, lambda fh: fh.write(text.encode()))
    return value
