"""What every sloplan command prints through: a pipe whose reader may leave, a spinner, standard JSON.

A reader that closes the pipe early (`sloplan solve X | head -1`) is not an error: the command stops writing,
points stdout at /dev/null (so the interpreter's final flush cannot fail either) and exits with the code it
would have had anyway (sloplan/cli.py's module docstring says why).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import Optional
from collections.abc import Iterator


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Output to a pipe whose reader may close early: stop writing quietly (see the module docstring).
    The explicit flush makes a closed pipe show up here, not at interpreter exit."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def spinner(what: str):
    """A spinner on stderr while work runs (the first run on a system builds its table cache, a few seconds);
    nothing when stderr is not a terminal, so scripts and --json consumers see clean output."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _non_finite_path(doc, where: str = "") -> Optional[str]:
    if isinstance(doc, float) and not math.isfinite(doc):
        return f"{where or 'document'} = {doc}"
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_path(value, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip("."))
        if found:
            return found
    return None


def print_json(doc: dict) -> None:
    """Standard JSON only: a NaN or an infinity reaching the output is a bug upstream (exit 1 naming where),
    never written as the non-standard `NaN`/`Infinity` that strict parsers reject."""
    try:
        text = json.dumps(doc, indent=2, allow_nan=False)
    except ValueError:
        raise RuntimeError(f"non-finite value in the JSON output: {_non_finite_path(doc)}") from None
    print(text)
