"""How the `sloplan` command reports a failure: one line on stderr and the exit code (see EXIT_CODES in
sloplan/cli.py); click's usage errors rewritten in the project's `error: <field>: …; accepted: …` shape."""
from __future__ import annotations

import sys

from .errors import EXIT_INPUT, one_line, shown_path


def fail(code: int, message: str) -> None:
    print(f"error: {message}" if code == EXIT_INPUT else message, file=sys.stderr)
    sys.exit(code)



def named(exc: Exception) -> str:
    """A perfdb input error's message as `field: …` (a perf-table problem reads `perfdb: perf table …`)."""
    field, text = getattr(exc, "field", None), str(exc)
    return one_line(text if not field or text.startswith(f"{field}:") else f"{field}: {text}")


def _usage_field(exc) -> str:
    """What a click usage error is about, as the user typed it: the option (`--tp`), else the command line."""
    name = getattr(exc, "option_name", None)  # NoSuchOption, and click's "requires an argument"
    param = getattr(exc, "param", None)
    if not name and param is not None:
        name = max(getattr(param, "opts", None) or [param.name or ""], key=len)
    if not name and getattr(exc, "ctx", None) is not None:  # extra arguments: the command's positional one
        name = next((p.name for p in exc.ctx.command.params if p.param_type_name == "argument"), None)
    return name or "arguments"


def fail_usage(exc) -> None:
    """A click usage error in the project's shape: `error: --tp: …; accepted: …`, one bounded line."""
    field = _usage_field(exc)
    message = exc.format_message()
    if type(exc).__name__ == "NoSuchOption":
        near = ", ".join(sorted(getattr(exc, "possibilities", None) or ()))
        message = "no such option" + (f" (did you mean {near}?)" if near else "")
    for prefix in (f"Invalid value for '{field}': ", f"Option '{field}' "):
        message = message.removeprefix(prefix)
    message = message[:1].lower() + message[1:].rstrip(".")
    helped = f"{exc.ctx.command_path} --help" if getattr(exc, "ctx", None) else "sloplan --help"
    print(f"error: {shown_path(field, 60)}: {shown_path(message, 400)}; accepted: see {helped}", file=sys.stderr)
    sys.exit(EXIT_INPUT)
