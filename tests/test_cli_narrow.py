"""Building only the invoked command (sloplan/cli_narrow.py) changes nothing a user sees: help, usage
errors and the top level print the same as with every command built, and the shared app is left whole."""
from __future__ import annotations

import pytest

from cli_helpers import cli_run
from sloplan import cli, cli_narrow

ARGVS = [("--help",), ("solve", "--help"), ("prove", "--help"), ("estimate", "--help"), ("size", "--help"),
         ("perfdb", "--help"), ("perfdb", "query", "--help"), ("solve", "--no-such-flag"), ("solv",), (),
         ("--version",), ("systems", "--bogus")]


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_same_output_as_the_whole_app(capsys, monkeypatch, argv):
    narrowed = cli_run(capsys, *argv)
    monkeypatch.setattr(cli, "narrowed", lambda app, _argv: app)
    assert narrowed == cli_run(capsys, *argv)


def test_only_the_named_command_is_kept_and_the_app_is_untouched():
    names = [cli_narrow._command_name(c) for c in cli.app.registered_commands]
    only = cli_narrow.narrowed(cli.app, ["solve", "x.yaml"])
    assert [cli_narrow._command_name(c) for c in only.registered_commands] == ["solve"]
    assert only.registered_groups == [] and only.registered_callback is cli.app.registered_callback
    group = cli_narrow.narrowed(cli.app, ["perfdb", "query"])
    assert group.registered_commands == [] and [g.name for g in group.registered_groups] == ["perfdb"]
    assert [cli_narrow._command_name(c) for c in cli.app.registered_commands] == names and len(names) > 1
    for argv in ([], ["--perfdb", "d", "solve"], ["nope"]):
        assert cli_narrow.narrowed(cli.app, argv) is cli.app
