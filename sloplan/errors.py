"""Errors the front door turns into exit codes (design.md, Contracts), and `shown`, the one way a message
echoes a user's value (bounded, one line), so no input can make an error long, multi-line or slow."""
from __future__ import annotations

import re
import reprlib

# characters that end a line for str.splitlines (or a terminal), and other controls or lone surrogates
_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
SHOWN_LIMIT = 60


def one_line(text: str) -> str:
    """Line breaks become spaces; other control characters (ANSI escapes, NUL) and lone surrogates (which
    stderr cannot encode) become visible escapes."""
    text = _BREAKS.sub(" ", text)
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def _bounded_repr(limit: int) -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset, r.maxfrozenset = 2, 4, 4, 4, 4, 4
    r.maxstring = r.maxother = r.maxlong = limit
    return r


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`value` as an error message quotes it: its repr, bounded in depth and width before it is built
    (an alias bomb or a 500-deep list costs nothing), one line, at most `limit` characters (… marks a cut)."""
    try:
        text = _bounded_repr(limit).repr(value)
    except Exception:  # a repr that fails (an int too long to print, a broken __repr__) still names the type
        text = f"<{type(value).__name__}>"
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_path(path: object, limit: int = 120) -> str:
    """A path as a message echoes it: unquoted, one line, at most `limit` characters."""
    text = one_line(str(path))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class InputError(ValueError):
    """Bad input: printed as one line naming the field and what is accepted; exit code 2.

    The message is made one line here, whatever the caller passes, so the one-line rule holds for every
    raiser (callers still bound the values they echo with `shown`)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(one_line(f"{field}: {message}"))


class Infeasible(Exception):
    """A valid request no deployment can meet; exit code 3 with the reason."""


EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3
EXIT_STOPPED = 4  # --time-limit ran out before any plan was found (not proved infeasible either)
