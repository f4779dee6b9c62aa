"""SafeYaml: reading a request file so that no file can cost more than its size, or mean two things.

A request is a small flat mapping, so the reader refuses, before building any value: files over
`MAX_FILE_BYTES`, aliases (the "billion laughs" expansion, and a request never needs them), nesting deeper
than `MAX_DEPTH`; while building: a key given twice in one mapping (YAML's last-one-wins would plan for a
value the user overrode by accident). Every refusal is one InputError naming `field` and the line.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import InputError, shown

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 16
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: same results, faster
_MERGE = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(_BASE):
    """The safe loader, refusing a mapping that names one key twice (at any depth). A repeated top-level
    key is a request field, so the error names it; deeper ones are the request's."""

    def construct_document(self, node):
        self._root = node
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: the base constructor refuses it
                    continue
                first.setdefault(key, line)
                if seen:
                    top = node is getattr(self, "_root", None) and isinstance(key, str) and key.isprintable()
                    field = key[:40] if top else "request"
                    raise InputError(field, f"duplicate key {shown(key)} (lines {first[key]} and {line}); "
                                            "accepted: each field once")
        return super().construct_mapping(node, deep)


def _check_events(text: str) -> None:
    """Aliases and depth, on the flat event stream (libyaml's parser is not recursive, so a deep file
    cannot overflow anything here), before the composer would follow either. A problem inside a
    top-level field's value names that field."""
    depth, at_key, field = 0, False, "request"
    for event in yaml.parse(text, Loader=_BASE):
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if depth == 1 and at_key:  # the top-level mapping's next key
            field = _field_name(event)
        if depth == 1 and isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent, yaml.AliasEvent)):
            at_key = not at_key
        if isinstance(event, yaml.AliasEvent):
            raise InputError(field, f"YAML alias *{shown(event.anchor, 30)[1:-1]} at line {line}: aliases are not "
                                    "accepted in a request; write the value out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth == 1:
                at_key = isinstance(event, yaml.MappingStartEvent)
            if depth > MAX_DEPTH:
                raise InputError(field, f"nested deeper than {MAX_DEPTH} levels at line {line}; accepted: a flat "
                                        "mapping of fields with scalar or list values")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _key_above(text: str, line: int) -> str | None:
    """The top-level key whose value holds line `line` (0-based) of a block-style file, if any."""
    for row in reversed(text.split("\n", line + 1)[: line + 1]):
        key = re.match(r"([A-Za-z_]\w{0,39})\s*:", row)
        if key:
            return key.group(1)
        if row[:1] not in (" ", "\t", "-", ""):
            return None
    return None


def _field_name(event) -> str:
    value = getattr(event, "value", None) if isinstance(event, yaml.ScalarEvent) else None
    return value if isinstance(value, str) and value.isidentifier() and len(value) <= 40 else "request"


def read_text(p: Path, field: str = "request") -> str:
    """The file's text: it exists, is a regular file, is at most MAX_FILE_BYTES, is UTF-8 without NULs,
    and is not blank."""
    try:
        if not p.exists():
            raise InputError(field, f"file not found: {shown(str(p), 200)}")
        if not p.is_file():
            raise InputError(field, f"not a file: {shown(str(p), 200)}")
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # a name too long, a NUL in the name, no permission
        if isinstance(exc, InputError):
            raise
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(field, f"cannot read {shown(str(p), 200)}: {shown(why, 80)[1:-1]}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(field, f"file is larger than {MAX_FILE_BYTES >> 20} MiB: {shown(str(p), 200)}; a request "
                                "is a few lines")
    if not raw.strip():
        raise InputError(field, f"file is empty: {shown(str(p), 200)}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise InputError(field, f"not a text YAML file: {shown(str(p), 200)} (expected UTF-8 text)")
    return text


def load_yaml(p: Path, field: str = "request") -> object:
    """The one YAML document in file `p`, within the bounds above."""
    text = read_text(p, field)
    try:
        _check_events(text)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if "nesting depth" in str(exc) and mark:  # libyaml's own depth limit, met while scanning ahead
            raise InputError(_key_above(text, mark.line) or field, f"nested deeper than {MAX_DEPTH} levels{where}; "
                                                                   "accepted: a flat mapping of fields with scalar "
                                                                   "or list values") from None
        raise InputError(field, f"malformed YAML{where} in {shown(str(p), 200)}") from None
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        # a scalar YAML resolves but Python cannot build (an integer of more than 4300 digits)
        raise InputError(field, f"a value in {shown(str(p), 200)} cannot be read: {str(exc)[:80]}") from None
