"""The typer app the entry point runs: the whole app, or only the command the command line names.

Why: typer turns every registered command into a click command (each parameter's annotation read, its
click type and help built) before it parses anything, ~7 ms for sloplan's eight commands and the perfdb
group, of which a `sloplan solve` uses one. When the first argument is a command name, nothing before
it can be a global option (those come first, `sloplan --perfdb DIR solve ...`), so a copy of the app
holding that one command parses the same line the same way: the same callback runs, and usage lines,
help and errors name `sloplan <command>` as before. Any other first argument (an option, `--help`, an
unknown or misspelt name) gets the whole app, so the top-level help and "No such command" are unchanged.
"""
from __future__ import annotations

import copy

import typer
from typer.main import get_command_name


def narrowed(app: typer.Typer, argv: list[str]) -> typer.Typer:
    """`app`, or a shallow copy registering only the command or group named by `argv[0]` (the original is
    left as it is: tests and the API may invoke it again in the same process)."""
    if not argv:
        return app
    name = argv[0]
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _command_name(info) -> str:
    """The name typer gives a registered command: its explicit name, else its callback's, dashed."""
    return info.name or get_command_name(info.callback.__name__)
